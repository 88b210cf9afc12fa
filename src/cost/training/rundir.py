"""The run directory's safety rules: one process tree per directory, nothing destroyed early.

* ``RunLock``: an exclusive ``flock`` on ``<run>/run.lock``, held by rank zero for the run's
  life. The kernel drops it when the process dies, however it dies (``kill -9`` included), so
  a crashed run never leaves a stale lock; a second process stops at once and is told the
  holder's PID and host (written into the file).
* ``move_aside``: a fresh start keeps the previous run's files in ``<run>/previous-N/``.
* ``write_text_atomic``: a temporary file renamed over the target, so a reader (or a crash)
  never sees half a results.json or CSV.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
from pathlib import Path

LOCK_FILE = "run.lock"
PREVIOUS_PREFIX = "previous-"
# What a run writes in its directory (runner, module, coefficients, loggers). Only these move:
# a run directory pointed at a folder that holds anything else leaves the rest alone.
RUN_OUTPUTS = (
    "checkpoints",
    "csv",
    "wandb",
    "wandb_id.txt",
    "results.json",
    "coefficients.csv",
    "class_coefficients.csv",
    "coefficient_curves.csv",
    "figures",
)


class RunDirectoryInUse(RuntimeError):
    pass


class RunLock:
    """Exclusive lock on a run directory (see the module docstring)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise RunDirectoryInUse(
                f"run directory {self.path.parent} is in use by {holder} (lock file {self.path}). "
                f"Wait for that run to finish or stop it, or start this one under another name=<run name>."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def run_files(run_dir: Path) -> list[Path]:
    """What a previous run left in ``run_dir`` (Hydra's files, the lock and older runs stay)."""
    return [Path(run_dir) / name for name in RUN_OUTPUTS if (Path(run_dir) / name).exists()]


def move_aside(run_dir: Path) -> Path | None:
    """Move the previous run's files into ``<run>/previous-N/`` (N = 1, 2, ...); returns it."""
    files = run_files(run_dir)
    if not files:
        return None
    n = 1
    while (Path(run_dir) / f"{PREVIOUS_PREFIX}{n}").exists():
        n += 1
    target = Path(run_dir) / f"{PREVIOUS_PREFIX}{n}"
    target.mkdir()
    for p in files:
        os.replace(p, target / p.name)
    return target


def delete_previous(run_dir: Path) -> list[Path]:
    """``overwrite=true``: delete the previous run's files (the explicit opt-out of move_aside)."""
    files = run_files(run_dir)
    for p in files:
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return files


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a failed write (full disk) leaves nothing behind
