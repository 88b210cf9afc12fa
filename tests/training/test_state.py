"""A run's state is safe: weights-only checkpoints, lossless resume, nothing destroyed early,
one process per run directory, isolated debug runs, evaluation of the trained network, early
errors, and the two end-of-run count-check crashes (issue 11)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from cost.training.coefficients import read_csv
from cost.training.runner import evaluate, train
from training_helpers import (
    EVAL_PY,
    PYTHON,
    RUN_PY,
    compose_cfg,
    recipe_lr,
    run_overrides,
    subprocess_env,
    text_rows,
)

# The tiny run every test here starts from: a network and clip settings that differ from the
# config defaults (pool1_kernel, frame_stride, test_short_side), so evaluating anything else
# would show.
TRAINED_WITH = ["model.pool1_kernel=[1,3,3]", "data.frame_stride=2", "data.test_short_side=40"]


def _small_split(data_dir: Path, name: str, n: int, extra: tuple[str, ...] = ()) -> str:
    root = data_dir / "synthetic"
    lines = (root / "test.txt").read_text().splitlines()[:n]
    (root / name).write_text("\n".join([*lines, *extra]) + "\n")
    return name


@pytest.fixture(scope="module")
def tiny_run(data_dir, tmp_path_factory):
    """Two real optimizer steps; the run dir holds best.ckpt, last.ckpt, results.json."""
    logs = tmp_path_factory.mktemp("tiny")
    out = logs / "runs" / "tiny"
    split = _small_split(data_dir, "state_test6.txt", 6)
    rec = train(
        compose_cfg(
            run_overrides(
                data_dir,
                logs,
                f"paths.output_dir={out}",
                "name=tiny",
                "logger=csv",
                *TRAINED_WITH,
                "trainer.max_steps=2",
                "trainer.val_check_interval=2",
                "callbacks.checkpoint_every_n_steps=2",
                "trainer.limit_val_batches=1",
                "data.test_clips=2",
                f"data.test_split={split}",
            )
        )
    )
    return out, rec, split


# ---------------------------------------------------------------- 1. weights-only everywhere
class WritesMarker:
    """Unpickling this object opens (creates) the marker file: code run by a checkpoint."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _crafted(path: Path, marker: Path, base: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**base, "payload": WritesMarker(marker)}, path)
    return path


ROUTES = ["eval_ckpt_path", "init_checkpoint", "frames32_auto", "predict", "pretrained", "resume_path", "resume_auto"]


@pytest.mark.parametrize("route", ROUTES)
def test_crafted_pickle_never_runs(tiny_run, data_dir, tmp_path, route):
    out, _, split = tiny_run
    marker = tmp_path / "MARKER"
    real = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    evil = _crafted(tmp_path / "evil.ckpt", marker, real)
    logs = tmp_path / "logs"
    common = ["debug=fast", f"data.test_split={split}", *TRAINED_WITH]

    def run_train(*extra, output_dir=None):
        output_dir = output_dir or tmp_path / "run"
        train(compose_cfg(run_overrides(data_dir, logs, f"paths.output_dir={output_dir}", *common, *extra)))

    target = evil
    with pytest.raises(Exception) as err:
        if route == "eval_ckpt_path":
            evaluate(
                compose_cfg(
                    [
                        f"paths.data_dir={data_dir}",
                        f"paths.output_dir={tmp_path / 'eval'}",
                        "data.num_workers=0",
                        "trainer.accelerator=cpu",
                        "logger=none",
                        "callbacks.rich_progress=false",
                        "print_tables=false",
                        f"ckpt_path={evil}",
                        f"data.test_split={split}",
                    ],
                    config_name="eval",
                )
            )
        elif route == "init_checkpoint":
            run_train(f"frames.init_checkpoint={evil}")
        elif route == "frames32_auto":
            target = logs / "runs" / "cost_b_rtiny_synthetic_f8" / "checkpoints" / "best.ckpt"
            _crafted(target, marker, real)
            for name in ("results.json", "config.yaml"):  # a finished 8-frame run: only those are fine-tuned
                shutil.copy(out / name, target.parent.parent / name)
            run_train("frames=32")
        elif route == "predict":
            from cost.predict import load_classifier

            load_classifier(evil)
        elif route == "pretrained":
            target = _crafted(tmp_path / "imagenet.pth", marker, real["state_dict"])
            run_train(f"model.pretrained={target}")
        elif route == "resume_path":
            run_train("debug=short", f"resume={evil}")
        elif route == "resume_auto":
            run_dir = tmp_path / "auto_run"
            target = _crafted(run_dir / "checkpoints" / "last.ckpt", marker, real)
            run_train("debug=short", "resume=auto", "overwrite=false", output_dir=run_dir)
    assert not marker.exists(), f"{route}: loading the checkpoint ran code"
    assert f"{target}: refused" in str(err.value), str(err.value)  # names the file and why


# ---------------------------------------------------------------- 2. lossless resume
def test_csv_logger_keeps_history_and_replaces_replayed_steps(tmp_path):
    from cost.training.loggers import ResumableCSVLogger

    first = ResumableCSVLogger(tmp_path)
    for step in range(6):
        first.log_metrics({"train/loss": float(step)}, step)
    first.log_metrics({"val/top1": 50.0}, 3)  # another key at a step already logged
    first.save()
    path = tmp_path / "csv" / "metrics.csv"
    with open(path, "a") as f:
        f.write("9.0,,")  # a line torn by a crash
    resumed = ResumableCSVLogger(tmp_path)  # resumed from the checkpoint of step 3
    for step in range(4, 8):
        resumed.log_metrics({"train/loss": 100.0 + step}, step)
    resumed.save()
    rows = text_rows(path)
    assert [int(r["step"]) for r in rows] == list(range(8))
    loss = {int(r["step"]): float(r["train/loss"]) for r in rows}
    assert loss == {0: 0.0, 1: 1.0, 2: 2.0, 3: 3.0, 4: 104.0, 5: 105.0, 6: 106.0, 7: 107.0}
    assert [r["val/top1"] for r in rows if r["val/top1"]] == ["50.0"]


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
    split = _small_split(data_dir, "state_test4.txt", 4)
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


# ---------------------------------------------------------------- 3. nothing destroyed early
def test_results_and_csv_files_are_replaced_by_rename(tmp_path):
    from cost.training.coefficients import CURVE_COLUMNS, write_csv
    from cost.training.report import write_json

    for path, write in (
        (tmp_path / "results.json", lambda p, v: write_json(p, {"top1": v})),
        (
            tmp_path / "curves.csv",
            lambda p, v: write_csv(p, [{"step": v, "layer": 1, "view": "hw", "mean": 0.5}], CURVE_COLUMNS),
        ),
    ):
        write(path, 1)
        old = path.read_text()
        os.link(path, tmp_path / "reader_view")  # what a reader that opened the old file sees
        write(path, 2)
        assert (tmp_path / "reader_view").read_text() == old  # the old file was never truncated
        assert path.read_text() != old
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
        (tmp_path / "reader_view").unlink()


def test_resume_false_moves_the_previous_run_aside(tiny_run, data_dir, tmp_path):
    out, _, split = tiny_run
    run_dir = tmp_path / "runs" / "run"  # inside <paths.log_dir>/runs: the only place a fresh start touches
    run_dir.mkdir(parents=True)
    for name in ("checkpoints", "csv"):
        (run_dir / name).mkdir()
    (run_dir / "checkpoints" / "last.ckpt").write_bytes((out / "checkpoints" / "last.ckpt").read_bytes())
    (run_dir / "checkpoints" / "best.ckpt").write_bytes((out / "checkpoints" / "best.ckpt").read_bytes())
    old_results = (out / "results.json").read_text()
    (run_dir / "results.json").write_text(old_results)
    with pytest.warns(UserWarning, match=f"previous run's files were moved to {run_dir / 'previous-1'}"):
        train(
            compose_cfg(
                run_overrides(
                    data_dir,
                    tmp_path,
                    f"paths.output_dir={run_dir}",
                    "resume=false",
                    "logger=csv",
                    *TRAINED_WITH,
                    "trainer.max_steps=1",
                    "callbacks.checkpoint_every_n_steps=1",
                    "trainer.limit_val_batches=0",
                    "trainer.limit_test_batches=1",
                    f"data.test_split={split}",
                )
            )
        )
    kept = run_dir / "previous-1"
    assert (kept / "results.json").read_text() == old_results
    assert (kept / "checkpoints" / "best.ckpt").read_bytes() == (out / "checkpoints" / "best.ckpt").read_bytes()
    assert json.loads((run_dir / "results.json").read_text())["global_step"] == 1


def test_tables_leave_out_runs_kept_aside_and_debug_runs(tiny_run, tmp_path):
    from cost.analysis import load_runs

    out, _, _ = tiny_run
    record = json.loads((out / "results.json").read_text())
    for rel, extra in (("runs/real", {}), ("runs/real/previous-1", {}), ("runs/real_debug", {"debug": True})):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "results.json").write_text(json.dumps({**record, **extra}))
    assert [Path(r["run_dir"]).name for r in load_runs(tmp_path / "runs")] == ["real"]


# ---------------------------------------------------------------- 4. one process per run dir
@pytest.mark.slow
def test_second_process_on_a_run_dir_stops_and_names_the_holder(data_dir, tmp_path):
    args = [
        PYTHON,
        str(RUN_PY),
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path}",
        "name=shared",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "callbacks.rich_progress=false",
        "logger=none",
        "print_tables=false",
        "trainer.max_steps=100000",
        "trainer.val_check_interval=100000",
        "callbacks.checkpoint_every_n_steps=100000",
    ]
    lock = tmp_path / "runs" / "shared" / "run.lock"
    first = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=subprocess_env(), start_new_session=True
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and first.poll() is None and not (lock.exists() and lock.read_text()):
            time.sleep(0.1)
        assert first.poll() is None, first.stderr.read().decode()[-3000:]
        t0 = time.time()
        second = subprocess.run(args, capture_output=True, text=True, env=subprocess_env(), timeout=240)
        took = time.time() - t0
        assert second.returncode != 0
        assert f"pid {first.pid} on host {os.uname().nodename}" in second.stderr, second.stderr[-3000:]
        assert first.poll() is None  # the first run goes on
        print(f"second process refused after {took:.1f} s")
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # kill -9 released the lock: a new process gets it at once.
    probe = subprocess.run(
        [
            PYTHON,
            "-c",
            "import sys; from cost.training.rundir import RunLock; RunLock(sys.argv[1]).acquire(); print('acquired')",
            str(lock.parent),
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert probe.returncode == 0 and "acquired" in probe.stdout, probe.stderr


# ---------------------------------------------------------------- 5. debug runs are isolated
@pytest.mark.slow
def test_debug_run_has_its_own_directory_and_stays_out_of_the_tables(data_dir, tmp_path):
    from cost.analysis import load_runs

    split = _small_split(data_dir, "state_test4.txt", 4)
    name = "cost_b_rtiny_synthetic_f8"
    real_dir = tmp_path / "runs" / name
    # A real run that has passed epochs (2 batches an epoch), as the demo does.
    train(
        compose_cfg(
            run_overrides(
                data_dir,
                tmp_path,
                f"paths.output_dir={real_dir}",
                "logger=csv",
                "trainer.max_steps=4",
                "trainer.limit_train_batches=2",
                "callbacks.checkpoint_every_n_steps=2",
                "trainer.val_check_interval=null",
                "trainer.limit_val_batches=1",
                "data.test_clips=1",
                f"data.test_split={split}",
            )
        )
    )
    before = {p.name: p.read_bytes() for p in (real_dir / "checkpoints").iterdir()}
    results_before = (real_dir / "results.json").read_text()
    for preset in ("fast", "short"):
        p = subprocess.run(
            [
                PYTHON,
                str(RUN_PY),
                f"paths.data_dir={data_dir}",
                f"paths.log_dir={tmp_path}",
                f"debug={preset}",
                "data.num_workers=0",
                "trainer.accelerator=cpu",
                "callbacks.rich_progress=false",
                "logger=none",
                f"data.test_split={split}",
                "data.test_clips=1",
            ],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            timeout=400,
        )
        assert p.returncode == 0, p.stderr[-3000:]
        debug = json.loads((tmp_path / "runs" / f"{name}_debug" / "results.json").read_text())
        assert debug["debug"] is True
    assert (real_dir / "results.json").read_text() == results_before
    assert {p.name: p.read_bytes() for p in (real_dir / "checkpoints").iterdir()} == before
    assert [Path(r["run_dir"]).name for r in load_runs(tmp_path / "runs")] == [name]


# ---------------------------------------------------------------- 7. evaluation rebuilds the network
def _eval_cfg(data_dir, out_dir, ckpt, split, *extra):
    return compose_cfg(
        [
            f"paths.data_dir={data_dir}",
            f"paths.output_dir={out_dir}",
            "data.num_workers=0",
            "trainer.accelerator=cpu",
            "logger=none",
            "callbacks.rich_progress=false",
            "print_tables=false",
            f"ckpt_path={ckpt}",
            f"data.test_split={split}",
            "data.test_clips=2",
            *extra,
        ],
        config_name="eval",
    )


def test_eval_rebuilds_the_trained_network_and_clips(tiny_run, data_dir, tmp_path):
    out, rec, split = tiny_run
    res = evaluate(_eval_cfg(data_dir, tmp_path, rec["checkpoint"], split))
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


def test_predict_takes_the_clip_settings_from_the_checkpoint(tiny_run):
    from cost.predict import clip_settings, load_classifier

    _, rec, _ = tiny_run
    _, _, model_cfg, clip = load_classifier(rec["checkpoint"])
    assert model_cfg["pool1_kernel"] == [1, 3, 3] and clip["frame_stride"] == 2 and clip["test_short_side"] == 40
    assert clip_settings(clip, None, None, None) == {"num_frames": 8, "frame_stride": 2, "test_short_side": 40}
    with pytest.raises(SystemExit, match="--stride 4"):
        clip_settings(clip, None, 4, None)


# ---------------------------------------------------------------- 8. early, named errors
def _cfg(data_dir, tmp_path, *extra):
    return compose_cfg(run_overrides(data_dir, tmp_path, f"paths.output_dir={tmp_path / 'run'}", *extra))


@pytest.mark.parametrize(
    "override,key",
    [
        ("data.batch_size=-1", "data.batch_size=-1"),
        ("data.test_batch_size=0", "data.test_batch_size=0"),
        ("data.num_workers=-2", "data.num_workers=-2"),
        ("data=moments", "data.root="),
    ],
)
def test_bad_settings_fail_before_anything_is_built(data_dir, tmp_path, override, key):
    # (trainer.devices is checked through run.py below: in this process a DDP start would re-run pytest)
    with pytest.raises(ValueError, match=key.replace("[", r"\[").replace(".", r"\.")):
        train(_cfg(data_dir, tmp_path, override, "trainer.accelerator=auto"))
    assert not (tmp_path / "run").exists()  # nothing written, nothing built


def test_more_devices_than_gpus_is_named(data_dir, tmp_path):
    from cost.training.preflight import preflight

    if torch.cuda.device_count() >= 8:
        pytest.skip("this machine has 8 GPUs")
    with pytest.raises(ValueError, match=r"trainer\.devices=8 .*trainer\.accelerator=cpu"):
        preflight(_cfg(data_dir, tmp_path, "trainer.devices=8", "trainer.accelerator=auto"), ("train",))
    preflight(_cfg(data_dir, tmp_path, "trainer.devices=2", "trainer.accelerator=cpu"), ("train",))  # asked for


def test_missing_annotation_file_is_named(data_dir, tmp_path):
    root = tmp_path / "moments"
    root.mkdir()
    (root / "moments_categories.txt").write_text("a,0\n")
    with pytest.raises(ValueError, match=r"data\.train_split=trainingSet\.csv"):
        train(_cfg(data_dir, tmp_path, "data=moments", f"data.root={root}"))
    assert not (tmp_path / "run").exists()  # before the run started


@pytest.mark.slow
def test_eight_devices_without_gpus_fail_once_before_any_process_starts(tmp_path):
    if torch.cuda.device_count() >= 8:
        pytest.skip("this machine has 8 GPUs")
    t0 = time.time()
    p = subprocess.Popen(
        [
            PYTHON,
            str(RUN_PY),
            "model=cost_b",
            "data=moments",
            "trainer.devices=8",
            f"paths.data_dir={tmp_path / 'nowhere'}",
            f"paths.log_dir={tmp_path}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        start_new_session=True,
    )
    try:
        _, err = p.communicate(timeout=240)
    finally:
        if p.poll() is None:  # it started the processes after all: stop all of them
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    took = time.time() - t0
    assert p.returncode != 0
    # Both problems, each once (not once per started process).
    assert err.count("trainer.devices=8 but this machine has no GPU") == 1, err[-3000:]
    assert err.count("does not exist: set data.root") == 1, err[-3000:]
    print(f"run.py refused in {took:.1f} s (interpreter start and imports included)")


def test_corrupt_last_ckpt_names_the_file_and_the_way_out(tiny_run, data_dir, tmp_path):
    out, _, split = tiny_run
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    data = (out / "checkpoints" / "last.ckpt").read_bytes()
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as err:
        train(_cfg(data_dir, tmp_path, *TRAINED_WITH, "debug=short", "resume=auto", f"data.test_split={split}"))
    message = str(err.value)
    assert str(run_dir / "checkpoints" / "last.ckpt") in message and "resume=false" in message, message


def test_resume_from_another_network_is_refused(tiny_run, data_dir, tmp_path):
    out, _, split = tiny_run
    with pytest.raises(ValueError, match=r"model\.pool1_kernel=\[3, 3, 3\] \(checkpoint: \[1, 3, 3\]\)"):
        train(
            _cfg(
                data_dir,
                tmp_path,
                "debug=short",
                f"resume={out / 'checkpoints' / 'last.ckpt'}",
                f"data.test_split={split}",
            )
        )


# ---------------------------------------------------------------- end-of-run count check
def test_int_limit_test_batches_is_one_batch_not_the_full_test(tiny_run, data_dir, tmp_path):
    _, rec, split = tiny_run
    res = evaluate(
        _eval_cfg(
            data_dir, tmp_path, rec["checkpoint"], split, "trainer.limit_test_batches=1", "data.test_batch_size=2"
        )
    )
    assert res["num_videos"] == 2


def test_unreadable_video_listed_twice_is_counted_twice(tiny_run, data_dir, tmp_path):
    _, rec, _ = tiny_run
    bad = data_dir / "synthetic" / "unreadable.mp4"
    bad.write_bytes(b"not a video" * 100)
    split = _small_split(data_dir, "state_twice.txt", 3, ("unreadable.mp4 0", "unreadable.mp4 0"))
    res = evaluate(_eval_cfg(data_dir, tmp_path, rec["checkpoint"], split))
    assert res["num_videos"] == 3 and res["skipped_videos"] == [str(bad)]
