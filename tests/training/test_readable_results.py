"""Results people read and logs worth reading (issue 25): class names beside the indices, a
confusion matrix per test (CSV, figure, W&B), and piped progress lines with the clock time,
validation and test progress, the data-wait share and throughput logged as scalars."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta

import pytest

from cost.training.rundir import RUN_OUTPUTS
from training_helpers import PYTHON, RUN_PY, subprocess_env, text_rows

NAME = "cost_b_rtiny_synthetic_f8"
CLOCK = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) "


@pytest.fixture(scope="module")
def piped(data_dir, tmp_path_factory):
    """One real run.py process with stdout to a pipe (as in a SLURM log): 4 steps, W&B offline + CSV,
    the whole test split (96 videos, 8 a batch: 12 test batches), progress every 2 steps/batches."""
    logs = tmp_path_factory.mktemp("piped")
    started = datetime.now().replace(microsecond=0)
    p = subprocess.run(
        [
            PYTHON,
            str(RUN_PY),
            f"paths.data_dir={data_dir}",
            f"paths.log_dir={logs}",
            "data.num_workers=0",
            "trainer.accelerator=cpu",
            "print_tables=false",
            "logger=wandb",
            "trainer.max_steps=4",
            "trainer.val_check_interval=4",
            "trainer.limit_val_batches=2",
            "callbacks.checkpoint_every_n_steps=4",
            "callbacks.progress_every_n_steps=2",
            "trainer.log_every_n_steps=2",
            "data.test_clips=1",
        ],
        capture_output=True,  # stdout is a pipe: plain progress lines (callbacks.plain_progress=auto)
        text=True,
        env=subprocess_env(),
        timeout=900,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout, logs / "runs" / NAME, started, datetime.now()


def _classes(data_dir) -> list[str]:
    return (data_dir / "synthetic" / "classes.txt").read_text().split()


@pytest.mark.slow
def test_piped_progress_lines_start_with_the_clock_and_cover_the_test(piped):
    stdout, _, started, ended = piped
    train = re.findall(
        CLOCK + r"step (\d)/4 \| loss \d+\.\d{4} \| top-1 \d+\.\d% \| (\d+\.\d) clips/s \| data wait (\d+)% "
        r"\| lr \S+ \| ETA \d\d:\d\d:\d\d\n",
        stdout,
    )
    assert [int(step) for _, step, _, _ in train] == [2, 4], stdout
    assert all(float(rate) > 0 and 0 <= int(wait) <= 100 for _, _, rate, wait in train)
    assert "GPU mem" not in stdout  # CPU: no GPU memory
    assert re.search(CLOCK + r"validation batch 2/2 \| 32 videos \| \d+\.\d clips/s \| ETA", stdout), stdout
    assert re.search(CLOCK + r"validation at step 4 \| top-1", stdout)
    assert re.search(CLOCK + r"test: 12 batches\n", stdout)
    eta = r"ETA \d\d:\d\d:\d\d\n"
    tested = re.findall(CLOCK + r"test batch (\d+)/12 \| (\d+) videos \| \d+\.\d clips/s \| " + eta, stdout)
    assert [(int(b), int(v)) for _, b, v in tested] == [(b, 8 * b) for b in (2, 4, 6, 8, 10, 12)], stdout
    done = re.findall(CLOCK + r"test done: 96 videos, 96 clips in \d\d:\d\d:\d\d\n", stdout)
    assert len(done) == 1
    # real local clock times, in order, within the process's life
    times = [datetime.strptime(t, "%Y-%m-%d %H:%M:%S") for t, *_ in train + tested] + [
        datetime.strptime(done[0], "%Y-%m-%d %H:%M:%S")
    ]
    assert started <= times[0] and times == sorted(times) and times[-1] <= ended + timedelta(seconds=1)


@pytest.mark.slow
def test_throughput_and_data_wait_reach_every_logger(piped):
    _, run_dir, _, _ = piped
    rows = text_rows(run_dir / "csv" / "metrics.csv")
    speed = [r for r in rows if r.get("train/clips_per_sec")]
    # at the rows of steps 2 and 4's train/loss (metrics.csv counts steps from 0)
    assert [int(r["step"]) for r in speed] == [1, 3]
    assert [int(r["step"]) for r in rows if r.get("train/loss")] == [1, 3]
    assert all(float(r["train/clips_per_sec"]) > 0 and 0 <= float(r["train/data_wait"]) < 1 for r in speed)
    wandb = b"".join(p.read_bytes() for p in (run_dir / "wandb").glob("offline-run-*/*.wandb"))
    assert b"train/clips_per_sec" in wandb and b"train/data_wait" in wandb


@pytest.mark.slow
def test_predictions_name_their_classes_beside_the_indices(piped, data_dir):
    _, run_dir, _, _ = piped
    names = _classes(data_dir)
    rows = text_rows(run_dir / "predictions.csv")
    old = ["video", "label", *(f"class_{i}" for i in range(1, 6)), *(f"score_{i}" for i in range(1, 6)), "views"]
    assert list(rows[0]) == [*old, "label_name", *(f"name_{i}" for i in range(1, 6))]  # readers' columns first
    for r in rows:
        assert r["label_name"] == names[int(r["label"])]
        assert [r[f"name_{i}"] for i in range(1, 6)] == [names[int(r[f"class_{i}"])] for i in range(1, 6)]


@pytest.mark.slow
def test_every_test_writes_a_confusion_matrix(piped, data_dir):
    import json

    _, run_dir, _, _ = piped
    names = _classes(data_dir)
    rows = text_rows(run_dir / "confusion.csv")
    assert list(rows[0]) == ["true", *names] and [r["true"] for r in rows] == names
    matrix = [[int(r[n]) for n in names] for r in rows]
    record = json.loads((run_dir / "results.json").read_text())
    assert sum(map(sum, matrix)) == record["num_videos"] == 96
    assert round(100 * sum(matrix[i][i] for i in range(16)) / 96, 4) == record["top1"]
    predictions = text_rows(run_dir / "predictions.csv")
    for i in range(16):  # row i: class i's videos by their top-1 class, as predictions.csv says
        for j in range(16):
            assert matrix[i][j] == sum(r["label"] == str(i) and r["class_1"] == str(j) for r in predictions)
    assert (run_dir / "figures" / "confusion.png").stat().st_size > 1000
    wandb = b"".join(p.read_bytes() for p in (run_dir / "wandb").glob("offline-run-*/*.wandb"))
    assert b"test/confusion" in wandb and b"test/confusion_matrix" in wandb
    assert "confusion.csv" in RUN_OUTPUTS  # a fresh start moves it aside with the rest


def test_throughput_is_logged_whatever_the_console_shows(tmp_path):
    """A live bar (a terminal) or plain lines: the speed monitor is there either way."""
    from cost.training.callbacks import build_callbacks
    from cost.training.progress import PlainProgress, SpeedMonitor
    from training_helpers import compose_cfg

    for plain, shown in (("true", PlainProgress), ("false", SpeedMonitor)):
        cfg = compose_cfg([f"paths.output_dir={tmp_path}", f"callbacks.plain_progress={plain}"])
        monitors = [c for c in build_callbacks(cfg, tmp_path) if isinstance(c, SpeedMonitor)]
        assert [type(c) for c in monitors] == [shown] and monitors[0].every == cfg.trainer.log_every_n_steps
