"""The run directory's safety rules: one process tree per directory, nothing destroyed early.

* ``RunLock``: an exclusive ``flock`` on ``<run>/run.lock``, held by rank zero for the run's
  life. The kernel drops it when the process dies, however it dies (``kill -9`` included), so
  a crashed run never leaves a stale lock; a second process stops at once and is told the
  holder's PID and host (written into the file).
* ``move_aside``: a fresh start keeps the previous run's files in ``<run>/previous-N/``.
  It (and ``delete_previous``) touches files only in a directory that resolves to a place
  inside the runs directory, whatever the name or a symlink says.
* ``write_text_atomic``: a temporary file renamed over the target, so a reader (or a crash)
  never sees half a results.json or CSV.
* ``save_config``: the run's own ``config.yaml`` and ``.hydra/``, written only once the lock is
  held and the config checks passed (Hydra's own ``.hydra/`` is off: conf/hydra/default.yaml).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
from fnmatch import fnmatch
from pathlib import Path

LOCK_FILE = "run.lock"
PREVIOUS_PREFIX = "previous-"
CONFIG_FILE = "config.yaml"
# Hydra's job logs (run.py, eval.py, and the other DDP ranks' that Lightning starts): open in
# this process already, in append mode.
LOG_FILES = ("run.log", "eval.log", "train_ddp_process_*.log")
# Everything a run or an evaluation writes in its directory: save_config, Hydra's job log
# (<job>.log), callbacks, loggers, outputs, predictions, report. Only these move: a run
# directory pointed at a folder that holds anything else leaves the rest alone.
# (tests/training/test_identity.py checks that a real run writes nothing else.)
RUN_OUTPUTS = (
    CONFIG_FILE,
    ".hydra",
    *LOG_FILES,
    "checkpoints",
    "csv",
    "wandb",
    "wandb_id.txt",
    "results.json",
    "predictions.csv",
    "class_accuracy.csv",
    "confusion.csv",
    "coefficients.csv",
    "class_coefficients.csv",
    "class_layer_coefficients.csv",
    "coefficient_curves.csv",
    "figures",
    "analysis",  # python -m cost.analysis views: it belongs to this run's checkpoints
)


class RunDirectoryInUse(RuntimeError):
    pass


class RunDirectoryOutside(RuntimeError):
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
    """What a previous run left in ``run_dir`` (the lock and older runs stay). A log file alone
    is not a run: it is this process's own new log (or one of a command that stopped early)."""
    files = [p for name in RUN_OUTPUTS for p in sorted(Path(run_dir).glob(name))]
    return files if any(not any(fnmatch(p.name, log) for log in LOG_FILES) for p in files) else []


def _previous_files(run_dir: Path, runs_root: Path) -> list[Path]:
    """``run_files``, refused when there are some and ``run_dir`` (symlinks followed) is not
    inside ``runs_root``: a fresh start never moves or deletes a folder outside the runs."""
    files = run_files(run_dir)
    real, root = Path(run_dir).resolve(), Path(runs_root).resolve()
    if files and root not in real.parents:
        raise RunDirectoryOutside(
            f"run directory {run_dir} is {real}, not inside the runs directory {root}: a fresh start "
            f"moves or deletes earlier runs' files only there, and {', '.join(p.name for p in files)} stay. "
            f"Start it under a plain name=<run name> (one folder name under paths.log_dir/runs) "
            f"and leave paths.output_dir to Hydra."
        )
    return files


def move_aside(run_dir: Path, runs_root: Path) -> Path | None:
    """Move the previous run's files into ``<run>/previous-N/`` (N = 1, 2, ...); returns it."""
    files = _previous_files(run_dir, runs_root)
    if not files:
        return None
    n = 1
    while (Path(run_dir) / f"{PREVIOUS_PREFIX}{n}").exists():
        n += 1
    target = Path(run_dir) / f"{PREVIOUS_PREFIX}{n}"
    target.mkdir()
    for p in files:
        os.replace(p, target / p.name)
    _reopen_log_files(files)
    return target


def delete_previous(run_dir: Path, runs_root: Path) -> list[Path]:
    """``overwrite=true``: delete the previous run's files (the explicit opt-out of move_aside)."""
    files = _previous_files(run_dir, runs_root)
    for p in files:
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    _reopen_log_files(files)
    return files


def _reopen_log_files(moved: list[Path]) -> None:
    """This process's log file (Hydra's <job>.log) moved with the old run's files: reopen it at
    its path, so that the new run's log starts there, not in previous-N/."""
    moved = {os.path.abspath(p) for p in moved}
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename in moved:
            old = handler.setStream(open(handler.baseFilename, handler.mode, encoding=handler.encoding))  # noqa: SIM115 - the handler owns it
            if old is not None:
                old.close()


def save_config(cfg, run_dir: Path) -> None:
    """``config.yaml`` (the resolved config: what a resume is compared with, restore.py) and
    ``.hydra/`` (Hydra's composed config, overrides and its own settings, as Hydra writes them)."""
    from omegaconf import OmegaConf

    run_dir = Path(run_dir)
    write_text_atomic(run_dir / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))
    write_text_atomic(run_dir / ".hydra" / "config.yaml", OmegaConf.to_yaml(cfg))
    try:
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
    except ValueError:  # not under Hydra (a test calling train directly): the config is all there is
        return
    write_text_atomic(run_dir / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(list(hydra_cfg.overrides.task)))
    write_text_atomic(run_dir / ".hydra" / "hydra.yaml", OmegaConf.to_yaml({"hydra": hydra_cfg}))


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a failed write (full disk) leaves nothing behind
