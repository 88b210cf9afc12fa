"""Spatial transforms: uint8 frames (T, H, W, 3) -> normalised float clips (3, T, H, W).

Resizing is bilinear with antialiasing on the uint8 frames, before the float conversion
(torch's uint8 kernel is over ten times faster than the float one here; `cost.bench data`).
The crop for training is taken after scaling the short side to a random size ([256, 320]
then 224: docs/method.md#clips-and-transforms); validation
scales to one short side and takes the centre crop; test keeps the full frame
(`num_crops=1`, the paper) or takes three square crops along the long side (`num_crops=3`,
the authors' code).

Every transform has two paths with one source of randomness (`draw`, called in the loader
worker in the same order as always). The CPU path (`__call__`) does the whole transform in
the worker. The device path (`data.device_transforms`, docs/design.md) splits it: in the
worker, `DeferredTransform` draws, turns the draws into output views (`views`) and cuts from
the uint8 frames only the rows and columns that the views' resize filter reads; the batch
carries them as tensors, and on the model's device `on_device` resamples the whole batch at
once (`cost.data.resample`), run by the model's `preprocess.DevicePreprocessor`. The device path
resizes in float where the CPU path resizes uint8, so the two agree within one grey level
(tests/data/test_device_transforms.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .resample import cut, full_frame_size, resample

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


def resized_size(h: int, w: int, size: int) -> tuple[int, int]:
    """(H, W) after scaling the short side to `size`, keeping the aspect ratio."""
    if min(h, w) == size:
        return h, w
    if h <= w:
        return size, max(1, round(w * size / h))
    return max(1, round(h * size / w)), size


def resize_short_side(x: torch.Tensor, size: int) -> torch.Tensor:
    """Scale (T, 3, H, W) so that min(H, W) == size, keeping the aspect ratio (uint8 or float)."""
    h, w = x.shape[-2:]
    new_h, new_w = resized_size(h, w, size)
    if (new_h, new_w) == (h, w):
        return x
    out = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
    return out if out.dtype == torch.uint8 else out.clamp_(0.0, 1.0)


def crop(x: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if height > h or width > w:
        raise ValueError(f"crop {height}x{width} larger than frame {h}x{w}; make the crop <= the short side")
    return x[..., top : top + height, left : left + width]


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return crop(x, (h - size) // 2, (w - size) // 2, size, size)


def three_crop_offsets(h: int, w: int, size: int) -> list[tuple[int, int]]:
    """(top, left) of the start, centre and end square crops along the long side (centred on the short side)."""
    if w >= h:
        return [((h - size) // 2, left) for left in (0, (w - size) // 2, w - size)]
    return [(top, (w - size) // 2) for top in (0, (h - size) // 2, h - size)]


def three_crops(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Start, centre and end square crops along the long side (centred on the short side)."""
    h, w = x.shape[-2:]
    return [crop(x, top, left, size, size) for top, left in three_crop_offsets(h, w, size)]


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def _to_cthw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(1, 0, 2, 3).contiguous()


def _norm(transform, mean, std) -> tuple:
    """The mean and std `on_device` normalises with: the caller's buffers, else the transform's."""
    return (transform.mean if mean is None else mean), (transform.std if std is None else std)


class TrainTransform:
    """Random short side in [min, max], random square crop, random horizontal flip, normalise."""

    def __init__(
        self,
        short_side: Sequence[int] = (256, 320),
        crop_size: int = 224,
        flip: bool = True,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    ):
        lo, hi = (int(short_side), int(short_side)) if isinstance(short_side, (int, float)) else map(int, short_side)
        if not crop_size <= lo <= hi:
            raise ValueError(f"need data.train_crop <= data.train_short_side (min <= max), got {crop_size}, {(lo, hi)}")
        self.short_side, self.crop_size, self.flip = (lo, hi), int(crop_size), flip
        self.mean, self.std = tuple(mean), tuple(std)

    def draw(self, h: int, w: int, rng: np.random.Generator) -> list[int]:
        """The random choices for one clip of H x W frames: short side, crop top, crop left, flip."""
        side = int(rng.integers(self.short_side[0], self.short_side[1] + 1))
        rh, rw = resized_size(h, w, side)
        c = self.crop_size
        top, left = int(rng.integers(0, rh - c + 1)), int(rng.integers(0, rw - c + 1))
        flip = bool(self.flip and rng.random() < 0.5)
        return [side, top, left, int(flip)]

    def __call__(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        x = to_tchw(frames)
        h, w = x.shape[-2:]
        side, top, left, flip = self.draw(h, w, rng)
        c = self.crop_size
        x = unit_range(crop(resize_short_side(x, side), top, left, c, c))
        if flip:
            x = x.flip(-1)
        return _to_cthw(normalize(x, self.mean, self.std))

    smallest_side = property(lambda self: self.short_side[0])

    def views(self, h: int, w: int, draws: list[int]) -> list[tuple[int, ...]]:
        """The output view of the draws: (resized h, w, top, left, out h, out w, flip)."""
        side, top, left, flip = draws
        return [(*resized_size(h, w, side), top, left, self.crop_size, self.crop_size, flip)]

    def on_device(self, frames: torch.Tensor, aug: torch.Tensor, mean=None, std=None) -> torch.Tensor:
        """Cut uint8 (B, T, h, w, 3) + view rows (B, 1, 11) on any device -> float (B, 3, T, c, c).
        mean, std: the same values as float64 tensors on the frames' device (default: this transform's)."""
        c = self.crop_size
        if frames.shape[0] == 0:
            return frames.new_zeros((0, 3, frames.shape[1], c, c), dtype=torch.float32)
        return resample(frames, aug, (c, c), *_norm(self, mean, std))[:, 0]


class EvalTransform:
    """Validation: short side to `short_side`, centre crop `crop_size` (None = full frame)."""

    def __init__(self, short_side: int = 256, crop_size: int | None = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        if crop_size is not None and crop_size > short_side:
            raise ValueError(f"data.val_crop ({crop_size}) must be <= data.val_short_side ({short_side})")
        self.short_side, self.crop_size = int(short_side), crop_size
        self.mean, self.std = tuple(mean), tuple(std)

    def draw(self, h: int, w: int, rng=None) -> list[int]:
        return []  # deterministic

    def __call__(self, frames: torch.Tensor, rng=None) -> torch.Tensor:
        x = resize_short_side(to_tchw(frames), self.short_side)
        if self.crop_size is not None:
            x = center_crop(x, int(self.crop_size))
        return _to_cthw(normalize(unit_range(x), self.mean, self.std))

    smallest_side = property(lambda self: self.short_side)

    def views(self, h: int, w: int, draws=()) -> list[tuple[int, ...]]:
        rh, rw = resized_size(h, w, self.short_side)
        if self.crop_size is None:
            return [(rh, rw, 0, 0, rh, rw, 0)]
        c = int(self.crop_size)
        return [(rh, rw, (rh - c) // 2, (rw - c) // 2, c, c, 0)]

    def on_device(self, frames: torch.Tensor, aug: torch.Tensor, mean=None, std=None) -> torch.Tensor:
        """Cut uint8 (B, T, h, w, 3) + view rows (B, 1, 11) -> float (B, 3, T, crop, crop)."""
        if frames.shape[0] == 0:
            c = self.crop_size or 0
            return frames.new_zeros((0, 3, frames.shape[1], c, c), dtype=torch.float32)
        size = (self.crop_size, self.crop_size) if self.crop_size is not None else full_frame_size(aug)
        return resample(frames, aug, size, *_norm(self, mean, std))[:, 0]


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

    def draw(self, h: int, w: int, rng=None) -> list[int]:
        return []  # deterministic

    def __call__(self, frames: torch.Tensor, rng=None) -> torch.Tensor:
        x = normalize(unit_range(resize_short_side(to_tchw(frames), self.short_side)), self.mean, self.std)
        views = [x] if self.num_crops == 1 else three_crops(x, self.short_side)
        return torch.stack([_to_cthw(v) for v in views])

    smallest_side = property(lambda self: self.short_side)

    def views(self, h: int, w: int, draws=()) -> list[tuple[int, ...]]:
        rh, rw = resized_size(h, w, self.short_side)
        if self.num_crops == 1:
            return [(rh, rw, 0, 0, rh, rw, 0)]
        s = self.short_side
        return [(rh, rw, top, left, s, s, 0) for top, left in three_crop_offsets(rh, rw, s)]

    def on_device(self, frames: torch.Tensor, aug: torch.Tensor, mean=None, std=None) -> torch.Tensor:
        """Cut uint8 (B, clips, T, h, w, 3) + view rows (B, crops, 11) -> float
        (B, clips * crops, 3, T, h, w), clip-major like the CPU path."""
        if frames.shape[0] == 0:
            n = frames.shape[1] * self.num_crops
            return frames.new_zeros((0, n, 3, frames.shape[2], 0, 0), dtype=torch.float32)
        size = (self.short_side, self.short_side) if self.num_crops == 3 else full_frame_size(aug)
        return resample(frames, aug, size, *_norm(self, mean, std)).flatten(1, 2)


class DeferredTransform:
    """The loader-worker half of the device path: draw, and cut what the views will read.

    Returns {"clips": uint8 (..., h, w, 3), the rows and columns of the frames that the resize
    filter of the transform's views reads (a view of the frames; the collate copies it), "aug":
    int64 (views, len(cost.data.resample.AUG_COLUMNS))}. The cut has one size per frame size
    and transform, so clips of one video size stack unpadded. `ClipCollate` pads and stacks, and the wrapped
    transform's `on_device` finishes the batch (run by `preprocess.DevicePreprocessor`, the model's).
    """

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, frames: torch.Tensor, rng=None) -> dict:
        if frames.dtype != torch.uint8 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames (..., H, W, 3), got {tuple(frames.shape)} {frames.dtype}")
        t = self.transform
        h, w = frames.shape[-3:-1]
        views = t.views(h, w, t.draw(h, w, rng))
        (rh, rw), (rh_min, rw_min) = views[0][:2], resized_size(h, w, t.smallest_side)
        y0, ly = cut(h, rh, rh_min, min(v[2] for v in views), max(v[2] + v[4] for v in views) - 1)
        x0, lx = cut(w, rw, rw_min, min(v[3] for v in views), max(v[3] + v[5] for v in views) - 1)
        rows = [[h, w, *v, y0, x0] for v in views]
        return {"clips": frames[..., y0 : y0 + ly, x0 : x0 + lx, :], "aug": torch.tensor(rows, dtype=torch.int64)}
