"""eval.py and predict.py given only a run's checkpoint test that run's own data and name its
classes; the command line still wins (issue 25)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from training_helpers import EVAL_PY, FAST, PYTHON, REPO_ROOT, RUN_PY, subprocess_env

PREDICT_PY = REPO_ROOT / "src" / "predict.py"


def _split(root: Path, source: str, name: str, n: int) -> str:
    (root / name).write_text("\n".join((root / source).read_text().splitlines()[:n]) + "\n")
    return name


def _run(cmd: list, env: dict) -> subprocess.CompletedProcess:
    p = subprocess.run([PYTHON, *map(str, cmd)], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p


@pytest.mark.slow
def test_eval_with_only_ckpt_path_tests_the_runs_own_dataset(data_dir, tmp_path):
    root = data_dir / "synthetic"  # the synthetic set's split files are in the list format
    splits = {
        "train_split": _split(root, "train.txt", "knows_run_train.txt", 8),
        "val_split": _split(root, "val.txt", "knows_run_val.txt", 4),
        "test_split": _split(root, "test.txt", "knows_run_test.txt", 6),
    }
    env = dict(subprocess_env(), COST_OUTPUT_DIR=str(tmp_path / "logs"), COST_DATA_DIR=str(tmp_path / "nodata"))
    trained = _run(
        [
            RUN_PY,
            "data=list",
            "data.name=mylist",
            f"data.root={root}",
            "data.class_names=classes.txt",
            *[f"data.{k}={v}" for k, v in splits.items()],
            "model.depth=tiny",
            "model.pretrained=none",
            "trainer=cpu",
            "trainer.max_steps=2",
            "trainer.val_check_interval=2",
            "callbacks.checkpoint_every_n_steps=2",
            "logger=none",
            "data.batch_size=2",
            "data.train_short_side=[32,40]",
            "data.train_crop=32",
            "data.val_short_side=32",
            "data.val_crop=32",
            "data.test_short_side=32",
            "data.test_clips=1",
            *FAST,
        ],
        env,
    )
    # the trainer's speed settings say what they are and why (conf/trainer/default.yaml)
    assert "trainer.precision=32-true, trainer.benchmark=False: the CPU default (trainer.accelerator=cpu)" in (
        trained.stdout + trained.stderr
    )
    run_dir = tmp_path / "logs" / "runs" / "cost_b_rtiny_mylist_f8"
    assert json.loads((run_dir / "results.json").read_text())["num_videos"] == 6
    ckpt = run_dir / "checkpoints" / "best.ckpt"

    p = _run([EVAL_PY, f"ckpt_path={ckpt}"], env)  # nothing but the checkpoint
    out = p.stdout + p.stderr
    split = "split data.test_split=knows_run_test.txt"
    assert f"on dataset 'mylist' (data.format=list), {split} under data.root={root}" in out
    assert f"data config from {run_dir / 'config.yaml'}" in out
    eval_dir = tmp_path / "logs" / "runs" / "eval_cost_b_rtiny_mylist_f8_best_10x1"  # named as before
    record = json.loads((eval_dir / "results.json").read_text())
    assert (record["dataset"], record["data_format"], record["num_videos"]) == ("mylist", "list", 6)
    assert record["test_clips"] == 10  # eval.py's own views (they name its directory), not the run's 1
    assert not (tmp_path / "nodata").exists()  # the default synthetic set was never touched

    # the command line still wins over the run's data config
    three = _split(root, "test.txt", "knows_run_test3.txt", 3)
    _run([EVAL_PY, f"ckpt_path={ckpt}", f"data.test_split={three}", "data.test_clips=2", "name=three"], env)
    record = json.loads((tmp_path / "logs" / "runs" / "three" / "results.json").read_text())
    assert (record["dataset"], record["num_videos"], record["test_clips"]) == ("mylist", 3, 2)

    # predict.py names the run's classes, from the checkpoint
    video = root / (root / three).read_text().split()[0]
    shown = _run([PREDICT_PY, ckpt, video, "--clips", "1"], env).stdout
    names = (root / "classes.txt").read_text().split()
    assert sum(name in shown for name in names) >= 5, shown


def test_a_run_data_config_holding_code_is_refused(tmp_path):
    """The run's config.yaml is a file like a checkpoint: a _target_ in its data section is
    refused with the file named, before anything is built."""
    from cost.training.restore import run_data
    from training_helpers import compose_cfg

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    victim = tmp_path / "victim"
    (run / "config.yaml").write_text(
        "data:\n  name: x\n  synthetic:\n    _target_: pathlib.Path.touch\n    self: " + str(victim) + "\n"
    )
    cfg = compose_cfg(["ckpt_path=x", "paths.output_dir=x"], config_name="eval")
    refused = r"config\.yaml: cannot take the run's data config .*data\.synthetic\._target_"
    with pytest.raises(ValueError, match=refused):
        run_data(cfg, run / "checkpoints" / "best.ckpt", [])
    (run / "config.yaml").write_text("data:\n  _target_: os.system\n  name: x\n")
    with pytest.raises(ValueError, match=r"data\._target_='os\.system'"):
        run_data(cfg, run / "checkpoints" / "best.ckpt", [])
    with pytest.raises(FileNotFoundError, match="data=<name> data.root="):
        run_data(cfg, tmp_path / "elsewhere.ckpt", [])
    assert run_data(cfg, tmp_path / "elsewhere.ckpt", ["data=synthetic"])[0] is cfg
    assert not victim.exists()
