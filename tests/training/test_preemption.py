"""Preemption and kills never lose work or lie (issue 21): SIGTERM / SIGUSR1 save last.ckpt at
the step and exit 143; a kill during a validation on a checkpoint step keeps that validation;
failed atomic writes leave no temporary file. Real runs of src/run.py, real signals, kill -9
and a real full file system."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch

from cost.training.callbacks import SIGNAL_EXIT_CODE
from cost.training.coefficients import read_csv
from training_helpers import PYTHON, RUN_PY, subprocess_env, text_rows

CLOCK = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "  # the local time starting every plain progress line


def _args(data_dir: Path, logs: Path, name: str, *extra: str) -> list[str]:
    root = data_dir / "synthetic"
    (root / "preempt_test4.txt").write_text("\n".join((root / "test.txt").read_text().splitlines()[:4]) + "\n")
    return [
        PYTHON,
        str(RUN_PY),
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={logs}",
        f"name={name}",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "callbacks.rich_progress=false",
        "callbacks.plain_progress=true",
        "callbacks.progress_every_n_steps=1",
        "logger=csv",
        "print_tables=false",
        "trainer.log_every_n_steps=1",
        "data.test_clips=1",
        "data.test_split=preempt_test4.txt",
        "data.batch_size=4",
        *extra,
    ]


class Run:
    """A real ``src/run.py`` process whose output lines are read as they come."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=subprocess_env(),
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self._new.put(line)

    def wait_for(self, pattern: str, timeout: float = 400) -> re.Match:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self._new.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if m := re.match(pattern, line):
                return m
        self.proc.kill()
        raise AssertionError(f"no line {pattern!r} (rc {self.proc.poll()}):\n{''.join(self.lines)[-4000:]}")

    def signal(self, signum: int) -> None:
        os.killpg(self.proc.pid, signum)

    def finish(self, timeout: float = 600) -> int:
        rc = self.proc.wait(timeout=timeout)
        time.sleep(0.2)  # the reader thread takes the last lines
        return rc

    @property
    def output(self) -> str:
        return "".join(self.lines)


def _ckpt_step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


def _trained_steps(metrics: Path) -> list[int]:
    return sorted(int(r["step"]) for r in text_rows(metrics) if r.get("train/loss"))


# ---------------------------------------------------------------- 1. SIGTERM / SIGUSR1
@pytest.mark.slow
def test_sigterm_and_sigusr1_save_last_ckpt_at_the_step_exit_143_and_the_rerun_resumes(data_dir, tmp_path):
    max_steps = 40
    # No periodic checkpoint and no validation before the end: whatever last.ckpt holds was
    # written at the signal.
    args = _args(
        data_dir,
        tmp_path,
        "preempted",
        f"trainer.max_steps={max_steps}",
        "trainer.val_check_interval=40",
        "callbacks.checkpoint_every_n_steps=40",
        "trainer.limit_val_batches=1",
    )
    run_dir = tmp_path / "runs" / "preempted"
    last, metrics = run_dir / "checkpoints" / "last.ckpt", run_dir / "csv" / "metrics.csv"

    stops = []
    for signum, at in ((signal.SIGTERM, 8), (signal.SIGUSR1, 20)):
        run = Run(args)
        seen = int(run.wait_for(rf"{CLOCK}step ({at}|{at + 1}|{at + 2})/{max_steps} ")[1])
        run.signal(signum)
        rc = run.finish()
        assert rc == SIGNAL_EXIT_CODE, f"{signum!r}: rc {rc}\n{run.output[-3000:]}"
        step = _ckpt_step(last)
        assert seen <= step < max_steps, (signum, seen, step)
        assert f"saved {last} at step {step}" in run.output and "exit code 143" in run.output
        assert not (run_dir / "results.json").exists()
        # The metric rows of every step up to the checkpoint are on disk (0-based rows).
        assert _trained_steps(metrics) == list(range(step)), (step, _trained_steps(metrics))
        if stops:
            assert f"step {stops[-1] + 1}/{max_steps} " in run.output  # resumed where the signal left it
        stops.append(step)
        print(f"{signum!r}: progress line of step {seen} seen, last.ckpt at step {step}, exit code {rc}")

    done = Run(args)
    assert done.finish() == 0, done.output[-3000:]
    assert f"resuming run 'preempted' from {last}" in done.output
    assert re.search(rf"^{CLOCK}step {stops[-1] + 1}/{max_steps} ", done.output, re.M), done.output[-3000:]
    assert not re.search(rf"^{CLOCK}step {stops[-1]}/{max_steps} ", done.output, re.M)  # nothing redone
    assert json.loads((run_dir / "results.json").read_text())["global_step"] == max_steps
    assert _trained_steps(metrics) == list(range(max_steps))


# ---------------------------------------------------------------- 2. no lost validation
@pytest.mark.slow
def test_kill_9_during_a_validation_on_a_checkpoint_step_keeps_that_validation(data_dir, tmp_path):
    max_steps, every = 12, 6  # validation and last.ckpt both every 6 steps
    args = _args(
        data_dir,
        tmp_path,
        "killed_in_val",
        f"trainer.max_steps={max_steps}",
        f"trainer.val_check_interval={every}",
        f"callbacks.checkpoint_every_n_steps={every}",
        "data.val_batch_size=1",  # 96 validation batches: time to stop the process inside them
    )
    run_dir = tmp_path / "runs" / "killed_in_val"
    run = Run(args)
    run.wait_for(rf"{CLOCK}validation batch 1/")  # inside the validation of step 6
    run.signal(signal.SIGSTOP)
    time.sleep(0.3)
    over = [line for line in run.lines if re.match(rf"{CLOCK}validation at step {every}", line)]
    assert not over, "validation already over"
    curves = run_dir / "coefficient_curves.csv"
    assert not curves.exists() or not read_csv(curves)
    run.signal(signal.SIGKILL)
    run.finish()

    done = Run(args)
    assert done.finish() == 0, done.output[-3000:]
    rows = text_rows(run_dir / "csv" / "metrics.csv")
    validated = [int(r["step"]) for r in rows if r.get("val/top1")]
    # Lightning logs the validation of optimizer step 6 at row 5 (rows are 0-based).
    assert validated == [every - 1, max_steps - 1], validated
    curve_steps = [int(r["step"]) for r in read_csv(curves)]
    layers = len(set((r["layer"], r["view"]) for r in read_csv(curves)))
    assert sorted(set(curve_steps)) == [every, max_steps] and len(curve_steps) == 2 * layers, curve_steps
    assert _trained_steps(run_dir / "csv" / "metrics.csv") == list(range(max_steps))


@pytest.mark.slow
def test_sigterm_during_a_validation_keeps_the_previous_last_ckpt_and_the_rerun_validates(data_dir, tmp_path):
    max_steps = 12
    args = _args(
        data_dir,
        tmp_path,
        "term_in_val",
        f"trainer.max_steps={max_steps}",
        "trainer.val_check_interval=6",
        "callbacks.checkpoint_every_n_steps=3",
        "data.val_batch_size=1",  # 96 validation batches: the signal lands long before their end
    )
    run_dir = tmp_path / "runs" / "term_in_val"
    run = Run(args)
    run.wait_for(rf"{CLOCK}validation batch 1/")  # inside the validation of step 6
    run.signal(signal.SIGTERM)
    assert run.finish() == SIGNAL_EXIT_CODE, run.output[-3000:]
    assert not any(re.match(rf"{CLOCK}validation at step 6", line) for line in run.lines), "validation already over"
    assert "stopped at step 6 before its validation finished; last.ckpt is kept as it was" in run.output
    assert _ckpt_step(run_dir / "checkpoints" / "last.ckpt") == 3

    done = Run(args)
    assert done.finish() == 0, done.output[-3000:]
    rows = text_rows(run_dir / "csv" / "metrics.csv")
    assert [int(r["step"]) for r in rows if r.get("val/top1")] == [5, max_steps - 1]
    curves = read_csv(run_dir / "coefficient_curves.csv")
    layers = len(set((r["layer"], r["view"]) for r in curves))
    assert sorted(int(r["step"]) for r in curves) == [6] * layers + [max_steps] * layers


# ---------------------------------------------------------------- 3. atomic writes clean up
@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MiB file system (tmpfs) for the run directory; /tmp, where Lightning writes a
    checkpoint first, is another one, as on a cluster. Needs the right to mount (root)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_a_checkpoint_write_on_a_full_disk_leaves_no_temporary_and_the_old_file_intact(small_disk):
    from cost.training.trainer import AtomicCheckpointIO

    path = small_disk / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 4}, path)
    with pytest.raises(OSError, match="No space left on device"):
        io.save_checkpoint({"global_step": 8, "weights": torch.zeros(1 << 22)}, path)  # 16 MiB
    assert _ckpt_step(path) == 4
    assert sorted(p.name for p in small_disk.iterdir()) == ["last.ckpt"]  # no .last.ckpt.<pid>.tmp


def test_a_failed_checkpoint_rename_leaves_no_temporary(tmp_path):
    from cost.training.trainer import AtomicCheckpointIO

    (tmp_path / "last.ckpt").mkdir()  # a directory in the way: the rename fails
    (tmp_path / "last.ckpt" / "kept").write_text("x")
    with pytest.raises(IsADirectoryError):
        AtomicCheckpointIO().save_checkpoint({"global_step": 8}, tmp_path / "last.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert (tmp_path / "last.ckpt" / "kept").read_text() == "x"


def test_a_failed_text_write_leaves_no_temporary_and_the_old_file_intact(tmp_path):
    from cost.training.rundir import write_text_atomic

    path = tmp_path / "results.json"
    write_text_atomic(path, '{"top1": 1}\n')
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, '{"top1": "' + "x" * 100_000 + '\udc80"}\n')  # fails after the file is made
    assert path.read_text() == '{"top1": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
