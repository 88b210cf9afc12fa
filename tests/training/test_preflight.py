"""Untrusted inputs stop a run before anything starts (issue 20): a run name that is a path,
numeric keys that would make a run fail late or mean nothing, a batch larger than the
training split, an added key that nothing reads, GPU index lists. The process cases run
``src/run.py`` / ``src/eval.py`` for real; the check functions are tested key by key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from cost.training.preflight import (
    _added_key_problems,
    _batch_vs_split,
    _device_problems,
    _devices_asked,
    _numeric_problems,
    check_config,
    name_problem,
)
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


# ---------------------------------------------------------------- numeric keys
@pytest.mark.parametrize(
    "override,message",
    [
        ("data.test_clips=0", "data.test_clips=0 must be a whole number >= 1"),
        ("data.test_crops=0", "data.test_crops=0 must be a whole number >= 1"),
        ("frames.num_frames=0", "frames.num_frames=0 must be a whole number >= 1"),
        ("data.frame_stride=0", "data.frame_stride=0 gives stride 0: a stride must be >= 1"),
        ("data.frame_stride={8:0}", "data.frame_stride={8: 0, 32: 1} gives stride 0"),
        ("data.frame_stride={32:1,8:null}", "data.frame_stride"),
        ("optim.lr=nan", "optim.lr=nan must be a finite number > 0"),
        ("optim.lr=inf", "optim.lr=inf must be a finite number > 0"),
        ("optim.lr=0", "optim.lr=0 must be a finite number > 0"),
        ("optim.lr=-0.1", "optim.lr=-0.1 must be a finite number > 0"),
        ("optim.base_batch_size=0", "optim.base_batch_size=0 must be a whole number >= 1"),
        ("trainer.val_check_interval=0", "trainer.val_check_interval=0 must be a whole number of steps >= 1"),
        ("trainer.val_check_interval=0.0", "trainer.val_check_interval=0.0 must be"),
        ("trainer.val_check_interval=1.5", "trainer.val_check_interval=1.5 must be"),
        ("trainer.val_check_interval=-3", "trainer.val_check_interval=-3 must be"),
        ("trainer.max_steps=0", "trainer.max_steps=0 must be a whole number >= 1"),
        ("trainer.max_steps=-2", "trainer.max_steps=-2 must be"),
        ("trainer.max_steps=-1", "trainer.max_steps=-1 must be"),  # and max_epochs=-1: endless
    ],
)
def test_each_numeric_key_that_makes_a_run_meaningless_is_named(override, message):
    problems = _numeric_problems(_cfg(override))
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["trainer.val_check_interval=1"],
        ["trainer.val_check_interval=0.5"],
        ["trainer.val_check_interval=1.0"],
        ["trainer.val_check_interval=null"],
        ["trainer.max_steps=-1", "trainer.max_epochs=3"],  # Lightning's "train by epochs"
        ["trainer.max_steps=0", "trainer.fast_dev_run=true"],  # fast_dev_run ignores the length
        ["frames=32"],
        ["data=kinetics", "frames=32"],
    ],
)
def test_valid_numeric_settings_pass(overrides):
    assert _numeric_problems(_cfg(*overrides)) == []


def test_a_batch_larger_than_the_training_split_is_named(data_dir, tmp_path):
    problems = _batch_vs_split(_cfg(f"paths.data_dir={tmp_path}", "data.batch_size=100000"))  # not generated yet
    assert problems == [
        "data.batch_size=100000 x 1 process(es) is more clips than the training split has (480 videos at most, "
        "from data.synthetic.num_train): set data.batch_size to at most 480"
    ]
    generated = f"paths.data_dir={data_dir}"
    assert _batch_vs_split(_cfg(generated, "data.batch_size=480")) == []
    assert (
        "480 videos at most, from the 480 lines of data.train_split=train.txt"
        in (_batch_vs_split(_cfg(generated, "data.batch_size=481"))[0])
    )
    assert "at most 160" in _batch_vs_split(_cfg(generated, "data.batch_size=200", "trainer.devices=3"))[0]
    assert _batch_vs_split(_cfg(generated, "data.batch_size=200", "trainer.devices=[0,3]")) == []  # 2 processes
    # A file format: the annotation file's lines bound the split (here the synthetic set as a list).
    root = data_dir / "synthetic"
    (tmp_path / "train1.txt").write_text((root / "train.txt").read_text().splitlines()[0] + "\n\n\n")
    listed = ["data=list", f"data.root={root}", f"data.train_split={tmp_path / 'train1.txt'}"]
    assert "from the 1 lines of data.train_split=" in _batch_vs_split(_cfg(*listed, "data.batch_size=2"))[0]
    own = [generated, f"data.train_split={tmp_path / 'train1.txt'}"]  # the synthetic set, a split of its own
    assert "from the 1 lines of data.train_split=" in _batch_vs_split(_cfg(*own, "data.batch_size=2"))[0]


# ---------------------------------------------------------------- added keys
@pytest.mark.parametrize(
    "override",
    [
        "+trainer.profiler=simple",  # a pl.Trainer argument
        "+trainer.detect_anomaly=true",
        "+data.class_names=classes.txt",  # a VideoDataModule argument that no data config sets
        "+logger.wandb.settings=null",  # a wandb.init argument
        "+logger.csv.flush_logs_every_n_steps=5",  # CSVLogger's, through ResumableCSVLogger's **kwargs
        "+logger.tb._target_=pytorch_lightning.loggers.TensorBoardLogger",  # a whole new logger
        "+experiment=table2",  # a config group choice
        "hydra/launcher=basic",
        "+hydra.job.env_set.X=1",
        "name=x",  # not added
        "++seed=3",  # force-add of a key that exists
    ],
)
def test_added_keys_that_something_reads_pass(override):
    assert _added_key_problems([override], _cfg("logger=wandb")) == []


@pytest.mark.parametrize(
    "override",
    [
        "+foo=bar",
        "+paths.scratch=/tmp",
        "+model.dropuot=0.1",
        "+frames.freeze=true",
        "+data.bogus=1",
        "+data.synthetic.num_trian=5",
        "+trainer.max_step=5",
        "+trainer.logger=false",  # set by the run itself: it would be overridden silently
        "+logger.wandb.projcet=typo",
        "+logger.csv.nope=1",
        "++data.bogus=1",
    ],
)
def test_an_added_key_that_nothing_reads_is_named(override):
    key = override.lstrip("+").split("=")[0]
    assert _added_key_problems([override], _cfg("logger=wandb")) == [
        f"+{key}: no config file has this key and nothing reads it (a typo?); see `python src/run.py --cfg job` "
        "for the keys, and conf/README.md (Added keys)"
    ]


# ---------------------------------------------------------------- GPU index lists
@pytest.mark.parametrize(
    "devices,asked",
    [
        (1, ("count", 1)),
        (8, ("count", 8)),
        (-1, ("all", None)),
        ("auto", ("all", None)),
        ("-1", ("all", None)),
        ("2", ("count", 2)),
        ("0,3", ("indices", 4)),
        ("0, 3", ("indices", 4)),
        ("3,", ("indices", 4)),
        ("[0,3]", ("indices", 4)),
        ([0, 3], ("indices", 4)),
        ([2], ("indices", 3)),
        ("gpu0", ("invalid", None)),
        (True, ("invalid", None)),
        (0, ("invalid", None)),
        ("0", ("invalid", None)),
        (-2, ("invalid", None)),
        ([-2, 1], ("invalid", None)),
    ],
)
def test_gpu_index_lists_are_counted_by_their_highest_index(devices, asked):
    assert _devices_asked(devices) == asked


def test_an_index_list_beyond_the_gpus_names_the_index():
    present = torch.cuda.device_count()
    cfg = _cfg(f"trainer.devices='0,{present + 1}'", "trainer.accelerator=gpu").trainer
    assert _device_problems(cfg) == [
        f"trainer.devices=0,{present + 1} uses GPU index {present + 1}, so it needs {present + 2} GPUs "
        f"(trainer.accelerator=gpu), but this machine has {present}: "
        + (f"use indices below {present}" if present else "set trainer.accelerator=cpu")
    ]
    assert "not a device count" in _device_problems(_cfg("trainer.devices=gpu0").trainer)[0]


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


def test_eval_checks_the_views_but_not_the_training_keys():
    """eval.py trains nothing: the optimizer and the run's length do not stop it; its views do."""
    cfg = _cfg("optim.lr=nan", "trainer.max_steps=0", "trainer.val_check_interval=0", "data.test_clips=0")
    assert _numeric_problems(cfg, training=False) == ["data.test_clips=0 must be a whole number >= 1"]
