"""The commands are package modules (``python -m cost.run|eval|sweep|predict``); the documented
scripts in src/ and experiments/ are thin wrappers that behave the same, from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _output(args: list[str], cwd: Path) -> str:
    """stdout of ``python *args`` started in ``cwd`` (not the repository) on this checkout's code."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize(
    "module,script,overrides",
    [
        ("cost.run", "src/run.py", ["frames=32", "model=c3d"]),
        pytest.param(  # subprocess runs: cost.run in the fast tier, cost.eval in the slow one
            "cost.eval",
            "src/eval.py",
            ["ckpt_path=/somewhere/checkpoints/best.ckpt", "frames=32"],
            marks=pytest.mark.slow,
        ),
    ],
)
def test_hydra_module_and_script_compose_the_same_job(module, script, overrides, tmp_path):
    """conf/ is found from the package whatever the current directory; the job keeps its name
    (run.log, eval.log), its run directory and the quoting of the numeric group frames=32."""
    as_module = _output(["-m", module, "--cfg", "all", *overrides], tmp_path)
    as_script = _output([str(REPO / script), "--cfg", "all", *overrides], tmp_path)
    assert as_module == as_script
    cfg = yaml.safe_load(as_module)
    assert cfg["hydra"]["job"]["name"] == module.split(".")[1]
    assert cfg["hydra"]["run"]["dir"] == "${paths.log_dir}/runs/${run_name:${name}}${debug_tag:${debug_run}}"
    assert "frames='32'" in cfg["hydra"]["overrides"]["task"]
    assert cfg["frames"]["num_frames"] == 32
    conf = {"path": str(REPO / "conf"), "schema": "file", "provider": "main"}
    assert conf in cfg["hydra"]["runtime"]["config_sources"]


@pytest.mark.slow  # a subprocess run: the predict test below is the fast one
def test_sweep_module_and_script_list_the_same_jobs(tmp_path, capsys):
    from cost.sweep import main

    args = ["experiment=mini_reproduction", "--dry-run"]
    assert main(args) == 0
    as_module = capsys.readouterr().out
    assert as_module == _output([str(REPO / "experiments" / "sweep.py"), *args], tmp_path)
    lines = as_module.splitlines()
    assert lines[0] == "4 job(s)"
    assert lines[1:] == [
        f"[{i}/4] python -m cost.run experiment=mini_reproduction model={arch}"
        for i, arch in enumerate(("c2d", "c3d", "cost_a", "cost_b"), 1)
    ]


def test_predict_module_and_script_take_the_same_arguments(tmp_path):
    as_module = _output(["-m", "cost.predict", "--help"], tmp_path)
    assert as_module == _output([str(REPO / "src" / "predict.py"), "--help"], tmp_path)
    assert "checkpoint" in as_module and "--clips" in as_module
