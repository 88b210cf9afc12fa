"""Data and output roots from COST_DATA_DIR / COST_OUTPUT_DIR; overrides still win; `python -m cost.env`."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from cost.training.config import CONFIG_DIR, REPO_ROOT
from tests.helpers.training import FAST, PYTHON, RUN_PY, subprocess_env


def _compose(overrides=()):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def test_environment_sets_data_and_output_roots(monkeypatch, tmp_path):
    monkeypatch.setenv("COST_DATA_DIR", str(tmp_path / "datasets"))
    monkeypatch.setenv("COST_OUTPUT_DIR", str(tmp_path / "results"))
    cfg = _compose()
    assert cfg.paths.data_dir == str(tmp_path / "datasets")
    assert cfg.data.root == str(tmp_path / "datasets" / "synthetic")
    assert cfg.paths.log_dir == str(tmp_path / "results")
    assert OmegaConf.select(cfg, "hydra.run.dir") == str(tmp_path / "results" / "runs" / cfg.name)
    assert _compose(["data=kinetics"]).data.root == str(tmp_path / "datasets" / "kinetics400")


def test_overrides_win_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COST_DATA_DIR", str(tmp_path / "env_data"))
    monkeypatch.setenv("COST_OUTPUT_DIR", str(tmp_path / "env_out"))
    cfg = _compose([f"paths.data_dir={tmp_path / 'cli_data'}", f"paths.log_dir={tmp_path / 'cli_out'}"])
    assert cfg.data.root == str(tmp_path / "cli_data" / "synthetic")
    assert OmegaConf.select(cfg, "hydra.run.dir") == str(tmp_path / "cli_out" / "runs" / cfg.name)
    assert _compose([f"data.root={tmp_path / 'mine'}"]).data.root == str(tmp_path / "mine")


def test_without_the_environment_roots_stay_in_the_repository(monkeypatch):
    monkeypatch.delenv("COST_DATA_DIR", raising=False)
    monkeypatch.delenv("COST_OUTPUT_DIR", raising=False)
    cfg = _compose()
    assert cfg.paths.data_dir == str(REPO_ROOT / "data") and cfg.paths.log_dir == str(REPO_ROOT / "outputs")


@pytest.mark.slow
def test_run_reads_and_writes_where_the_environment_says(tmp_path):
    """A real src/run.py (one fast_dev_run step) with no path override: the synthetic set is made
    under COST_DATA_DIR and the run lands under COST_OUTPUT_DIR."""
    env = subprocess_env()
    env.update(COST_DATA_DIR=str(tmp_path / "datasets"), COST_OUTPUT_DIR=str(tmp_path / "results"))
    small = [
        "data.synthetic.num_train=32",
        "data.synthetic.num_val=16",
        "data.synthetic.num_test=16",
        "data.synthetic.min_frames=20",
        "data.synthetic.max_frames=36",
    ]
    p = subprocess.run(
        [PYTHON, str(RUN_PY), *FAST, *small, "debug=fast"], env=env, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert len((tmp_path / "datasets" / "synthetic" / "train.txt").read_text().splitlines()) == 32
    result = tmp_path / "results" / "runs" / "cost_b_rtiny_synthetic_f8_debug" / "results.json"  # a debug run
    assert json.loads(result.read_text())["dataset"] == "synthetic"


def test_cost_env_reports_what_a_run_will_use(tmp_path):
    env = dict(
        os.environ,
        COST_DATA_DIR=str(tmp_path / "datasets"),
        COST_OUTPUT_DIR=str(tmp_path / "results"),
        WANDB_MODE="offline",
    )
    p = subprocess.run(
        [PYTHON, "-m", "cost.env", f"paths.log_dir={tmp_path / 'cli_out'}", "data=kinetics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    lines = dict(line.split(":", 1) for line in p.stdout.splitlines())
    lines = {k.strip(): v.strip() for k, v in lines.items()}
    import av
    import torch

    assert lines["torch"].startswith(torch.__version__)
    assert ("CUDA " + torch.version.cuda) in lines["torch"] if torch.version.cuda else "CPU build" in lines["torch"]
    assert lines["PyAV"] == av.__version__
    assert set(lines) >= {"python", "bf16", "decord", "NVDEC", "W&B"}
    assert lines["data dir"] == str(tmp_path / "datasets")
    assert lines["data"] == f"kinetics at {tmp_path / 'datasets' / 'kinetics400'}"
    assert lines["outputs"] == f"{tmp_path / 'cli_out'}/runs"  # the override wins over COST_OUTPUT_DIR
    assert lines["W&B"].startswith("offline")
