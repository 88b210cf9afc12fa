"""Helpers of the training tests: config composition, paths, subprocess environment."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from cost.training.config import CONFIG_DIR, REPO_ROOT, quote_numeric_choices, register_resolvers

register_resolvers()
os.environ.setdefault("WANDB_MODE", "offline")  # never reach the W&B server from tests
os.environ.setdefault("WANDB_SILENT", "true")

RUN_PY = REPO_ROOT / "src" / "run.py"
EVAL_PY = REPO_ROOT / "src" / "eval.py"
PYTHON = sys.executable

# Tiny and fast everywhere: no loader workers, small steps.
FAST = ["data.num_workers=0", "trainer.accelerator=cpu", "callbacks.rich_progress=false", "print_tables=false"]


def compose_cfg(overrides: list[str], config_name: str = "config"):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=quote_numeric_choices(overrides))


def run_overrides(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [f"paths.data_dir={data_dir}", f"paths.log_dir={out}", *FAST, *extra]


def text_rows(path: Path) -> list[dict]:
    """A CSV file as rows of strings: the files that are not coefficient CSVs (metrics.csv,
    predictions.csv, class_accuracy.csv), read as the bytes say."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def subprocess_env() -> dict:
    # Not WANDB_SERVICE: an in-process W&B run of an earlier test leaves it pointing at a
    # service that is gone, and a child process would try to attach to it.
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env["WANDB_MODE"] = "offline"
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def recipe_lr(step: int, base: float, milestones: list[int], warmup: int, start: float, gamma: float = 0.1) -> float:
    """The step-decay recipe's lr at optimizer step ``step`` by its formula (docs/method.md#training-recipe):
    base x gamma per milestone passed, times the linear warm-up factor while warming up."""
    factor = gamma ** sum(step >= m for m in milestones)
    if warmup > 0 and step < warmup:
        factor *= start + (1.0 - start) * step / warmup
    return base * factor
