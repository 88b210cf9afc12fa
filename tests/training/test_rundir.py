"""The run directory: files replaced by rename, a fresh start keeps the previous run aside,
one process per run directory, debug runs in their own directory, out of the tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cost.training.runner import train
from tests.helpers.training import PYTHON, RUN_PY, TRAINED_WITH, compose_cfg, run_overrides, small_split, subprocess_env


def test_results_and_csv_files_are_replaced_by_rename(tmp_path):
    from cost.results.coefficients import CURVE_COLUMNS, write_csv
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


@pytest.mark.slow
def test_debug_run_has_its_own_directory_and_stays_out_of_the_tables(data_dir, tmp_path):
    from cost.analysis import load_runs

    split = small_split(data_dir, "state_test4.txt", 4)
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


def test_a_failed_text_write_leaves_no_temporary_and_the_old_file_intact(tmp_path):
    from cost.training.rundir import write_text_atomic

    path = tmp_path / "results.json"
    write_text_atomic(path, '{"top1": 1}\n')
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, '{"top1": "' + "x" * 100_000 + '\udc80"}\n')  # fails after the file is made
    assert path.read_text() == '{"top1": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
