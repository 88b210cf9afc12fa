"""Optimiser and per-iteration lr schedules: the paper's and the authors' recipes (docs/method.md#training-recipe).

Both recipes are SGD with step decay at 0.5 and 0.75 of the run (paper: 300k, 450k of 600k
iterations; authors: epochs 80/120 of 160 and 24/36 of 48), so one LambdaLR stepped every
optimizer step covers both, plus optional linear warm-up and linear lr scaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from cost.models import CoST

from .config import section


@dataclass(frozen=True)
class OptimConfig:
    """The ``optim`` section (conf/optim/*.yaml, which hold the values and their meaning)."""

    lr: float
    base_batch_size: int
    scale_lr: bool
    momentum: float
    nesterov: bool
    weight_decay: float
    no_decay_bn: bool
    no_decay_coef: bool
    milestones: Sequence[float]
    gamma: float
    warmup_steps: int
    warmup_start_factor: float
    grad_clip: float | None

    @classmethod
    def of(cls, node) -> OptimConfig:
        """From the ``optim`` DictConfig or dict (e.g. the module's hyper-parameters)."""
        return section(cls, node, "optim")


def effective_lr(optim_cfg, total_batch_size: int) -> float:
    """Base lr, linearly scaled by total batch / base batch when ``optim.scale_lr``."""
    o = OptimConfig.of(optim_cfg)
    return float(o.lr) * (total_batch_size / float(o.base_batch_size) if o.scale_lr else 1.0)


def batch_recipe(optim_cfg, per_device: int, devices: int, accumulate: int) -> dict:
    """The batch and lr the run really uses, printed at start and kept in results.json."""
    o = OptimConfig.of(optim_cfg)
    total = int(per_device) * int(devices) * int(accumulate)
    return {
        "per_device_batch": int(per_device),
        "devices": int(devices),
        "accumulate_grad_batches": int(accumulate),
        "total_batch": total,
        "base_lr": float(o.lr),
        "base_batch_size": int(o.base_batch_size),
        "scale_lr": bool(o.scale_lr),
        "lr": effective_lr(o, total),
    }


def describe_recipe(r: dict) -> str:
    scaling = (
        f"linear scaling from lr {r['base_lr']:g} at batch {r['base_batch_size']}" if r["scale_lr"] else "no lr scaling"
    )
    return (
        f"batch {r['per_device_batch']} per device x {r['devices']} device(s) x {r['accumulate_grad_batches']} "
        f"accumulation = total batch {r['total_batch']}; lr {r['lr']:g} ({scaling})"
    )


def milestone_steps(milestones: Sequence[float], total_steps: int) -> list[int]:
    """Values < 1 are fractions of ``total_steps``; values >= 1 are absolute iterations."""
    out = []
    for m in milestones:
        m = float(m)
        if m < 0:
            raise ValueError(f"optim.milestones must be >= 0, got {m}")
        out.append(int(round(m * total_steps)) if m < 1 else int(m))
    return sorted(out)


def lr_factor(step: int, milestones: Sequence[int], gamma: float, warmup_steps: int, warmup_start: float) -> float:
    """Multiplier of the base lr at optimizer step ``step`` (0-based)."""
    factor = gamma ** sum(step >= m for m in milestones)
    if warmup_steps > 0 and step < warmup_steps:
        factor *= warmup_start + (1.0 - warmup_start) * step / warmup_steps
    return factor


def parameter_groups(net: nn.Module, weight_decay: float, no_decay_bn: bool, no_decay_coef: bool) -> list[dict]:
    """Split parameters into decayed and not decayed (BN and/or CoST coefficient params)."""
    skip: set[int] = set()
    for module in net.modules():
        if no_decay_bn and isinstance(module, nn.modules.batchnorm._BatchNorm):
            skip.update(id(p) for p in module.parameters(recurse=False))
        if no_decay_coef and isinstance(module, CoST):
            for name, p in module.named_parameters():
                if name.startswith("coef_"):
                    skip.add(id(p))
    params = [p for p in net.parameters() if p.requires_grad]
    decay = [p for p in params if id(p) not in skip]
    no_decay = [p for p in params if id(p) in skip]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(net: nn.Module, optim_cfg, total_batch_size: int, total_steps: int):
    """SGD + LambdaLR (interval "step") as Lightning's configure_optimizers expects."""
    o = OptimConfig.of(optim_cfg)
    groups = parameter_groups(net, float(o.weight_decay), bool(o.no_decay_bn), bool(o.no_decay_coef))
    optimizer = torch.optim.SGD(
        groups, lr=effective_lr(o, total_batch_size), momentum=float(o.momentum), nesterov=bool(o.nesterov)
    )
    steps = milestone_steps(o.milestones, total_steps)
    gamma, warmup, start = float(o.gamma), int(o.warmup_steps), float(o.warmup_start_factor)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, steps, gamma, warmup, start))
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1, "name": "lr"},
    }
