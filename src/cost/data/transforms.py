"""Spatial transforms: uint8 frames (T, H, W, 3) -> normalised float clips (3, T, H, W).

Resizing is bilinear with antialiasing on the uint8 frames, before the float conversion
(torch's uint8 kernel is over ten times faster than the float one here; `cost.bench data`). The crop for training is taken
after scaling the short side to a random size (SPEC: [256, 320] then 224); validation
scales to one short side and takes the centre crop; test keeps the full frame
(`num_crops=1`, the paper) or takes three square crops along the long side (`num_crops=3`,
the authors' code).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_tchw(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> uint8 (T, 3, H, W), a view (channels-last in memory)."""
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {tuple(frames.shape)} {frames.dtype}")
    return frames.permute(0, 3, 1, 2)


def unit_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [0, 1], same layout."""
    return x.float().div_(255.0)


def to_float(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float32 (T, 3, H, W) in [0, 1]."""
    return unit_range(to_tchw(frames))


def resize_short_side(x: torch.Tensor, size: int) -> torch.Tensor:
    """Scale (T, 3, H, W) so that min(H, W) == size, keeping the aspect ratio (uint8 or float)."""
    h, w = x.shape[-2:]
    if min(h, w) == size:
        return x
    if h <= w:
        new_h, new_w = size, max(1, round(w * size / h))
    else:
        new_h, new_w = max(1, round(h * size / w)), size
    out = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
    return out if out.dtype == torch.uint8 else out.clamp_(0.0, 1.0)


def crop(x: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if height > h or width > w:
        raise ValueError(f"crop {height}x{width} larger than frame {h}x{w}; make the crop <= the short side")
    return x[..., top:top + height, left:left + width]


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return crop(x, (h - size) // 2, (w - size) // 2, size, size)


def three_crops(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Start, centre and end square crops along the long side (centred on the short side)."""
    h, w = x.shape[-2:]
    if w >= h:
        top = (h - size) // 2
        return [crop(x, top, left, size, size) for left in (0, (w - size) // 2, w - size)]
    left = (w - size) // 2
    return [crop(x, top, left, size, size) for top in (0, (h - size) // 2, h - size)]


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def _to_cthw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(1, 0, 2, 3).contiguous()


class TrainTransform:
    """Random short side in [min, max], random square crop, random horizontal flip, normalise."""

    def __init__(self, short_side: Sequence[int] = (256, 320), crop_size: int = 224, flip: bool = True,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD):
        lo, hi = (int(short_side), int(short_side)) if isinstance(short_side, (int, float)) else map(int, short_side)
        if not crop_size <= lo <= hi:
            raise ValueError(f"need data.train_crop <= data.train_short_side (min <= max), got {crop_size}, {(lo, hi)}")
        self.short_side, self.crop_size, self.flip = (lo, hi), int(crop_size), flip
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        x = resize_short_side(to_tchw(frames), int(rng.integers(self.short_side[0], self.short_side[1] + 1)))
        h, w = x.shape[-2:]
        c = self.crop_size
        x = unit_range(crop(x, int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1)), c, c))
        if self.flip and rng.random() < 0.5:
            x = x.flip(-1)
        return _to_cthw(normalize(x, self.mean, self.std))


class EvalTransform:
    """Validation: short side to `short_side`, centre crop `crop_size` (None = full frame)."""

    def __init__(self, short_side: int = 256, crop_size: int | None = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        if crop_size is not None and crop_size > short_side:
            raise ValueError(f"data.val_crop ({crop_size}) must be <= data.val_short_side ({short_side})")
        self.short_side, self.crop_size = int(short_side), crop_size
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, frames: torch.Tensor, rng=None) -> torch.Tensor:
        x = resize_short_side(to_tchw(frames), self.short_side)
        if self.crop_size is not None:
            x = center_crop(x, int(self.crop_size))
        return _to_cthw(normalize(unit_range(x), self.mean, self.std))


class MultiViewTransform:
    """Test views of one clip: (num_crops, 3, T, H, W).

    num_crops=1: the full frame at short side `short_side` (paper, fully convolutional).
    num_crops=3: three `short_side` x `short_side` crops along the long side (authors' code).
    """

    def __init__(self, short_side: int = 256, num_crops: int = 1, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        if num_crops not in (1, 3):
            raise ValueError(f"data.test_crops must be 1 (full frame) or 3 (three crops), got {num_crops}")
        self.short_side, self.num_crops = int(short_side), num_crops
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, frames: torch.Tensor, rng=None) -> torch.Tensor:
        x = normalize(unit_range(resize_short_side(to_tchw(frames), self.short_side)), self.mean, self.std)
        views = [x] if self.num_crops == 1 else three_crops(x, self.short_side)
        return torch.stack([_to_cthw(v) for v in views])
