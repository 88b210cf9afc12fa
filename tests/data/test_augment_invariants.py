"""Invariants of the training augmentation and the evaluation crops, decoded from the pixels.

The input frames are coordinate images: red = 4 x column and green = 4 x row (or the exact
column/row when the frame is not rescaled), so the crop offset, the scale and the flip of
an output clip can be read back from its normalised values. Checked:

- every frame of a clip gets the same crop, scale and flip;
- the crop offsets reach every allowed position (including the right and bottom edges);
- the random short side takes every value of its range;
- the flip probability is 1/2 within a Hoeffding bound (seeded, so the test is repeatable);
- uniform frames (grey and a colour) normalise to the ImageNet values written out here;
- the evaluation crop is the centre of the frame.

Plugging in another train-augmentation implementation (e.g. a batched device-side one):
write a factory ``make(short_side=(lo, hi), crop_size=c, flip=True) -> run`` whose
``run(clips, seed)`` takes uint8 clips ``N x T x H x W x 3`` (N independent clips) and an
int seed, and returns float ``N x 3 x T x c x c`` normalised with the ImageNet statistics;
then add ``pytest.param(make, id="name")`` to ``TRAIN_AUGMENTS``. Every test that takes
``augment`` runs on it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cost.data.transforms import DeferredTransform, EvalTransform, MultiViewTransform, TrainTransform

# ImageNet statistics written out (not imported) so a swapped or mistyped constant is seen.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def cpu_train_transform(short_side, crop_size, flip=True):
    """cost.data.transforms.TrainTransform, one clip at a time from one seeded generator."""
    tf = TrainTransform(short_side=short_side, crop_size=crop_size, flip=flip)

    def run(clips: torch.Tensor, seed: int) -> torch.Tensor:
        rng = np.random.default_rng(seed)
        return torch.stack([tf(clip, rng) for clip in clips])

    return run


def device_train_transform(short_side, crop_size, flip=True):
    """The device path (data.device_transforms): draws in the worker (DeferredTransform), then
    TrainTransform.on_device on the whole batch, here on the CPU."""
    tf = TrainTransform(short_side=short_side, crop_size=crop_size, flip=flip)
    deferred = DeferredTransform(tf)

    def run(clips: torch.Tensor, seed: int) -> torch.Tensor:
        rng = np.random.default_rng(seed)
        items = [deferred(clip, rng) for clip in clips]
        return tf.on_device(torch.stack([it["clips"] for it in items]), torch.stack([it["aug"] for it in items]))

    return run


TRAIN_AUGMENTS = [pytest.param(cpu_train_transform, id="cpu"), pytest.param(device_train_transform, id="device")]


def coordinate_frames(h: int, w: int, step: int, t: int = 2) -> torch.Tensor:
    """uint8 T x H x W x 3: red = step * column, green = step * row, blue = 0."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    frame = torch.stack([step * x, step * y, torch.zeros_like(x)], dim=-1)
    assert frame.max() <= 255
    return frame.to(torch.uint8).expand(t, h, w, 3)


def pixel_values(out: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation: ... x 3 x T x H x W floats back to 0..255 values."""
    shape = [1] * out.dim()
    shape[-4] = 3
    return (out * torch.tensor(STD).view(shape) + torch.tensor(MEAN).view(shape)) * 255


def _slope(values: torch.Tensor) -> float:
    """Least-squares slope of a 1-D profile, leaving out two samples at each end (image borders)."""
    v = values[2:-2].double()
    x = torch.arange(v.numel(), dtype=torch.float64)
    x = x - x.mean()
    return float((x * (v - v.mean())).sum() / (x * x).sum())


@pytest.mark.parametrize("augment", TRAIN_AUGMENTS)
def test_every_frame_of_a_clip_gets_the_same_crop_scale_and_flip(augment):
    """Clips of identical frames (random content) stay identical frame to frame."""
    g = torch.Generator().manual_seed(0)
    n, t = 48, 6
    frame = torch.randint(0, 256, (n, 1, 40, 52, 3), dtype=torch.uint8, generator=g)
    out = augment(short_side=(40, 52), crop_size=32)(frame.expand(n, t, 40, 52, 3).contiguous(), seed=1)
    assert out.shape == (n, 3, t, 32, 32)
    for i in range(n):
        for j in range(1, t):
            assert torch.equal(out[i, :, j], out[i, :, 0]), (i, j)
    assert len({tuple(out[i, :, 0].flatten()[:64].tolist()) for i in range(n)}) > n // 2  # yet random per clip


@pytest.mark.parametrize("augment", TRAIN_AUGMENTS)
def test_crop_offsets_cover_every_allowed_position(augment):
    """No rescaling (short side fixed at the frame's): 5 rows x 13 columns of offsets."""
    h, w, c, n = 36, 44, 32, 1000
    out = augment(short_side=(h, h), crop_size=c)(coordinate_frames(h, w, 1).expand(n, -1, -1, -1, -1), seed=2)
    px = pixel_values(out).round()
    seen = set()
    for i in range(n):
        red, green = px[i, 0, 0], px[i, 1, 0]  # c x c
        left, top = int(red.min()), int(green.min())
        # an exact window of the frame (possibly mirrored): the whole crop is the offset grid
        cols = torch.arange(left, left + c, dtype=px.dtype)
        assert torch.equal(red[0], cols) or torch.equal(red[0], cols.flip(0)), i
        assert torch.equal(green[:, 0], torch.arange(top, top + c, dtype=px.dtype)), i
        seen.add((top, left))
    assert seen == {(top, left) for top in range(h - c + 1) for left in range(w - c + 1)}


@pytest.mark.parametrize("augment", TRAIN_AUGMENTS)
def test_scale_jitter_covers_its_whole_range(augment):
    """The short side s is read from the green ramp's slope (5 * 48 / s per output row)."""
    h, w, lo, hi, n = 48, 50, 48, 60, 300
    out = augment(short_side=(lo, hi), crop_size=48)(coordinate_frames(h, w, 5).expand(n, -1, -1, -1, -1), seed=3)
    green = pixel_values(out)[:, 1, 0]  # n x 48 x 48
    sides = []
    for i in range(n):
        estimate = 5 * h / _slope(green[i, :, 24])
        assert abs(estimate - round(estimate)) < 0.25, estimate  # sharp enough to name one size
        sides.append(round(estimate))
    assert set(sides) == set(range(lo, hi + 1))


@pytest.mark.parametrize("augment", TRAIN_AUGMENTS)
def test_flip_probability_is_one_half(augment):
    """Hoeffding: P(|k/n - 1/2| >= t) <= 2 exp(-2 n t^2); t for a false alarm rate of 1e-6."""
    n = 2000
    out = augment(short_side=(8, 8), crop_size=8)(coordinate_frames(8, 8, 30).expand(n, -1, -1, -1, -1), seed=4)
    red = pixel_values(out)[:, 0, :, 4]  # n x T x 8 (one row per frame)
    flipped = red[..., 0] > red[..., -1]  # red decreases to the right: mirrored
    assert torch.equal(flipped[:, 0], flipped[:, 1])  # both frames of a clip agree
    k = int(flipped[:, 0].sum())
    bound = math.sqrt(math.log(2 / 1e-6) / (2 * n))  # 0.060 for n = 2000
    assert abs(k / n - 0.5) < bound, (k, n)


def _expected(colour) -> torch.Tensor:
    return torch.tensor([(v / 255 - m) / s for v, m, s in zip(colour, MEAN, STD)])


COLOURS = [(128, 128, 128), (255, 0, 77)]


@pytest.mark.parametrize("colour", COLOURS)
@pytest.mark.parametrize("augment", TRAIN_AUGMENTS)
def test_uniform_frames_normalise_to_imagenet_values_in_training(augment, colour):
    frames = torch.tensor(colour, dtype=torch.uint8).expand(3, 4, 40, 50, 3)  # 3 clips x 4 frames
    out = augment(short_side=(40, 48), crop_size=32)(frames, seed=5)
    want = _expected(colour).view(1, 3, 1, 1, 1).expand_as(out)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("colour", COLOURS)
def test_uniform_frames_normalise_to_imagenet_values_in_evaluation(colour):
    frames = torch.tensor(colour, dtype=torch.uint8).expand(4, 40, 50, 3)
    want = _expected(colour).view(3, 1, 1, 1)
    torch.testing.assert_close(
        EvalTransform(short_side=36, crop_size=32)(frames), want.expand(3, 4, 32, 32), rtol=0, atol=1e-5
    )
    for crops in (1, 3):
        views = MultiViewTransform(short_side=36, num_crops=crops)(frames)
        torch.testing.assert_close(views, want.expand_as(views), rtol=0, atol=1e-5)


@pytest.mark.parametrize("h,w", [(40, 52), (53, 40), (41, 41)])
def test_evaluation_crop_is_the_centre(h, w):
    """No rescaling: the crop's top-left pixel is the frame's ((h - c) // 2, (w - c) // 2)."""
    c = 32
    out = EvalTransform(short_side=min(h, w), crop_size=c)(coordinate_frames(h, w, 1, t=3))
    px = pixel_values(out).round()
    top, left = (h - c) // 2, (w - c) // 2
    for t in range(3):
        assert torch.equal(px[0, t], torch.arange(left, left + c, dtype=px.dtype).expand(c, c))
        assert torch.equal(px[1, t], torch.arange(top, top + c, dtype=px.dtype)[:, None].expand(c, c))
    # the margins left and right (top and bottom) differ by at most one pixel
    assert abs(left - (w - c - left)) <= 1 and abs(top - (h - c - top)) <= 1
