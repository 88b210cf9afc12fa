"""Callbacks and loggers of a run, built from the config (rank-zero side effects only)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from omegaconf import OmegaConf
from pytorch_lightning.callbacks import (
    LearningRateMonitor,
    ModelCheckpoint,
    RichModelSummary,
    RichProgressBar,
    TQDMProgressBar,
)
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from .loggers import ResumableCSVLogger

WANDB_ID_FILE = "wandb_id.txt"


def build_callbacks(cfg, ckpt_dir: Path) -> list:
    c = cfg.callbacks
    callbacks = []
    every = c.get("checkpoint_every_n_steps")
    if every and not cfg.trainer.get("fast_dev_run"):
        # last.ckpt for resume: written every N optimizer steps (and at the end of fit).
        callbacks.append(
            ModelCheckpoint(dirpath=ckpt_dir, filename="step{step:06d}", auto_insert_metric_name=False,
                            every_n_train_steps=int(every), save_top_k=0, save_last=True)
        )
        if c.get("monitor"):
            # Best validation top-1 (checked at every validation).
            callbacks.append(
                ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=c.monitor, mode="max",
                                save_top_k=1, save_last=False, auto_insert_metric_name=False,
                                enable_version_counter=False)
            )
    if c.get("lr_monitor") and _has_logger(cfg):
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    if c.get("rich_progress", True):
        callbacks.append(RichProgressBar())
    else:
        callbacks.append(TQDMProgressBar())
    callbacks.append(RichModelSummary(max_depth=int(c.get("model_summary_depth", 1))))
    return callbacks


def _has_logger(cfg) -> bool:
    return bool(cfg.logger.get("wandb")) or bool(cfg.logger.get("csv"))


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


def build_loggers(cfg, output_dir: Path, name: str) -> list:
    loggers = []
    lc = cfg.logger
    if lc.get("csv"):
        loggers.append(ResumableCSVLogger(save_dir=str(output_dir), name="csv", version=""))
    if lc.get("wandb"):
        w = lc.wandb
        mode = _wandb_mode(w.get("mode"))
        os.environ.setdefault("WANDB_MODE", mode)
        os.environ.setdefault("WANDB_SILENT", "true")
        logger = WandbLogger(
            name=name, project=w.get("project", "cost"), entity=w.get("entity"),
            tags=list(w.get("tags") or []), save_dir=str(output_dir), id=wandb_run_id(output_dir),
            resume="allow", mode=mode, log_model=False,
        )
        loggers.append(logger)
    return loggers


def log_config(loggers: list, cfg) -> None:
    """The resolved config as hyper-parameters of every logger."""
    container = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(container)
