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
the uint8 frames only the rows and columns that the views' resize filter reads; on the model's
device, `on_device` resamples the whole batch at once. Bilinear antialiased resizing, cropping
and flipping of one clip are separable linear maps, out = Wy @ frame @ Wx^T, where Wy and Wx
hold the filter weights of just the output rows and columns inside the crop (flip: Wx's rows
reversed). Each row of them has a few non-zero taps, so `_taps` builds them as (index,
weight) pairs per clip from the worker's integers, with torch's own rule
(`F.interpolate(mode="bilinear", antialias=True, align_corners=False)`), and two batched
gather-multiply-adds apply them to every clip, frame and channel (rows, then columns; on a
2-core CPU 2.2x faster than dense matmuls, and exact in float32 on a GPU, where matmuls may
use TF32); normalisation is folded into the last step. A batch so crosses processes and the
host-to-device link as cut uint8 frames, and the device does no per-clip Python work. The
device path resizes in float where the CPU path resizes uint8, so the two agree within one
grey level (tests/data/test_device_transforms.py).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

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
    return [crop(x, top, left, size, size) for top, left in three_crop_offsets(*x.shape[-2:], size)]


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def _to_cthw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(1, 0, 2, 3).contiguous()


# ---------------------------------------------------------------- the device path
# One row of `aug` per output view of a clip: the frame size, the resized size, the crop (top,
# left, height, width) in resized pixels, the flip, and where the worker's cut starts in the frame.
AUG_COLUMNS = ("h", "w", "resized_h", "resized_w", "top", "left", "out_h", "out_w", "flip", "cut_top", "cut_left")
H, W, RH, RW, TOP, LEFT, OH, OW, FLIP, CUT_TOP, CUT_LEFT = range(len(AUG_COLUMNS))


def _filter_span(n_in: int, n_out: int, first: int, last: int) -> tuple[int, int]:
    """Input samples [start, end) read by output samples first..last when n_in samples are
    resized to n_out (bilinear, antialiased, align_corners=False; the rule of `_taps`)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    start = max(int(scale * (first + 0.5) - support + 0.5), 0)
    return start, min(int(scale * (last + 0.5) + support + 0.5), n_in)


def _cut_length(n_in: int, n_out_min: int, extent: int) -> int:
    """The most input samples that `extent` consecutive outputs can read at any output size
    >= n_out_min: one fixed cut per frame size, so clips of one video size stack unpadded.
    `_filter_span`'s end - start < (extent - 1) * scale + 2 * support + 1, largest at the largest scale."""
    scale = n_in / n_out_min
    return min(n_in, math.floor((extent - 1) * scale + 2 * max(scale, 1.0) + 1 + 1e-9))


def _cut(n_in: int, n_out: int, n_out_min: int, first: int, last: int) -> tuple[int, int]:
    """(start, length) of the cut that holds every input sample outputs first..last read."""
    start, end = _filter_span(n_in, n_out, first, last)
    length = _cut_length(n_in, n_out_min, last - first + 1)
    start = min(start, n_in - length)  # a fixed length: slide back inside the frame
    if end > start + length:
        raise RuntimeError(f"resize filter span [{start}, {end}) exceeds the cut of {length}; a bug in cost.data")
    return start, length


def _taps(
    n_in: torch.Tensor,
    n_out: torch.Tensor,
    first: torch.Tensor,
    size: int,
    start: torch.Tensor,
    length: int,
    flip: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The resize filter of one axis as taps: (..., size, K) int64 indices and float64 weights,
    with output sample first + i of resizing n_in samples to n_out equal to
    sum_k weight[i, k] * input[start + index[i, k]] (input: the worker's cut of `length` samples).

    The rule is torch's for `F.interpolate(mode="bilinear", antialias=True,
    align_corners=False)`: a triangle filter of half-width support = max(scale, 1) input
    samples centred on scale * (i + 0.5), read over the samples [trunc(centre - support + 0.5),
    trunc(centre + support + 0.5)) inside the frame, and normalised to sum 1; unused taps get
    weight 0. K, the most taps any row needs, is known without reading the rows: every
    clip's cut holds its `size` outputs' span, which is at least scale * (size - 1), so
    scale <= length / (size - 1) and a row spans fewer than 2 * support + 1 samples.
    flip: the outputs in reverse order.
    """
    bound = length / max(size - 1, 1)
    k = min(length, math.floor(2 * max(bound, 1.0) + 1 + 1e-9))
    f64 = dict(dtype=torch.float64, device=n_in.device)
    n_in, n_out = n_in.to(torch.float64)[..., None], n_out.to(torch.float64)[..., None]
    scale = n_in / n_out
    support = scale.clamp(min=1.0)
    centre = scale * (first[..., None] + torch.arange(size, **f64) + 0.5)
    lo = torch.trunc(centre - support + 0.5).clamp(min=0.0)
    hi = torch.minimum(torch.trunc(centre + support + 0.5), n_in)
    x = lo[..., None] + torch.arange(k, **f64)
    weight = (1.0 - ((x - centre[..., None] + 0.5) * (1.0 / support[..., None])).abs()).clamp(min=0.0)
    weight = torch.where(x < hi[..., None], weight, 0.0)
    weight = weight / weight.sum(-1, keepdim=True)
    index = (x - start[..., None, None]).clamp(0, length - 1).long()
    if flip is not None:
        flip = flip[..., None, None].bool()
        index, weight = torch.where(flip, index.flip(-2), index), torch.where(flip, weight.flip(-2), weight)
    return index, weight


def _filter(table: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, rows_per_item: int) -> torch.Tensor:
    """out[r] = sum_k weight[r, k] * table[index[r, k] + item offset]: the taps (items, size, K)
    of every item applied to its `rows_per_item` rows of `table` in one gather-multiply-add
    (`F.embedding_bag`)."""
    items, size, k = index.shape
    offsets = torch.arange(items, device=index.device).view(items, 1, 1) * rows_per_item
    return F.embedding_bag(
        (index + offsets).view(-1, k), table, per_sample_weights=weight.to(table.dtype).view(-1, k), mode="sum"
    )


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device):
    """On the CPU, one intra-op thread: the loader workers decode on the other cores, and a
    BLAS call that waits for a descheduled second thread stalls a time slice (a 32x32 bmm took
    33 ms with 2 threads on 2 busy cores, 0.02 ms with 1). Other devices: unchanged."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if device.type == "cpu":
            torch.set_num_threads(before)


def resample(
    frames: torch.Tensor,
    aug: torch.Tensor,
    out_size: tuple[int, int],
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Cut uint8 frames (B, *lead, h, w, 3) and their view rows (B, V, len(AUG_COLUMNS)) ->
    normalised (B, *lead[:-1], V, 3, T, out_h, out_w): every view of every clip, frame and
    channel in two batched filter passes (rows, then columns), on the frames' device.

    Runs outside autocast: under bf16-mixed the resize keeps float32 (bf16 would cost up to a
    grey level); on the CPU in one thread (`_one_cpu_thread`).
    """
    b, v = aug.shape[:2]
    lead, (h, w), (oh, ow) = frames.shape[1:-3], frames.shape[-3:-1], out_size
    n, k = math.prod(lead), len(lead) - 1
    with torch.autocast(frames.device.type, enabled=False), _one_cpu_thread(frames.device):
        iy, wy = _taps(aug[..., H], aug[..., RH], aug[..., TOP], oh, aug[..., CUT_TOP], h)
        ix, wx = _taps(aug[..., W], aug[..., RW], aug[..., LEFT], ow, aug[..., CUT_LEFT], w, aug[..., FLIP])
        x = frames.movedim(-3, 1).to(dtype, memory_format=torch.contiguous_format)  # (B, h, *lead, w, 3)
        rows = _filter(x.view(b * h, n * w * 3), iy.view(b, v * oh, -1), wy.view(b, v * oh, -1), h)
        rows = rows.view(b * v, oh, n, w, 3).permute(0, 3, 1, 2, 4).reshape(b * v * w, oh * n * 3)  # columns first
        out = _filter(rows, ix.flatten(0, 1), wx.flatten(0, 1), w)  # (B * V * ow, oh * n * 3)
        # (B, V, ow, oh, *lead[:-1], T, 3) -> (B, *lead[:-1], V, 3, T, oh, ow)
        out = out.view(b, v, ow, oh, *lead, 3).permute(0, *range(4, 4 + k), 1, 5 + k, 4 + k, 3, 2)
        # (x / 255 - mean) / std, with x in 0..255, written contiguous in one pass
        shape = (3, 1, 1, 1)
        scale = torch.tensor([1 / (255 * s) for s in std], dtype=dtype, device=out.device).view(shape)
        shift = torch.tensor([-mu / s for mu, s in zip(mean, std)], dtype=dtype, device=out.device).view(shape)
        return torch.addcmul(shift, out, scale, out=torch.empty(out.shape, dtype=dtype, device=out.device))


def _full_frame_size(aug: torch.Tensor) -> tuple[int, int]:
    """The one output size of full-frame views (a device-to-host copy of the sizes)."""
    sizes = sorted({tuple(r) for r in aug[..., [OH, OW]].reshape(-1, 2).tolist()})
    if len(sizes) > 1:
        raise RuntimeError(
            f"clips of different sizes in one batch {sizes}: full-frame test views "
            "of videos with different aspect ratios cannot be stacked; set "
            "data.test_batch_size=1 or data.test_crops=3"
        )
    return sizes[0]


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
        side, top, left, flip = self.draw(*x.shape[-2:], rng)
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

    def on_device(self, frames: torch.Tensor, aug: torch.Tensor) -> torch.Tensor:
        """Cut uint8 (B, T, h, w, 3) + view rows (B, 1, 11) on any device -> float (B, 3, T, c, c)."""
        c = self.crop_size
        if frames.shape[0] == 0:
            return frames.new_zeros((0, 3, frames.shape[1], c, c), dtype=torch.float32)
        return resample(frames, aug, (c, c), self.mean, self.std)[:, 0]


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

    def on_device(self, frames: torch.Tensor, aug: torch.Tensor) -> torch.Tensor:
        """Cut uint8 (B, T, h, w, 3) + view rows (B, 1, 11) -> float (B, 3, T, crop, crop)."""
        if frames.shape[0] == 0:
            c = self.crop_size or 0
            return frames.new_zeros((0, 3, frames.shape[1], c, c), dtype=torch.float32)
        size = (self.crop_size, self.crop_size) if self.crop_size is not None else _full_frame_size(aug)
        return resample(frames, aug, size, self.mean, self.std)[:, 0]


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

    def on_device(self, frames: torch.Tensor, aug: torch.Tensor) -> torch.Tensor:
        """Cut uint8 (B, clips, T, h, w, 3) + view rows (B, crops, 11) -> float
        (B, clips * crops, 3, T, h, w), clip-major like the CPU path."""
        if frames.shape[0] == 0:
            n = frames.shape[1] * self.num_crops
            return frames.new_zeros((0, n, 3, frames.shape[2], 0, 0), dtype=torch.float32)
        size = (self.short_side, self.short_side) if self.num_crops == 3 else _full_frame_size(aug)
        return resample(frames, aug, size, self.mean, self.std).flatten(1, 2)


class DeferredTransform:
    """The loader-worker half of the device path: draw, and cut what the views will read.

    Returns {"clips": uint8 (..., h, w, 3), the rows and columns of the frames that the resize
    filter of the transform's views reads (a view of the frames; the collate copies it), "aug":
    int64 (views, len(AUG_COLUMNS))}. The cut has one size per frame size and transform, so
    clips of one video size stack unpadded. `ClipCollate` pads and stacks, and the wrapped
    transform's `on_device` finishes the batch.
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
        y0, ly = _cut(h, rh, rh_min, min(v[2] for v in views), max(v[2] + v[4] for v in views) - 1)
        x0, lx = _cut(w, rw, rw_min, min(v[3] for v in views), max(v[3] + v[5] for v in views) - 1)
        rows = [[h, w, *v, y0, x0] for v in views]
        return {"clips": frames[..., y0 : y0 + ly, x0 : x0 + lx, :], "aug": torch.tensor(rows, dtype=torch.int64)}


def finish_batch(batch: dict) -> dict:
    """Run the deferred transform of a collated uint8 batch where the batch now is (its device)."""
    transform = batch.get("device_transform")
    if transform is None:
        return batch
    out = {k: v for k, v in batch.items() if k not in ("device_transform", "aug")}
    out["clips"] = transform.on_device(batch["clips"], batch["aug"])
    return out
