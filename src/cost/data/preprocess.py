"""`DevicePreprocessor`: the device half of the transforms, as a module the model owns.

With `data.device_transforms` the loader workers draw and cut (`transforms.DeferredTransform`),
and a batch crosses to the model as tensors only: uint8 "clips" and the views' integer rows
"aug". The data module builds this module once from the data config
(`VideoDataModule.device_preprocessor`); the LightningModule takes it at `setup` and runs it
on each batch after the transfer, so scale, crop, flip and normalisation run batched on the
model's device. Its constants (mean and std) are buffers that move with the model but are not
saved: checkpoints are the same with or without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .transforms import EvalTransform, MultiViewTransform, TrainTransform


class DevicePreprocessor(nn.Module):
    """Finish collated uint8 batches: `forward(batch, split)` -> the batch with float "clips".

    transforms: the split's transform ("train", "val", "test") whose `on_device` finishes it;
    they share one mean and std (the data module's `data.mean`, `data.std`).
    """

    def __init__(self, transforms: Mapping[str, TrainTransform | EvalTransform | MultiViewTransform]):
        super().__init__()
        self.transforms = dict(transforms)
        norms = {(tuple(t.mean), tuple(t.std)) for t in self.transforms.values()}
        if len(norms) != 1:
            raise ValueError(f"the transforms of one data module share one mean and std, got {sorted(norms)}")
        ((mean, std),) = norms
        # float64: the normalisation is computed from the same float64 values as the Python floats
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float64), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float64), persistent=False)

    def forward(self, batch: dict, split: str) -> dict:
        """A collated batch of `split` from the device path (uint8 "clips", "aug") -> the same
        batch with normalised float32 "clips" and without "aug"."""
        if split not in self.transforms:
            raise KeyError(f"no device transform for the {split!r} split (have {sorted(self.transforms)})")
        out = {k: v for k, v in batch.items() if k != "aug"}
        out["clips"] = self.transforms[split].on_device(batch["clips"], batch["aug"], self.mean, self.std)
        return out
