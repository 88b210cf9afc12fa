"""One run, one identity (issue 21): the seed names the run, a rerun with another recipe is
refused and a refused command rewrites nothing, results.json says what produced it, and a
fresh start or a re-test keeps every file of the earlier one."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from cost.training.rundir import LOCK_FILE, RunLock
from training_helpers import EVAL_PY, PYTHON, RUN_PY, compose_cfg, subprocess_env

NAME = "cost_b_rtiny_synthetic_f8"  # the default name of the settings below, seed 0


def _files(root: Path, skip=(LOCK_FILE,)) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), but the lock file."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name not in skip
    }


def _run(script: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, str(script), *args], capture_output=True, text=True, env=subprocess_env(), timeout=timeout
    )


@pytest.fixture(scope="module")
def run_args(data_dir) -> list[str]:
    root = data_dir / "synthetic"
    (root / "identity_test4.txt").write_text("\n".join((root / "test.txt").read_text().splitlines()[:4]) + "\n")
    return [
        f"paths.data_dir={data_dir}",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "callbacks.rich_progress=false",
        "logger=csv",
        "print_tables=false",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "callbacks.checkpoint_every_n_steps=2",
        "trainer.limit_val_batches=1",
        "data.test_clips=1",
        "data.test_split=identity_test4.txt",
        "data.batch_size=4",
    ]


@pytest.fixture(scope="module")
def finished(run_args, tmp_path_factory) -> Path:
    """One finished real run (src/run.py, default name, seed 0); tests copy it before changing it."""
    logs = tmp_path_factory.mktemp("identity")
    p = _run(RUN_PY, f"paths.log_dir={logs}", *run_args)
    assert p.returncode == 0, p.stderr[-3000:]
    return logs / "runs" / NAME


def _copy(run_dir: Path, logs: Path) -> Path:
    target = logs / "runs" / run_dir.name
    shutil.copytree(run_dir, target)
    return target


def test_the_seed_names_the_run():
    for seed, suffix in ((0, ""), (1, "_s1"), (12, "_s12")):
        cfg = compose_cfg(["paths.output_dir=/unused", f"seed={seed}"])
        assert cfg.name == NAME + suffix
        cfg32 = compose_cfg(["paths.output_dir=/unused", f"seed={seed}", "frames=32"])
        assert cfg32.frames.init_run == NAME + suffix  # seed 1's 32-frame run fine-tunes seed 1's 8-frame run


@pytest.mark.slow
def test_another_seed_is_another_run(finished, run_args, tmp_path):
    run_dir = _copy(finished, tmp_path)
    before = _files(run_dir)
    p = _run(RUN_PY, f"paths.log_dir={tmp_path}", *run_args, "seed=1")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resuming" not in p.stdout + p.stderr
    seeded = json.loads((tmp_path / "runs" / f"{NAME}_s1" / "results.json").read_text())
    assert seeded["seed"] == 1 and seeded["global_step"] == 2
    assert _files(run_dir) == before  # the seed-0 run is untouched


@pytest.mark.slow
def test_a_changed_recipe_is_refused_and_rewrites_nothing(finished, run_args, tmp_path):
    run_dir = _copy(finished, tmp_path)
    before = _files(run_dir, skip=(LOCK_FILE, "run.log"))
    p = _run(RUN_PY, f"paths.log_dir={tmp_path}", *run_args, "optim.lr=0.9", "optim.warmup_steps=3")
    assert p.returncode != 0
    print(p.stderr[-1500:])
    assert "optim.lr: the run has 0.05, this command 0.9" in p.stderr, p.stderr[-3000:]
    assert "optim.warmup_steps: the run has 20, this command 3" in p.stderr
    assert "Use resume=false" in p.stderr and "new name=<run name>" in p.stderr
    assert _files(run_dir, skip=(LOCK_FILE, "run.log")) == before  # results.json, config.yaml, .hydra/

    # Keys that only say how the run is tested, for how long it trains or where files are may change.
    p = _run(RUN_PY, f"paths.log_dir={tmp_path}", *run_args, "data.test_clips=2", "logger=none")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resuming run" in p.stdout + p.stderr
    record = json.loads((run_dir / "results.json").read_text())
    assert record["test_clips"] == 2 and record["views_per_video"] == 2 and record["global_step"] == 2


@pytest.mark.slow
def test_a_refused_second_process_rewrites_nothing(finished, run_args, tmp_path):
    run_dir = _copy(finished, tmp_path)
    before = _files(run_dir, skip=(LOCK_FILE, "run.log"))
    lock = RunLock(run_dir).acquire()  # the run is in use (by this test process)
    try:
        p = _run(RUN_PY, f"paths.log_dir={tmp_path}", *run_args, "trainer.max_steps=4")
    finally:
        lock.release()
    assert p.returncode != 0 and f"pid {os.getpid()}" in p.stderr, p.stderr[-3000:]
    assert _files(run_dir, skip=(LOCK_FILE, "run.log")) == before  # .hydra/overrides.yaml too


def test_results_json_records_provenance(finished):
    from cost.checkpoints import global_step

    rec = json.loads((finished / "results.json").read_text())
    assert rec["run_type"] == "train" and rec["seed"] == 0
    assert rec["test_clips"] == 1 and rec["test_crops"] == 1 and rec["views_per_video"] == 1
    assert len(rec["git_commit"]) == 40 and isinstance(rec["git_dirty"], bool)
    assert rec["torch"] == torch.__version__ and rec["pytorch_lightning"] == pl.__version__
    assert rec["cuda"] == torch.version.cuda
    assert rec["host"] == socket.gethostname() and rec["device"].startswith("cpu")
    started, ended = datetime.fromisoformat(rec["started"]), datetime.fromisoformat(rec["finished"])
    assert started.utcoffset() == timedelta(0) and started <= ended
    assert abs((ended - started).total_seconds() - rec["wall_time_s"]) <= 1.1 and rec["wall_time_s"] > 0
    assert rec["best_step"] == global_step(finished / "checkpoints" / "best.ckpt") == 2


def test_no_git_checkout_records_none(tmp_path, monkeypatch):
    from cost.training.report import code_version

    monkeypatch.setenv("COST_ROOT", str(tmp_path))  # an installed package: no .git above it
    assert code_version() == {"git_commit": None, "git_dirty": None}


@pytest.mark.slow
def test_resume_false_keeps_every_file_of_the_old_run(finished, run_args, tmp_path):
    run_dir = _copy(finished, tmp_path)
    old = _files(run_dir)
    assert {"predictions.csv", "class_accuracy.csv", "config.yaml", ".hydra/config.yaml", "results.json"} <= set(old)
    old_inodes = {p.stat().st_ino for p in run_dir.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    p = _run(RUN_PY, f"paths.log_dir={tmp_path}", *run_args, "resume=false")
    assert p.returncode == 0, p.stderr[-3000:]
    kept = _files(run_dir / "previous-1")
    assert set(kept) == set(old)
    for name, content in old.items():  # the new process's first log lines may follow the old log
        assert kept[name] == content if name != "run.log" else kept[name].startswith(content), name
    new = [p for p in run_dir.rglob("*") if p.is_file() and "previous-1" not in p.parts and p.name != LOCK_FILE]
    assert new and not {p.stat().st_ino for p in new} & old_inodes  # nothing of the old run stays outside
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith("previous-")) == ["previous-1"]
    assert json.loads((run_dir / "results.json").read_text())["global_step"] == 2


@pytest.mark.slow
def test_each_checkpoint_is_evaluated_in_its_own_directory(finished, data_dir, tmp_path):
    common = [
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path}",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "callbacks.rich_progress=false",
        "print_tables=false",
        "data.test_split=identity_test4.txt",
        "data.test_clips=1",
    ]
    dirs = {}
    for stem in ("best", "last"):
        ckpt = finished / "checkpoints" / f"{stem}.ckpt"
        p = _run(EVAL_PY, f"ckpt_path={ckpt}", *common)
        assert p.returncode == 0, p.stderr[-3000:]
        dirs[stem] = tmp_path / "runs" / f"eval_{NAME}_{stem}_1x1"
        rec = json.loads((dirs[stem] / "results.json").read_text())
        assert rec["checkpoint"] == str(ckpt) and rec["run_type"] == "retest" and rec["test_clips"] == 1
    first = _files(dirs["best"])
    assert {"results.json", "predictions.csv", "class_accuracy.csv"} <= set(first)
    p = _run(EVAL_PY, f"ckpt_path={finished / 'checkpoints' / 'best.ckpt'}", *common)  # the same test again
    assert p.returncode == 0, p.stderr[-3000:]
    kept = _files(dirs["best"] / "previous-1")
    assert set(kept) == set(first)
    assert all(kept[k] == v for k, v in first.items() if k != "eval.log")
    assert json.loads((dirs["best"] / "results.json").read_text())["run_type"] == "retest"


def test_config_check_names_every_key_outside_the_allowed_ones(tmp_path):
    from omegaconf import OmegaConf

    from cost.training.restore import check_same_config

    cfg = compose_cfg([f"paths.output_dir={tmp_path}"])
    saved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    saved.optim.lr, saved.data.test_clips, saved.logger = 0.5, 3, {"csv": {"name": "old"}}
    saved.paths.output_dir, saved.trainer.max_steps = "/elsewhere", 7
    del saved.optim.scheduler["gamma"]
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(saved))
    with pytest.raises(ValueError) as err:
        check_same_config(cfg, tmp_path)
    lines = [line.strip() for line in str(err.value).splitlines()[1:-1]]
    assert lines == [
        "optim.lr: the run has 0.5, this command 0.05",
        "optim.scheduler.gamma: the run has no such key, this command 0.1",
    ]
    del saved.optim["lr"]
    saved.optim.scheduler.gamma, saved.optim.lr = 0.1, 0.05
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(saved))
    check_same_config(cfg, tmp_path)  # only test views, logger, paths and max_steps differ
