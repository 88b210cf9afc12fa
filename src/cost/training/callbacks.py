"""Callbacks and loggers of a run, built from the config (rank-zero side effects only)."""

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from .config import section
from .progress import FlopRichModelSummary, PlainProgress, StepRichProgressBar

WANDB_ID_FILE = "wandb_id.txt"


@dataclass(frozen=True)
class CallbacksConfig:
    """The ``callbacks`` section (conf/callbacks/*.yaml, which hold the values and their meaning)."""

    checkpoint_every_n_steps: int | None
    monitor: str | None
    rich_progress: bool
    plain_progress: bool | str
    progress_every_n_steps: int | None
    model_summary_depth: int
    lr_monitor: bool

    @classmethod
    def of(cls, node) -> CallbacksConfig:
        return section(cls, node, "callbacks")


def build_callbacks(cfg, ckpt_dir: Path) -> list:
    c = CallbacksConfig.of(cfg.callbacks)
    callbacks = []
    every = c.checkpoint_every_n_steps
    if every and not cfg.trainer.fast_dev_run:
        # last.ckpt for resume: written every N optimizer steps (and at the end of fit).
        callbacks.append(
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="step{step:06d}",
                auto_insert_metric_name=False,
                every_n_train_steps=int(every),
                save_top_k=0,
                save_last=True,
            )
        )
        if c.monitor:
            # Best validation top-1 (checked at every validation).
            callbacks.append(
                ModelCheckpoint(
                    dirpath=ckpt_dir,
                    filename="best",
                    monitor=c.monitor,
                    mode="max",
                    save_top_k=1,
                    save_last=False,
                    auto_insert_metric_name=False,
                    enable_version_counter=False,
                )
            )
    if c.lr_monitor and _has_logger(cfg):
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    plain = c.plain_progress
    if plain == "auto":
        plain = not sys.stdout.isatty()  # a log file (SLURM, nohup): lines, not a live bar
    if plain:
        # 50: what Lightning logs at when trainer.log_every_n_steps is null.
        callbacks.append(PlainProgress(int(c.progress_every_n_steps or cfg.trainer.log_every_n_steps or 50)))
    elif c.rich_progress:
        callbacks.append(StepRichProgressBar())
    else:
        callbacks.append(TQDMProgressBar())
    callbacks.append(FlopRichModelSummary(max_depth=int(c.model_summary_depth)))
    return callbacks


def _has_logger(cfg) -> bool:
    """Any logger on: each ``logger.<key>`` with a config is built (see ``build_loggers``)."""
    return any(bool(node) for node in cfg.logger.values())


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
    if rank_zero_only.rank == 0:
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


def build_loggers(cfg, output_dir: Path, name: str) -> list:
    """Every ``logger.<key>`` with a ``_target_`` (conf/logger/*.yaml), built by Hydra with all
    its keys, so any option of the logger class works; null entries are off."""
    from hydra.utils import get_class, instantiate

    loggers = []
    for key, node in cfg.logger.items():
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
