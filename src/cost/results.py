"""What a run directory's ``results.json`` says: a training run or a re-test, and whether the
training run finished. One place for both questions: the sweep driver starts a fine-tune only
from a finished run, and the tables average training runs only, never re-tests."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = "results.json"
COMPLETE = ("top1", "top5", "num_videos")  # what a results.json holds once its test has run


def run_type(record: dict, run_dir: str | Path) -> str:
    """``"train"`` or ``"retest"``. Files written before results.json had ``run_type``: an
    eval.py re-test records its ``checkpoint`` but no ``global_step`` or ``recipe``, and its
    directory is named ``eval_<run>_<clips>x<crops>``."""
    if record.get("run_type") in ("train", "retest"):
        return record["run_type"]
    if Path(run_dir).name.startswith("eval_"):
        return "retest"
    if "checkpoint" in record and "global_step" not in record and "recipe" not in record:
        return "retest"
    return "train"


def stamp(run_dir: str | Path) -> tuple[int, int] | None:
    """The results.json's (inode, mtime in ns), None without one: take it before a job starts;
    an atomic rewrite changes both, and no clock is compared (cluster file servers' clocks drift)."""
    try:
        st = (Path(run_dir) / RESULTS).stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def saved_max_steps(run_dir: str | Path) -> int | None:
    """The step count the run's saved config trains to (its resolved ``config.yaml``, else
    Hydra's ``.hydra/config.yaml`` of older runs); None where the run ends otherwise (epochs,
    time, fast_dev_run) or no file can say."""
    import yaml

    for name in ("config.yaml", ".hydra/config.yaml"):
        try:
            trainer = yaml.safe_load((Path(run_dir) / name).read_text())["trainer"]
        except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
            continue
        return steps_to_finish(trainer)
    return None


def steps_to_finish(trainer) -> int | None:
    """``trainer.max_steps`` when it alone ends training, else None (a ``trainer`` mapping)."""
    steps = trainer.get("max_steps")
    if trainer.get("fast_dev_run") or trainer.get("max_time") or trainer.get("max_epochs") not in (-1, None):
        return None
    return steps if isinstance(steps, int) and steps > 0 else None


def unfinished(run_dir: str | Path, before: tuple | None = None, max_steps: int | None = None) -> str | None:
    """Why ``run_dir`` holds no finished training run, or None when it does: its results.json
    parses, has a test result, is a training run's, was rewritten since ``before`` (a
    ``stamp`` taken before the job; None: not checked) and is at ``max_steps`` (None: the
    run's saved config says) or was stopped early there."""
    path = Path(run_dir) / RESULTS
    if not path.is_file():
        return f"no {path}"
    if before is not None and stamp(run_dir) == before:
        return f"{path} is the one from before this job (the job did not write it)"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return f"{path} cannot be read: {e}"
    if not isinstance(record, dict):
        return f"{path} is not a JSON object"
    missing = [k for k in COMPLETE if k not in record]
    if missing:
        return f"{path} lacks {', '.join(missing)}"
    if not record["num_videos"] or record["top1"] is None:
        return f"{path}: no test video was scored"
    if run_type(record, run_dir) != "train":
        return f"{path} is an eval.py re-test, not a training run"
    steps = max_steps if max_steps is not None else saved_max_steps(run_dir)
    step = record.get("global_step")
    stopped_early = (record.get("recipe") or {}).get("stopped_early_at_step")  # callbacks.early_stopping_patience
    if steps is not None and isinstance(step, int) and step < steps and stopped_early != step:
        return f"{path}: training stopped at step {step} of {steps}"
    return None
