"""Untrusted inputs stop a run before anything starts (issue 20): a run name that is a path,
and every problem of ``preflight`` at once from a real ``src/run.py`` / ``src/eval.py``. The
checks themselves are tested key by key in test_preflight_numbers.py (numeric keys),
test_preflight_data.py (a batch larger than the split), test_preflight_keys.py (added keys)
and test_preflight_launch.py (GPU index lists)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from cost.training.preflight import check_config, name_problem
from cost.training.rundir import RunDirectoryOutside, delete_previous, move_aside
from tests.helpers.training import EVAL_PY, FAST, PYTHON, RUN_PY, compose_cfg, subprocess_env


def _cfg(*overrides: str):
    return compose_cfg(["paths.output_dir=x", *overrides])


def _victim(folder: Path) -> dict[Path, bytes]:
    """A user's folder that looks like a finished run; returns its files and their bytes."""
    (folder / "csv").mkdir(parents=True)
    (folder / "figures").mkdir()
    files = {
        folder / "results.json": b'{"mine": true}\n',
        folder / "csv" / "metrics.csv": b"step,loss\n1,2.0\n",
        folder / "figures" / "plot.png": b"not really a png",
        folder / "notes.txt": b"my notes\n",
    }
    for path, data in files.items():
        path.write_bytes(data)
    return files


def _run(script: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, str(script), *args], capture_output=True, text=True, env=subprocess_env(), timeout=timeout
    )


# ---------------------------------------------------------------- run names
@pytest.mark.parametrize(
    "name,why",
    [
        ("../../victim", "holds a path separator"),
        ("a/b", "holds a path separator"),
        ("/abs/path", "holds a path separator"),
        ("a\\b", "holds a path separator"),
        ("..", "is a relative directory"),
        (".", "is a relative directory"),
        ("", "is empty"),
        ("  ", "is empty"),
        ("run\nnext", "holds the control character '\\n'"),
        ("run\x00", "holds the control character '\\x00'"),
    ],
)
def test_a_run_name_that_is_not_one_folder_name_is_refused(name, why):
    assert why in name_problem(name)
    assert name_problem(name).startswith(f"name={name!r} ")
    cfg = _cfg()
    cfg.name = name
    with pytest.raises(ValueError, match="a run name is one folder name"):
        check_config(cfg)


@pytest.mark.parametrize("name", ["cost_b_r50_moments_f8", "lr_sweep_0.01", "my run", "a=b", "...x", "ünïcode"])
def test_plain_names_pass(name):
    assert name_problem(name) is None


@pytest.mark.slow
def test_run_py_with_a_path_as_name_touches_nothing_outside_the_runs(data_dir, tmp_path):
    """The case of the issue: name=../../victim resume=false overwrite=true deleted csv/,
    figures/ and results.json of a user's folder. Now nothing is written or deleted there:
    Hydra's run directory is refused before Hydra creates it."""
    logs, victim = tmp_path / "logs", tmp_path / "victim"
    files = _victim(victim)
    p = _run(
        RUN_PY,
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={logs}",
        "name=../../victim",
        "resume=false",
        "overwrite=true",
        "trainer.max_steps=2",
        "logger=csv",
        *FAST,
    )
    assert p.returncode != 0
    assert "name='../../victim' holds a path separator" in p.stderr, p.stderr[-3000:]
    assert {path: path.read_bytes() for path in files} == files
    assert sorted(q.relative_to(victim).as_posix() for q in victim.rglob("*")) == [
        "csv",
        "csv/metrics.csv",
        "figures",
        "figures/plot.png",
        "notes.txt",
        "results.json",
    ]  # no .hydra/, run.log, checkpoints/ or previous-N/ either
    assert not (logs / "runs").exists()


@pytest.mark.slow
def test_eval_py_with_a_path_as_name_touches_nothing_outside_the_runs(tmp_path):
    logs, victim = tmp_path / "logs", tmp_path / "victim"
    files = _victim(victim)
    p = _run(EVAL_PY, f"paths.log_dir={logs}", f"ckpt_path={tmp_path / 'x.ckpt'}", "name=../../victim")
    assert p.returncode != 0
    assert "name='../../victim' holds a path separator" in p.stderr, p.stderr[-3000:]
    assert {path: path.read_bytes() for path in files} == files
    assert not (victim / ".hydra").exists() and not (logs / "runs").exists()


def test_a_fresh_start_moves_or_deletes_nothing_outside_the_runs_dir(tmp_path):
    """Defence in depth: a run directory that resolves outside ``<log_dir>/runs`` (here a
    symlink inside runs/ pointing at the user's folder) is refused by move_aside and
    delete_previous, and its files stay."""
    runs, victim = tmp_path / "logs" / "runs", tmp_path / "victim"
    files = _victim(victim)
    runs.mkdir(parents=True)
    (runs / "link").symlink_to(victim)
    for start in (move_aside, delete_previous):
        for run_dir in (runs / "link", runs / ".." / ".." / "victim", victim):
            with pytest.raises(RunDirectoryOutside, match="not inside the runs directory"):
                start(run_dir, runs)
    assert {path: path.read_bytes() for path in files} == files
    assert not list(victim.glob("previous-*"))
    inside = runs / "mine"
    _victim(inside)
    assert move_aside(inside, runs) == inside / "previous-1"
    assert (inside / "previous-1" / "results.json").is_file()
    (inside / "results.json").write_text("{}")
    assert [p.name for p in delete_previous(inside, runs)] == ["results.json"]
    assert move_aside(tmp_path / "empty", runs) is None  # nothing to touch: nothing refused


# ---------------------------------------------------------------- real processes
PROCESS_CASES = [
    ("data.test_clips=0", "data.test_clips=0 must be a whole number >= 1"),
    ("data.frame_stride=0", "data.frame_stride=0 gives stride 0"),
    ("optim.lr=nan", "optim.lr=nan must be a finite number > 0"),
    ("trainer.val_check_interval=0", "trainer.val_check_interval=0 must be"),
    ("trainer.max_steps=0", "trainer.max_steps=0 must be a whole number >= 1"),
    ("data.batch_size=100000", "data.batch_size=100000 x 1 process(es) is more clips than the training split"),
    ("+foo=bar", "+foo: no config file has this key and nothing reads it"),
]


def _refused(data_dir: Path, tmp_path: Path, *overrides: str) -> str:
    """run.py with ``overrides`` on a tiny run; it must stop before training. Returns stderr."""
    logs = tmp_path / "logs"
    p = _run(
        RUN_PY,
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={logs}",
        "name=bad",
        "logger=csv",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "data.test_clips=1",
        *FAST,
        *overrides,
    )
    assert p.returncode != 0, p.stdout[-2000:]
    assert "the run cannot start:" in p.stderr, p.stderr[-3000:]
    assert not (logs / "runs" / "bad" / "checkpoints").exists()
    assert not (logs / "runs" / "bad" / "results.json").exists()
    return p.stderr


@pytest.mark.slow
@pytest.mark.parametrize("override,message", PROCESS_CASES + [("trainer.devices='0,3'", "uses GPU index 3")])
def test_run_py_stops_before_training_naming_the_key(data_dir, tmp_path, override, message):
    if "devices" in override:
        if torch.cuda.device_count() >= 4:
            pytest.skip("this machine has 4 GPUs")
        override = [override, "trainer.accelerator=gpu"]
    err = _refused(data_dir, tmp_path, *([override] if isinstance(override, str) else override))
    assert message in err, err[-3000:]


@pytest.mark.slow
def test_run_py_reports_every_problem_at_once(data_dir, tmp_path):
    err = _refused(data_dir, tmp_path, *(o for o, _ in PROCESS_CASES))
    missing = [m for _, m in PROCESS_CASES if m not in err]
    assert not missing, err[-3000:]
