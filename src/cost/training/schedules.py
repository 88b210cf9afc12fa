"""Optimiser and per-iteration lr schedule of a recipe (docs/method.md#training-recipe).

The optimiser and the schedule are ``_target_`` configs (conf/optim/optimizer/, conf/optim/scheduler/),
built from torch's classes: the paper's and the authors' recipes are SGD with ``MultiStepLR``
decay at 0.5 and 0.75 of the run (paper: 300k, 450k of 600k iterations; authors: epochs 80/120
of 160 and 24/36 of 48), stepped every optimizer step. An optional ``LinearLR`` warm-up is
chained to it (``ChainedScheduler``: the two factors multiply, so a warm-up longer than a
milestone still decays). Lightning checkpoints and restores the scheduler's state.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from hydra.utils import get_class
from torch import nn
from torch.optim.lr_scheduler import ChainedScheduler, LinearLR

from cost.models import CoST

from .config import section


@dataclass(frozen=True)
class OptimConfig:
    """The ``optim`` section (conf/optim/*.yaml, which hold the values and their meaning)."""

    optimizer: dict
    scheduler: dict
    lr: float
    base_batch_size: int
    scale_lr: bool
    weight_decay: float
    no_decay_bn: bool
    no_decay_coef: bool
    warmup_steps: int
    warmup_start_factor: float
    grad_clip: float | None
    label_smoothing: float
    mixup_alpha: float
    cutmix_alpha: float
    ema_decay: float | None

    @classmethod
    def of(cls, node) -> OptimConfig:
        """From the ``optim`` DictConfig or dict (e.g. the module's hyper-parameters)."""
        return section(cls, node, "optim")


def recipe_file(name: str) -> dict:
    """conf/optim/<name>.yaml as Hydra composes it (its optimiser and scheduler filled in): the
    recipe for code that runs outside src/run.py (benchmarks, tests)."""
    from hydra import compose, initialize_config_dir

    from .config import CONFIG_DIR, resolved

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return resolved(compose(f"optim/{name}").optim)


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
        "optimizer": str(o.optimizer.get("_target_")),
        "scheduler": str(o.scheduler.get("_target_")),
        # the opt-in options that are on (docs/method.md#recipe-options)
        **{k: v for k, v in _options(o).items() if v},
    }


def _options(o: OptimConfig) -> dict:
    return {
        "label_smoothing": o.label_smoothing,
        "mixup_alpha": o.mixup_alpha,
        "cutmix_alpha": o.cutmix_alpha,
        "ema_decay": o.ema_decay,
    }


def describe_recipe(r: dict) -> str:
    scaling = (
        f"linear scaling from lr {r['base_lr']:g} at batch {r['base_batch_size']}" if r["scale_lr"] else "no lr scaling"
    )
    classes = f"{r['optimizer'].rsplit('.', 1)[-1]} + {r['scheduler'].rsplit('.', 1)[-1]}"
    options = [f"{k} {r[k]:g}" for k in ("label_smoothing", "mixup_alpha", "cutmix_alpha", "ema_decay") if k in r]
    return (
        f"batch {r['per_device_batch']} per device x {r['devices']} device(s) x {r['accumulate_grad_batches']} "
        f"accumulation = total batch {r['total_batch']}; lr {r['lr']:g} ({scaling}); {classes}"
        + (f"; {', '.join(options)}" if options else "")
    )


def milestone_steps(milestones: Sequence[float], total_steps: int) -> list[int]:
    """Values < 1 are fractions of ``total_steps``; values >= 1 are absolute iterations."""
    out = []
    for m in milestones:
        m = float(m)
        if m < 0:
            raise ValueError(f"optim.scheduler.milestones must be >= 0, got {m}")
        out.append(int(round(m * total_steps)) if m < 1 else int(m))
    return sorted(out)


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


# Keys of a scheduler config measured in the run's optimizer steps: null there is the whole run.
RUN_LENGTH_KEYS = ("T_max", "total_iters")
# Arguments the recipe itself gives the classes (lr by batch, weight decay per parameter group).
_SET_BY_RECIPE = {"optimizer": ("params", "lr", "weight_decay"), "scheduler": ("optimizer",)}


def _target(o: OptimConfig, key: str) -> tuple[type, dict]:
    """The class of ``optim.<key>._target_`` and its other keys, checked against its signature."""
    node = dict(getattr(o, key) or {})
    if "_target_" not in node:
        raise ValueError(f"optim.{key} has no _target_: give a class (see conf/optim/{key}/)")
    try:
        cls = get_class(str(node.pop("_target_")))
    except Exception as err:  # noqa: BLE001 - Hydra wraps the import error
        raise ValueError(f"optim.{key}._target_: {err}") from None
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "args", "kwargs"}
    for name in node:
        if name in _SET_BY_RECIPE[key]:
            raise ValueError(
                f"optim.{key}.{name} is set by the recipe (optim.lr scaled by batch, optim.weight_decay "
                f"per parameter group): remove it from optim.{key}"
            )
        if name not in accepted:
            takes = ", ".join(sorted(accepted - set(_SET_BY_RECIPE[key])))
            raise ValueError(f"optim.{key}.{name} is not an argument of {cls.__qualname__} (it takes {takes})")
    return cls, node


def check_recipe(optim_cfg) -> None:
    """The optimiser and scheduler classes exist and take their keys; the recipe options are in
    range. One error listing every problem."""
    o = OptimConfig.of(optim_cfg)
    problems = []
    for key in ("optimizer", "scheduler"):
        try:
            _target(o, key)
        except ValueError as err:
            problems.append(str(err))
    for key, value, ok, what in (
        ("label_smoothing", o.label_smoothing, lambda v: 0 <= v < 1, "in [0, 1)"),
        ("mixup_alpha", o.mixup_alpha, lambda v: v >= 0, ">= 0 (0 = off)"),
        ("cutmix_alpha", o.cutmix_alpha, lambda v: v >= 0, ">= 0 (0 = off)"),
        ("ema_decay", o.ema_decay, lambda v: 0 < v < 1, "null (off) or in (0, 1), e.g. 0.999"),
    ):
        real = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ((value is None and key == "ema_decay") or (real and ok(value))):
            problems.append(f"optim.{key}={value!r} must be {what}")
    if problems:
        raise ValueError("\n  ".join(problems))


def build_scheduler(optimizer: torch.optim.Optimizer, optim_cfg, total_steps: int):
    """``optim.scheduler`` over ``total_steps`` optimizer steps (milestones < 1 are fractions of
    it, a null ``T_max``/``total_iters`` is all of it), after a ``LinearLR`` warm-up when
    ``optim.warmup_steps`` > 0."""
    o = OptimConfig.of(optim_cfg)
    cls, kwargs = _target(o, "scheduler")
    if "milestones" in kwargs:
        kwargs["milestones"] = milestone_steps(kwargs["milestones"], total_steps)
    for key in RUN_LENGTH_KEYS:
        if key in kwargs and kwargs[key] is None:
            kwargs[key] = total_steps
    warmup = int(o.warmup_steps)
    if warmup <= 0:
        return cls(optimizer, **kwargs)
    # The warm-up first: it sets the lr to start x lr, which the main schedule then scales.
    warm = LinearLR(optimizer, start_factor=float(o.warmup_start_factor), end_factor=1.0, total_iters=warmup)
    return ChainedScheduler([warm, cls(optimizer, **kwargs)], optimizer)


def build_optimizer(net: nn.Module, optim_cfg, total_batch_size: int, total_steps: int):
    """``optim.optimizer`` over the decay / no-decay parameter groups at the batch-scaled lr, and
    ``build_scheduler``'s schedule stepped every optimizer step, as Lightning's
    ``configure_optimizers`` expects."""
    o = OptimConfig.of(optim_cfg)
    groups = parameter_groups(net, float(o.weight_decay), bool(o.no_decay_bn), bool(o.no_decay_coef))
    cls, kwargs = _target(o, "optimizer")
    optimizer = cls(groups, lr=effective_lr(o, total_batch_size), **kwargs)
    scheduler = build_scheduler(optimizer, o, total_steps)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1, "name": "lr"},
    }
