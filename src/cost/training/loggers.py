"""The loggers of a run: every ``logger.<key>`` of the config (``build_loggers``; W&B offline
unless logged in, its run id kept in the run directory), and a CSV logger whose metrics.csv
survives crashes and resumes.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` when its folder already holds one, so every
resume (and every SLURM requeue) lost the history. ``ResumableCSVLogger`` keeps it:

* one row per step: everything logged at a step (train, lr, validation, test) is merged into
  that step's row, so each step appears exactly once;
* on resume, the rows already in the file are read back; a step that the resumed run logs
  again (steps after the checkpoint that were logged before the crash and are now replayed)
  has its values **replaced by the replay**; values the replay does not log again are kept;
* rows are flushed whenever a checkpoint is saved, before its file is written
  (``preemption.StopOnSignal.on_save_checkpoint``), so every step up to a checkpoint is on disk
  before the run can be resumed from it; the file is rewritten through a temporary file and a
  rename whenever earlier rows change, and appended to otherwise.
"""

from __future__ import annotations

import csv
import os
import uuid
from pathlib import Path
from typing import cast

from lightning_fabric.loggers.logger import rank_zero_experiment
from omegaconf import OmegaConf
from pytorch_lightning.loggers import CSVLogger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.utilities import rank_zero_only

WANDB_ID_FILE = "wandb_id.txt"


def read_rows(path: Path) -> dict[int, dict]:
    """``metrics.csv`` as {step: {metric: value}} (empty cells dropped; a torn last line skipped)."""
    rows: dict[int, dict] = {}
    if not path.is_file():
        return rows
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                step = int(float(row.get("step") or ""))
            except ValueError:  # a line cut by a crash
                continue
            values = {k: v for k, v in row.items() if k and k != "step" and v not in (None, "")}
            rows.setdefault(step, {}).update(values)
    return rows


class _MergingWriter(ExperimentWriter):
    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self.rows = read_rows(Path(self.metrics_file_path))
        self._written: set[int] = set(self.rows)
        self._dirty_old_rows = False
        self.metrics_keys = sorted({k for r in self.rows.values() for k in r})

    def _check_log_dir_exists(self) -> None:
        """Lightning deletes an existing metrics.csv here; this writer continues it instead."""

    def log_metrics(self, metrics_dict: dict, step: int | None = None) -> None:
        if step is None:
            step = max(self.rows, default=-1) + 1
        values = {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics_dict.items()}
        if step in self._written:
            self._dirty_old_rows = True  # a replayed or later-merged step: rewrite the file
        self.rows.setdefault(int(step), {}).update(values)
        self.metrics.append({"step": step})  # marks unsaved work for the base class's bookkeeping

    def save(self) -> None:
        if not self.metrics:
            return
        path = Path(self.metrics_file_path)
        new_steps = sorted(set(self.rows) - self._written)
        keys = sorted({k for r in self.rows.values() for k in r})
        columns = keys + ["step"]
        if (
            self._dirty_old_rows
            or keys != self.metrics_keys
            or not path.is_file()
            or (self._written and new_steps and new_steps[0] < max(self._written))
        ):
            tmp = path.with_name(f".{path.name}.tmp")
            try:
                with open(tmp, "w", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=columns)
                    writer.writeheader()
                    writer.writerows({**self.rows[s], "step": s} for s in sorted(self.rows))
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            with open(path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=columns).writerows({**self.rows[s], "step": s} for s in new_steps)
        self.metrics_keys = keys
        self._written = set(self.rows)
        self._dirty_old_rows = False
        self.metrics = []


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` that keeps ``<save_dir>/<name>/<version>/metrics.csv`` across resumes (see
    the module docstring). Same arguments as Lightning's; ``version=""`` puts the files directly
    in ``<save_dir>/<name>``."""

    def __init__(self, save_dir, name: str = "csv", version: int | str | None = "", **kwargs) -> None:
        super().__init__(save_dir=save_dir, name=name, version=version, **kwargs)

    @property
    @rank_zero_experiment
    def experiment(self) -> _MergingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _MergingWriter(log_dir=self.log_dir)
        return cast(_MergingWriter, self._experiment)


def _has_logger(logger_cfg) -> bool:
    """Any logger on: each ``logger.<key>`` with a config is built (see ``build_loggers``)."""
    return any(bool(node) for node in logger_cfg.values())


def _wandb_mode(requested) -> str:
    """Online only when asked (WANDB_MODE / logger.wandb.mode) or logged in; else offline."""
    if requested:
        return str(requested)
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    try:
        if netrc.is_file() and "api.wandb.ai" in netrc.read_text():
            return "online"
    except OSError:
        pass
    return "offline"


def wandb_run_id(output_dir: Path) -> str:
    """The run's W&B id, kept in the run directory so a resumed run continues the same W&B run."""
    path = Path(output_dir) / WANDB_ID_FILE
    if path.is_file():
        return path.read_text().strip()
    run_id = uuid.uuid4().hex[:12]
    if rank_zero_only.rank == 0:  # type: ignore[attr-defined]  # Lightning sets it on the function
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(run_id + "\n")
    return run_id


def _wandb_options() -> set[str]:
    """Every key a ``WandbLogger`` config may hold: its own arguments and ``wandb.init``'s."""
    import inspect

    import wandb

    own = set(inspect.signature(WandbLogger.__init__).parameters) - {"self", "kwargs"}
    return own | set(inspect.signature(wandb.init).parameters)


def _wandb_overrides(node, output_dir: Path) -> dict:
    """Only what the config leaves null and this project decides: the mode (offline unless
    logged in) and the run id (kept in the run directory, so a resume continues the W&B run).
    Other null fields stay null, so W&B's own defaults and variables (WANDB_ENTITY,
    WANDB_RUN_GROUP, WANDB_TAGS, ...) apply."""
    unknown = sorted(set(node) - {"_target_"} - _wandb_options())
    if unknown:
        raise ValueError(
            f"logger.wandb.{unknown[0]} is not an option of WandbLogger or wandb.init "
            f"(unknown: {', '.join(unknown)}); see their documentation for the valid keys"
        )
    # Every key of a WandbLogger config is optional (W&B has its own defaults), mode and id too.
    mode = _wandb_mode(node.get("mode"))
    os.environ.setdefault("WANDB_MODE", mode)
    os.environ.setdefault("WANDB_SILENT", "true")
    out = {"mode": mode}
    if node.get("id") is None and not os.environ.get("WANDB_RUN_ID"):
        out["id"] = wandb_run_id(output_dir)
    return out


def build_loggers(logger_cfg, output_dir: Path) -> list:
    """Every ``logger.<key>`` with a ``_target_`` (conf/logger/*.yaml), built by Hydra with all
    its keys, so any option of the logger class works; null entries are off."""
    from hydra.utils import get_class, instantiate

    loggers = []
    for key, node in logger_cfg.items():
        if not node:
            continue
        if "_target_" not in node:
            raise ValueError(f"logger.{key} has no _target_: give the logger class (see conf/logger/wandb.yaml)")
        extra = {}
        if issubclass(get_class(node._target_), WandbLogger):
            extra = _wandb_overrides(node, output_dir)
        loggers.append(instantiate(node, **extra, _convert_="all"))
    return loggers


def log_config(loggers: list, cfg) -> None:
    """The resolved config as hyper-parameters of every logger."""
    container = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(container)
