"""Checks before heavy work, shared by run.py, eval.py and the runner: the run's name, the
model choice, and ``preflight``, which lists every problem of the launch mode and devices
(``preflight_launch``), the keys (``preflight_keys``), the numbers (``preflight_numbers``)
and the data files (``preflight_data``) at once. Each problem names its config key.
"""

from __future__ import annotations

from omegaconf import DictConfig

from .preflight_data import _batch_vs_split, _data_file_problems
from .preflight_keys import _added_key_problems, _section_problems, added_key_problems
from .preflight_launch import _device_problems, _devices_asked, check_launch, multiprocess_trainer, unswept_experiment
from .preflight_numbers import _loader_problems, _numeric_problems

__all__ = [  # the names run.py, the runner and the tests import from here
    "_added_key_problems",
    "_batch_vs_split",
    "_device_problems",
    "_devices_asked",
    "_numeric_problems",
    "check_config",
    "check_launch",
    "check_name",
    "multiprocess_trainer",
    "name_problem",
    "preflight",
    "unswept_experiment",
]


def name_problem(name) -> str | None:
    """Why ``name`` cannot be a run directory: it must be one path component under
    ``${paths.log_dir}/runs`` (a separator or ``..`` would put, or overwrite, a run elsewhere)."""
    text = str(name)
    bad = [c for c in text if ord(c) < 32 or ord(c) == 127]
    if not text.strip():
        why = "is empty"
    elif "/" in text or "\\" in text:
        why = "holds a path separator"
    elif text in (".", ".."):
        why = "is a relative directory"
    elif bad:
        why = f"holds the control character {bad[0]!r}"
    else:
        return None
    return (
        f"name={text!r} {why}: a run name is one folder name under ${{paths.log_dir}}/runs; "
        "give a plain name (e.g. name=my_run), and set paths.log_dir to put runs elsewhere"
    )


def check_name(name) -> None:
    """The run's own check of ``name``; under Hydra the ``${run_name:}`` resolver of
    conf/hydra/default.yaml has refused it already, before Hydra creates the run directory."""
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)


def preflight(cfg: DictConfig, splits: tuple[str, ...]) -> None:
    """Settings that would fail only after minutes (or once per DDP rank), or make a run
    meaningless: checked in a second, before any dataset, network or process is built. Raises
    one error listing every problem, each naming its key."""
    sections = _section_problems(cfg)
    problems = sections + added_key_problems(cfg) + _loader_problems(cfg.data)
    if not sections:  # optim.lr and the like are read as they are: only from a whole section
        problems += _numeric_problems(cfg, training="train" in splits)
    problems += _device_problems(cfg.trainer)
    problems += _data_file_problems(cfg.data, splits)
    if "train" in splits:
        problems += _batch_vs_split(cfg)
    if problems:
        raise ValueError("the run cannot start:\n  " + "\n  ".join(problems))


VALID_TEST_CKPT = ("best", "last")


def check_config(cfg: DictConfig) -> None:
    """Errors that name the key and the fix, before anything heavy starts."""
    check_name(cfg.name)
    check_launch(cfg.trainer)
    arch = cfg.model.arch
    from cost.models import ARCHS, PRESETS

    if arch not in ARCHS:
        raise ValueError(f"model.arch={arch!r} is not valid; choose one of {', '.join(ARCHS)} (or model=<name>)")
    depth = cfg.model.depth
    if depth not in PRESETS and str(depth) not in {str(k) for k in PRESETS}:
        raise ValueError(f"model.depth={depth!r} is not valid; choose one of {', '.join(map(str, PRESETS))}")
    if "test_ckpt" in cfg and cfg.test_ckpt not in VALID_TEST_CKPT:  # eval.yaml has none
        raise ValueError(f"test_ckpt={cfg.test_ckpt!r} is not valid; choose one of {', '.join(VALID_TEST_CKPT)}")
