"""The Lightning Trainer a config asks for, with atomic checkpoint writes and the cluster plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.plugins.environments import SLURMEnvironment
from pytorch_lightning.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are written to a temporary file and renamed: a job killed while saving
    leaves the previous last.ckpt intact instead of a truncated one."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # a failed write or rename (a full disk) leaves nothing


def cluster_plugins() -> list:
    """Under submitit's SLURM executor (hydra/launcher=slurm), submitit requeues a preempted
    or timed-out job itself and the rerun resumes from last.ckpt; Lightning's own SLURM
    auto-requeue would requeue the same job a second time, so it is turned off there. A job
    started with plain sbatch (``--signal=USR1@120 --requeue``) gets Lightning's requeue on
    SIGUSR1; SLURM then sends SIGTERM, which saves last.ckpt (``callbacks.StopOnSignal``)."""
    if os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and SLURMEnvironment.detect():
        return [SLURMEnvironment(auto_requeue=False)]
    return []  # Lightning's default under sbatch: SLURMEnvironment(auto_requeue=True, requeue_signal=SIGUSR1)


def build_trainer(cfg: DictConfig, output_dir: Path, callbacks: list, loggers: list) -> pl.Trainer:
    has_ckpt = any(isinstance(c, pl.callbacks.ModelCheckpoint) for c in callbacks)
    clip = cfg.optim.grad_clip
    plugins = cluster_plugins() + [AtomicCheckpointIO()]
    return instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers if loggers else False,
        default_root_dir=str(output_dir),
        enable_checkpointing=has_ckpt,
        enable_progress_bar=any(isinstance(c, pl.callbacks.ProgressBar) for c in callbacks),
        gradient_clip_val=float(clip) if clip else None,
        plugins=plugins,
        _convert_="all",
    )
