"""ImageNet initialisation (paper Sec. 4.2): a 2D ResNet state dict inflated into a video net.

The video networks use torchvision's module names, so every 2D key has one video key of the
same name: k x k kernels become 1 x k x k; C3D's 3x1x1 kernels are inflated ("mean": the 2D
weight divided by 3 in each tap, I3D style; "center": the 2D weight in the middle tap and
zeros elsewhere, so the network starts as C2D); CoST's 3x3 weights are copied as they are
(to all three views without sharing). CoST coefficient parameters keep their own init, and
the classifier is skipped when the class count differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

INFLATE_MODES = ("mean", "center")
_COST_UNSHARED = ("weight_tw", "weight_th")
_COST_OWN_INIT = ("coef_logits", "coef_proj.weight", "coef_fc.weight")


@dataclass
class InflationReport:
    """What ``load_imagenet_2d`` did with every key."""

    copied: list[str] = field(default_factory=list)
    inflated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    kept_init: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"ImageNet init: {len(self.copied)} tensors copied, {len(self.inflated)} inflated, "
            f"{len(self.kept_init)} kept their own init (CoST coefficients), "
            f"skipped: {', '.join(self.skipped) or 'none'}"
        )


def _read_state_dict(state) -> dict[str, torch.Tensor]:
    if isinstance(state, (str, Path)):
        raise TypeError(
            f"load_imagenet_2d takes a state dict, not the path {state}: read the file weights-only "
            "with cost.checkpoints.imagenet_state(path) first"
        )
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise TypeError(f"expected a state dict (name -> tensor), got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def inflate_kernel(weight: torch.Tensor, time_size: int, mode: str = "mean") -> torch.Tensor:
    """A 2D kernel (O x I x kh x kw) as a 3D one (O x I x time_size x kh x kw)."""
    if mode not in INFLATE_MODES:
        raise ValueError(f"model.inflate={mode!r}: choose one of {', '.join(INFLATE_MODES)}")
    if time_size == 1:
        return weight.unsqueeze(2)
    if mode == "mean":
        return weight.unsqueeze(2).repeat(1, 1, time_size, 1, 1) / time_size
    out = weight.new_zeros(*weight.shape[:2], time_size, *weight.shape[2:])
    out[:, :, time_size // 2] = weight
    return out


def load_imagenet_2d(model: nn.Module, state_dict, inflate: str = "mean") -> InflationReport:
    """Initialise ``model`` (any arch) from a torchvision-layout 2D ResNet state dict.

    ``state_dict`` is a dict (cost.checkpoints.imagenet_state reads a file). Raises
    ``ValueError`` naming the keys when the checkpoint does not fit the model (wrong depth,
    missing layers, shape mismatch) and leaves the model unchanged in that case.
    """
    if inflate not in INFLATE_MODES:
        raise ValueError(f"model.inflate={inflate!r}: choose one of {', '.join(INFLATE_MODES)}")
    source = _read_state_dict(state_dict)
    target = model.state_dict()
    report, new_state, problems = InflationReport(), {}, []

    for key, dst in target.items():
        owner, _, name = key.rpartition(".")
        src_key = f"{owner}.weight" if name in _COST_UNSHARED else key
        if any(key.endswith(suffix) for suffix in _COST_OWN_INIT):
            report.kept_init.append(key)
            continue
        if src_key not in source:
            problems.append(f"missing in checkpoint: {src_key}")
            continue
        src = source[src_key]
        if key.startswith("fc.") and src.shape != dst.shape:
            report.skipped.append(f"{key} ({tuple(src.shape)} vs model {tuple(dst.shape)})")
            continue
        if src.shape == dst.shape:
            new_state[key] = src.to(dst.dtype)
            report.copied.append(key)
        elif src.dim() == 4 and dst.dim() == 5 and src.shape == dst.shape[:2] + dst.shape[3:]:
            new_state[key] = inflate_kernel(src, dst.shape[2], inflate).to(dst.dtype)
            report.inflated.append(key)
        else:
            problems.append(f"shape mismatch: {key} checkpoint {tuple(src.shape)} vs model {tuple(dst.shape)}")

    used = {k.rpartition(".")[0] + ".weight" if k.endswith(_COST_UNSHARED) else k for k in target}
    problems += [f"unexpected in checkpoint: {k}" for k in source if k not in used]
    if problems:
        shown = "\n  ".join(problems[:12]) + ("\n  ..." if len(problems) > 12 else "")
        raise ValueError(
            f"the 2D checkpoint does not match this {getattr(model, 'arch', 'model')} network "
            f"({len(problems)} problems; is model.depth the checkpoint's depth?):\n  {shown}"
        )
    model.load_state_dict(new_state, strict=False)
    return report
