"""Reading the config: where conf/ is, the resolvers it uses, and typed config sections.

The resolvers make paths and run names independent of the current directory:
``${repo_root:}`` is the folder holding ``src/`` and ``conf/`` (found from this file).
The checks made before a run starts are in ``preflight.py``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TypeVar

from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

REPO_ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO_ROOT / "conf"


def repo_root() -> str:
    """The repository root; ``COST_ROOT`` overrides it (e.g. for an installed package)."""
    return os.environ.get("COST_ROOT", str(REPO_ROOT))


def _data_name(*, _root_) -> str:
    """The dataset's identity: ``data.name``, or its format when the name is null."""
    return str(_root_.data.name or _root_.data.format)


def _share_tag(share) -> str:
    return "" if share in (True, "true", "True", None) else "_noshare"


def _seed_tag(seed) -> str:
    """The seed is part of a run's identity: ``_s<seed>`` in the name, except seed 0 (the names
    of runs made before seeds were named stay the same)."""
    return "" if str(seed) == "0" else f"_s{seed}"


def runs_on_gpu(accelerator, cuda_available: bool) -> bool:
    """Whether Lightning will train on CUDA GPUs: ``trainer.accelerator`` gpu or cuda, or auto
    where a CUDA GPU is available (Lightning's own choice for auto)."""
    return str(accelerator) in ("gpu", "cuda") or (str(accelerator) == "auto" and cuda_available)


def _if_gpu(accelerator, gpu, cpu):
    """``${if_gpu:${.accelerator},<gpu value>,<cpu value>}`` (conf/trainer/default.yaml)."""
    import torch

    return gpu if runs_on_gpu(accelerator, torch.cuda.is_available()) else cpu


def debug_tag(debug_run) -> str:
    """Runs of a debug preset (debug_run: true) live in <name>_debug, apart from the real run."""
    return "_debug" if debug_run in (True, "true", "True") else ""


def _ckpt_run(ckpt_path) -> str:
    """eval.py's run name: ``<run>_<stem>`` for <run>/checkpoints/<stem>.ckpt, else the file's
    stem; each checkpoint's evaluation has its own directory (best and last apart)."""
    path = Path(str(ckpt_path))
    return f"{path.parent.parent.name}_{path.stem}" if path.parent.name == "checkpoints" else path.stem


class RunNameError(InterpolationResolutionError, CompactHydraException):
    """A bad ``name`` met while Hydra resolves the run directory: Hydra prints the message
    alone (a compact error) and OmegaConf passes it on unwrapped (an interpolation error)."""


def _run_name(name) -> str:
    """``${run_name:${name}}``: the name, refused unless it is one folder name (preflight)."""
    from .preflight import name_problem

    problem = name_problem(name)
    if problem:
        raise RunNameError(problem)
    return str(name)


def register_resolvers() -> None:
    """Idempotent: registering twice is allowed (run.py and tests both call it)."""
    for name, fn in (
        ("repo_root", repo_root),
        ("data_name", _data_name),
        ("share_tag", _share_tag),
        ("seed_tag", _seed_tag),
        ("if_gpu", _if_gpu),
        ("debug_tag", debug_tag),
        ("ckpt_run", _ckpt_run),
        ("run_name", _run_name),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()


def dataset_name(cfg: DictConfig) -> str:
    return _data_name(_root_=cfg)


Section = TypeVar("Section")


def section(cls: type[Section], node, key: str) -> Section:
    """``cls(**node)`` for the config section ``key``: ``cls`` is a frozen dataclass of the
    section's keys without defaults, because conf/ holds them. A missing or unknown key is an
    error naming ``<key>.<name>``. ``node`` may be a DictConfig, a dict or a ``cls`` already."""
    if isinstance(node, cls):
        return node
    values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [f"{key}.{k}" for k in values if k not in names]
    missing = [f"{key}.{k}" for k in names if k not in values]
    if unknown or missing:
        problems = ([f"unknown key {', '.join(unknown)}"] if unknown else []) + (
            [f"missing key {', '.join(missing)}"] if missing else []
        )
        raise ValueError(
            f"{'; '.join(problems)}: {key} takes exactly {', '.join(names)} (conf/{key}/*.yaml set them all)"
        )
    return cls(**values)


# Config groups whose option names are numbers (conf/frames/8.yaml, 32.yaml). Hydra parses
# `frames=32` as an int and rejects it as a group choice, so the entry points quote it.
NUMERIC_GROUPS = ("frames",)


def quote_numeric_choices(args: list[str]) -> list[str]:
    """``frames=32`` -> ``frames='32'`` (also in sweeps: ``frames=8,32``); others unchanged."""
    out = []
    for arg in args:
        for group in NUMERIC_GROUPS:
            for prefix in (group + "=", "+" + group + "=", "~" + group + "="):
                if arg.startswith(prefix):
                    values = arg[len(prefix) :].split(",")
                    if values and all(v.isdigit() for v in values):
                        arg = prefix + ",".join(f"'{v}'" for v in values)
        out.append(arg)
    return out


def resolved(node) -> dict:
    """A config node as plain, resolved Python containers (what modules and checkpoints store)."""
    return OmegaConf.to_container(node, resolve=True)
