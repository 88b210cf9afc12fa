"""The Lightning Trainer a config asks for, with atomic checkpoint writes and the cluster plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.accelerators import CPUAccelerator, CUDAAccelerator
from pytorch_lightning.plugins.environments import (
    LightningEnvironment,
    LSFEnvironment,
    MPIEnvironment,
    SLURMEnvironment,
    TorchElasticEnvironment,
)
from pytorch_lightning.plugins.io import TorchCheckpointIO

from .config import runs_on_gpu


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


def processes_per_node(cfg: DictConfig) -> int:
    """How many processes Lightning runs on each node: one per device of ``trainer.devices``."""
    accelerator = CUDAAccelerator if runs_on_gpu(cfg.trainer.accelerator, torch.cuda.is_available()) else CPUAccelerator
    devices = cfg.trainer.devices
    if str(devices) == "auto":
        return accelerator.auto_device_count()
    return len(accelerator.get_parallel_devices(accelerator.parse_devices(devices)))


def global_rank(cfg: DictConfig) -> int:
    """This process's global rank as Lightning will set it, known before the Trainer exists, so
    the run lock and every rank-zero file follow it: the cluster environment Lightning picks
    (torchrun/torchelastic, SLURM, LSF and MPI give the rank in their own variables), else the
    general-cluster launch where each node sets NODE_RANK (LightningEnvironment):
    node_rank * processes per node + local_rank."""
    plugins = cluster_plugins()
    environments = (TorchElasticEnvironment, SLURMEnvironment, LSFEnvironment, MPIEnvironment)  # Lightning's order
    env = plugins[0] if plugins else next((e() for e in environments if e.detect()), LightningEnvironment())
    if not isinstance(env, LightningEnvironment):
        return env.global_rank()
    node = env.node_rank()  # devices are counted only when there are other nodes before this one
    return (node * processes_per_node(cfg) if node else 0) + env.local_rank()


def speed_defaults_note(cfg: DictConfig) -> str | None:
    """The line a run starts with when trainer.precision or trainer.benchmark follow the
    accelerator (``${if_gpu:...}`` in conf/trainer/default.yaml): the values and why."""
    raw = OmegaConf.to_container(cfg.trainer, resolve=False)
    ruled = [key for key in ("precision", "benchmark") if str(raw.get(key)).startswith("${if_gpu:")]
    if not ruled:
        return None
    accelerator = str(cfg.trainer.accelerator)
    gpus = torch.cuda.device_count()
    on_gpu = runs_on_gpu(accelerator, gpus > 0)
    found = f", {gpus} CUDA GPU(s) found" if accelerator == "auto" else ""
    values = ", ".join(f"trainer.{key}={cfg.trainer[key]}" for key in ruled)
    return (
        f"{values}: the {'CUDA GPU' if on_gpu else 'CPU'} default (trainer.accelerator={accelerator}{found}); "
        f"set {' '.join(f'trainer.{key}=...' for key in ruled)} to choose"
    )


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
