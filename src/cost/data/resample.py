"""The device half of the transforms (``cost.data.transforms``): one batched resample of the
cut uint8 frames the loader workers ship, on the model's device.

Bilinear antialiased resizing, cropping and flipping of one clip are separable linear maps, out
= Wy @ frame @ Wx^T, where Wy and Wx hold the filter weights of just the output rows and
columns inside the crop (flip: Wx's rows reversed). Each row of them has a few non-zero taps,
so `_taps` builds them as (index, weight) pairs per clip from the worker's integers, with
torch's own rule (`F.interpolate(mode="bilinear", antialias=True, align_corners=False)`), and
two batched gather-multiply-adds apply them to every clip, frame and channel (rows, then
columns; on a 2-core CPU 2.2x faster than dense matmuls, and exact in float32 on a GPU, where
matmuls may use TF32); normalisation is folded into the last step. A batch so crosses processes
and the host-to-device link as cut uint8 frames, and the device does no per-clip Python work.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
import torch.nn.functional as F

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


def cut(n_in: int, n_out: int, n_out_min: int, first: int, last: int) -> tuple[int, int]:
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
    f64: dict[str, Any] = dict(dtype=torch.float64, device=n_in.device)
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
    mean: tuple[float, ...] | torch.Tensor,
    std: tuple[float, ...] | torch.Tensor,
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
        # in float64 first: Python floats and float64 buffers (`DevicePreprocessor`) give the same bits
        std = torch.as_tensor(std, dtype=torch.float64, device=out.device)
        mean = torch.as_tensor(mean, dtype=torch.float64, device=out.device)
        scale = (1 / (255 * std)).to(dtype).view(shape)
        shift = (-mean / std).to(dtype).view(shape)
        return torch.addcmul(shift, out, scale, out=torch.empty(out.shape, dtype=dtype, device=out.device))


def full_frame_size(aug: torch.Tensor) -> tuple[int, int]:
    """The one output size of full-frame views (a device-to-host copy of the sizes)."""
    sizes = sorted({tuple(r) for r in aug[..., [OH, OW]].reshape(-1, 2).tolist()})
    if len(sizes) > 1:
        raise RuntimeError(
            f"clips of different sizes in one batch {sizes}: full-frame test views "
            "of videos with different aspect ratios cannot be stacked; set "
            "data.test_batch_size=1 or data.test_crops=3"
        )
    return sizes[0]
