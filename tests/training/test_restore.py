"""What a run or an evaluation starts from: a resume after kill -9 loses no step and keeps the
lr schedule, an evaluation rebuilds the trained network and clips, and a corrupt or foreign
checkpoint is refused by name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from cost.results.coefficients import read_csv
from cost.training.runner import evaluate, train
from tests.helpers.training import (
    EVAL_PY,
    PYTHON,
    RUN_PY,
    TRAINED_WITH,
    eval_cfg,
    recipe_lr,
    small_split,
    subprocess_env,
    text_rows,
    train_cfg,
)


def _last_step(path: Path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])
    except Exception:  # noqa: BLE001 - not written yet (or, without atomic saves, half written)
        return -1


def _logged_steps(path: Path) -> list[int]:
    try:
        return [int(r["step"]) for r in text_rows(path)]
    except (FileNotFoundError, KeyError, ValueError):
        return []


def _kill_when(proc, last: Path, metrics: Path, min_ckpt_step: int, timeout: float = 400) -> tuple[int, int]:
    """SIGSTOP the run whenever last.ckpt is at >= min_ckpt_step and metrics.csv already holds
    steps after it; SIGKILL it in that state. Returns (checkpoint step, last logged step)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGSTOP)
        ckpt_step, logged = _last_step(last), max(_logged_steps(metrics), default=-1)
        if ckpt_step >= min_ckpt_step and logged > ckpt_step:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return ckpt_step, logged
        os.killpg(proc.pid, signal.SIGCONT)
    proc.kill()
    raise AssertionError(
        f"the run never reached a checkpoint >= {min_ckpt_step} with later steps logged "
        f"(rc {proc.poll()}): {proc.stderr.read().decode()[-3000:] if proc.stderr else ''}"
    )


@pytest.mark.slow
def test_kill_9_twice_then_resume_keeps_every_step_once_and_the_lr_schedule(data_dir, tmp_path):
    from cost.training.schedules import milestone_steps

    max_steps, warmup, lr = 24, 20, 0.1
    split = small_split(data_dir, "state_test4.txt", 4)
    args = [
        PYTHON,
        str(RUN_PY),
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path}",
        "name=crashy",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "callbacks.rich_progress=false",
        "logger=csv",
        "print_tables=false",
        f"trainer.max_steps={max_steps}",
        "trainer.val_check_interval=6",
        "callbacks.checkpoint_every_n_steps=4",
        "trainer.log_every_n_steps=1",
        f"optim.warmup_steps={warmup}",
        f"optim.lr={lr}",
        "optim.scale_lr=false",
        "trainer.limit_val_batches=1",
        "data.test_clips=1",
        f"data.test_split={split}",
        "data.batch_size=4",
    ]
    run_dir = tmp_path / "runs" / "crashy"
    last, metrics = run_dir / "checkpoints" / "last.ckpt", run_dir / "csv" / "metrics.csv"
    kills = []
    for min_ckpt_step in (4, 12):  # two different points: early, and after a resume
        proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=subprocess_env(), start_new_session=True
        )
        kills.append(_kill_when(proc, last, metrics, min_ckpt_step))
    assert kills[0][0] < kills[1][0] < max_steps, kills
    assert not (run_dir / "results.json").exists()

    done = subprocess.run(args, capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming run 'crashy'" in done.stdout + done.stderr
    rows = text_rows(metrics)
    steps = [int(r["step"]) for r in rows]
    assert len(steps) == len(set(steps)), f"duplicated steps: {sorted(steps)}"
    trained = sorted(int(r["step"]) for r in rows if r.get("train/loss"))
    assert trained == list(range(max_steps)), trained  # every step once, those before both crashes too
    milestones = milestone_steps([0.5, 0.75], max_steps)
    for r in rows:
        if r.get("lr"):
            expected = recipe_lr(int(r["step"]), lr, milestones, warmup, 0.1)
            assert float(r["lr"]) == pytest.approx(expected, rel=1e-9), (r["step"], r["lr"], expected)
    assert len([r for r in rows if r.get("lr")]) == max_steps
    assert sum(1 for r in rows if r.get("val/top1")) == max_steps // 6
    curves = read_csv(run_dir / "coefficient_curves.csv")
    assert sorted({int(r["step"]) for r in curves}) == [6, 12, 18, 24] and len(curves) == 4 * 12
    first = json.loads((run_dir / "results.json").read_text())
    assert first["global_step"] == max_steps and "val_top1" in first
    assert "weights_only` was not set" not in done.stdout + done.stderr  # every save and restore says which

    # Rerunning the finished run only re-tests it: every field stays but the session's times, the history too.
    again = subprocess.run(args, capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads((run_dir / "results.json").read_text())
    session = {"started", "finished", "wall_time_s"}
    assert set(first) <= set(second) and {k: second[k] for k in first if k not in session} == {
        k: v for k, v in first.items() if k not in session
    }
    assert sorted(int(r["step"]) for r in text_rows(metrics) if r.get("train/loss")) == list(range(max_steps))


def test_eval_rebuilds_the_trained_network_and_clips(tiny_run, data_dir, tmp_path):
    out, rec, split = tiny_run
    res = evaluate(eval_cfg(data_dir, tmp_path, rec["checkpoint"], split))
    assert res["top1"] == rec["top1"] and res["num_views"] == rec["num_views"]
    ours = read_csv(tmp_path / "coefficients.csv")
    trained = read_csv(out / "coefficients.csv")
    for a, b in zip(ours, trained, strict=True):  # same network, same clips: the same coefficients
        assert float(a["mean"]) == pytest.approx(float(b["mean"]), abs=1e-6)


@pytest.mark.slow
def test_eval_refuses_a_conflicting_model_override(tiny_run, data_dir, tmp_path):
    _, rec, _ = tiny_run
    p = subprocess.run(
        [
            PYTHON,
            str(EVAL_PY),
            f"ckpt_path={rec['checkpoint']}",
            f"paths.data_dir={data_dir}",
            f"hydra.run.dir={tmp_path}",
            "model.pool1_kernel=[3,3,3]",
            "frames=32",
            "data.test_clips=3",
            "logger=none",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert p.returncode != 0
    assert "model.pool1_kernel=[3, 3, 3] (the checkpoint was trained with [1, 3, 3])" in p.stderr, p.stderr[-2000:]
    assert "frames.num_frames=32 (the checkpoint was trained with 8)" in p.stderr
    assert not (tmp_path / "results.json").exists()


def test_corrupt_last_ckpt_names_the_file_and_the_way_out(tiny_run, data_dir, tmp_path):
    out, _, split = tiny_run
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    data = (out / "checkpoints" / "last.ckpt").read_bytes()
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as err:
        train(train_cfg(data_dir, tmp_path, *TRAINED_WITH, "debug=short", "resume=auto", f"data.test_split={split}"))
    message = str(err.value)
    assert str(run_dir / "checkpoints" / "last.ckpt") in message and "resume=false" in message, message


def test_resume_from_another_network_is_refused(tiny_run, data_dir, tmp_path):
    out, _, split = tiny_run
    with pytest.raises(ValueError, match=r"model\.pool1_kernel=\[3, 3, 3\] \(checkpoint: \[1, 3, 3\]\)"):
        train(
            train_cfg(
                data_dir,
                tmp_path,
                "debug=short",
                f"resume={out / 'checkpoints' / 'last.ckpt'}",
                f"data.test_split={split}",
            )
        )
