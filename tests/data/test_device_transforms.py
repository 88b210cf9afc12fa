"""The device path of the transforms (data.device_transforms): workers ship uint8 frames and
their random draws; scale, crop, flip and normalisation run batched where the batch is.

With the same draws the device path equals the CPU path within one grey level, and the
augmentation invariants hold on both paths (parametrised over "cpu" and "device").
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cost.data import VideoDataModule
from cost.data.dataset import ClipCollate
from cost.data.preprocess import DevicePreprocessor
from cost.data.resample import FLIP, OH, OW, _cut_length, _filter, _filter_span, _taps, resample
from cost.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DeferredTransform,
    EvalTransform,
    MultiViewTransform,
    TrainTransform,
    resized_size,
)
from tests.helpers.data import SMALL, SMALL_SYNTHETIC

STD = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
ONE_LEVEL = 1 / 255 + 1e-5  # + float32 rounding of normalising and comparing


def frames(t=8, h=60, w=80, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=g)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def device_batch(transform, clips: list[torch.Tensor], seeds: list[int], device: str = "cpu") -> torch.Tensor:
    """The device path end to end: DeferredTransform in the 'worker', ClipCollate, DevicePreprocessor."""
    deferred = DeferredTransform(transform)
    items = [
        {**deferred(c, np.random.default_rng(s)), "label": 0, "index": i} for i, (c, s) in enumerate(zip(clips, seeds))
    ]
    batch = ClipCollate((0,), with_skipped=False, device_path=True)(items)
    assert batch["clips"].dtype == torch.uint8  # what crosses the process boundary
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    return DevicePreprocessor({"any": transform}).to(device)(batch, "any")["clips"].cpu()


def run(path: str, transform, clip: torch.Tensor, seed: int = 0) -> torch.Tensor:
    if path == "cpu":
        return transform(clip, np.random.default_rng(seed))
    return device_batch(transform, [clip], [seed])[0]


def assert_within_one_level(a: torch.Tensor, b: torch.Tensor, std=STD):
    """a, b normalised (..., 3, T, H, W): compare in [0, 1] units."""
    diff = ((a - b) * std).abs().max().item()
    assert diff <= ONE_LEVEL, f"paths differ by {diff * 255:.2f} grey levels"


@pytest.mark.parametrize("device", DEVICES)
def test_train_device_path_equals_cpu_path_with_the_same_draws(device):
    tf = TrainTransform(short_side=(64, 96), crop_size=56, flip=True)
    clips = [frames(h=60, w=80, seed=1), frames(h=72, w=60, seed=2), frames(h=60, w=80, seed=3)]  # padded batch
    seeds = [10, 11, 12]
    cpu = torch.stack([tf(c, np.random.default_rng(s)) for c, s in zip(clips, seeds)])
    dev = device_batch(tf, clips, seeds, device)
    assert dev.shape == cpu.shape == (3, 3, 8, 56, 56) and dev.dtype == torch.float32
    assert_within_one_level(dev, cpu)
    for s in range(20):  # many draws: every scale, crop and flip agrees
        assert_within_one_level(device_batch(tf, clips[:1], [s], device)[0], tf(clips[0], np.random.default_rng(s)))


@pytest.mark.parametrize("device", DEVICES)
def test_eval_and_test_views_follow_the_same_path(device):
    clip = frames(h=60, w=80)
    val = EvalTransform(short_side=48, crop_size=40)
    assert_within_one_level(device_batch(val, [clip, clip], [0, 0], device), val(clip).expand(2, -1, -1, -1, -1))
    for crops in (1, 3):
        test = MultiViewTransform(short_side=48, num_crops=crops)
        views = frames(t=16, h=60, w=80).reshape(2, 8, 60, 80, 3)  # 2 clips of 8 frames
        cpu = torch.cat([test(c) for c in views])  # clip-major, as VideoClipDataset builds it
        dev = device_batch(test, [views], [0], device)[0]
        assert dev.shape == cpu.shape
        assert_within_one_level(dev, cpu, STD.view(1, 3, 1, 1, 1))


def test_flip_is_applied_to_whole_clips_in_time_order():
    tf = TrainTransform(short_side=(48, 48), crop_size=48, flip=True, mean=(0, 0, 0), std=(1, 1, 1))
    clip = frames(t=8, h=48, w=48, seed=5)  # every frame different
    flips = {}
    for s in range(16):
        draws = tf.draw(48, 48, np.random.default_rng(s))
        out = device_batch(tf, [clip], [s])[0]
        ref = clip.permute(3, 0, 1, 2).float() / 255  # 3, T, H, W: no scale, no crop at 48
        want = ref.flip(-1) if draws[3] else ref
        torch.testing.assert_close(out, want, atol=1e-6, rtol=0)  # every frame, in order, same flip
        flips[draws[3]] = True
    assert set(flips) == {0, 1}


def column_coded(h: int, w: int, t: int = 4, step: int = 1) -> torch.Tensor:
    """Frames whose red channel is `step` x the column index and green the row index."""
    x = torch.zeros(t, h, w, 3, dtype=torch.uint8)
    x[..., 0] = (torch.arange(w) * step).to(torch.uint8).view(1, 1, w)
    x[..., 1] = torch.arange(h, dtype=torch.uint8).view(1, h, 1)
    return x


PATHS = ["cpu", "device"]


@pytest.mark.parametrize("path", PATHS)
def test_every_frame_of_a_clip_gets_the_same_crop_scale_and_flip(path):
    tf = TrainTransform(short_side=(64, 96), crop_size=56, flip=True)
    one = frames(t=1, h=60, w=80, seed=7)
    clip = one.expand(8, -1, -1, -1).contiguous()
    for s in range(10):
        out = run(path, tf, clip, s)
        assert torch.equal(out, out[:, :1].expand_as(out))


@pytest.mark.parametrize("path", PATHS)
def test_crop_offsets_cover_every_position(path):
    h, w, c = 40, 50, 32
    tf = TrainTransform(short_side=(h, h), crop_size=c, flip=False, mean=(0, 0, 0), std=(1, 1, 1))
    clip = column_coded(h, w)
    lefts, tops = set(), set()
    for s in range(300):
        out = run(path, tf, clip, s)
        lefts.add(round(out[0, 0, 0, 0].item() * 255))
        tops.add(round(out[1, 0, 0, 0].item() * 255))
    assert lefts == set(range(w - c + 1)) and tops == set(range(h - c + 1))


@pytest.mark.parametrize("path", PATHS)
def test_scale_jitter_covers_its_range(path):
    lo, hi = 32, 40
    tf = TrainTransform(short_side=(lo, hi), crop_size=32, flip=False, mean=(0, 0, 0), std=(1, 1, 1))
    clip = column_coded(32, 32, step=8)
    # The scale shows as the red step between output columns: 8 x 32 / side per column.
    sides = set()
    for s in range(200):
        out = run(path, tf, clip, s)
        step = (out[0, 0, 0, 24] - out[0, 0, 0, 4]).item() * 255 / 20
        sides.add(round(8 * 32 / step))
    assert sides == set(range(lo, hi + 1))


@pytest.mark.parametrize("path", PATHS)
def test_flip_probability_is_one_half(path):
    tf = TrainTransform(short_side=(32, 32), crop_size=32, flip=True, mean=(0, 0, 0), std=(1, 1, 1))
    clip = column_coded(32, 32)
    flipped = sum(run(path, tf, clip, s)[0, 0, 0, 0].item() > 0.5 / 255 for s in range(400))
    assert 160 <= flipped <= 240  # 400 fair coin flips: 0.5 +- 5 sigma


@pytest.mark.parametrize("path", PATHS)
def test_grey_frames_normalise_to_imagenet_values(path):
    grey = torch.full((4, 64, 64, 3), 128, dtype=torch.uint8)
    for tf in (TrainTransform((64, 80), 48), EvalTransform(64, 48)):
        out = run(path, tf, grey)
        for ch in range(3):
            want = (128 / 255 - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch]
            assert torch.allclose(out[ch], torch.tensor(want), atol=1e-5)


@pytest.mark.parametrize("path", PATHS)
def test_centre_crop_is_centred(path):
    tf = EvalTransform(short_side=40, crop_size=30, mean=(0, 0, 0), std=(1, 1, 1))
    out = run(path, tf, column_coded(40, 60))
    assert round(out[0, 0, 0, 0].item() * 255) == (60 - 30) // 2
    assert round(out[1, 0, 0, 0].item() * 255) == (40 - 30) // 2


def make_dm(root, **kw) -> VideoDataModule:
    return VideoDataModule(
        format="synthetic", root=str(root), num_workers=0, synthetic=SMALL_SYNTHETIC, **{**SMALL, **kw}
    )


def test_datamodule_device_batches_equal_cpu_batches(synthetic_root):
    """The same seed through both paths of the real data module: same videos, same draws."""
    out = {}
    for on in (False, True):
        dm = make_dm(synthetic_root, device_transforms=on)
        dm.setup(None)
        assert dm.use_device_transforms is on
        torch.manual_seed(0)
        batches = {
            "train": next(iter(dm.train_dataloader())),
            "val": next(iter(dm.val_dataloader())),
            "test": next(iter(dm.test_dataloader())),
        }
        if on:
            assert all(b["clips"].dtype == torch.uint8 and "aug" in b for b in batches.values())
        pre = dm.device_preprocessor()
        out[on] = {k: pre(b, k) if on else b for k, b in batches.items()}
    for split in ("train", "val", "test"):
        cpu, dev = out[False][split], out[True][split]
        assert set(cpu) == set(dev) and torch.equal(cpu["index"], dev["index"])
        std = STD if split != "test" else STD.view(1, 3, 1, 1, 1)
        assert_within_one_level(dev["clips"], cpu["clips"], std)


# ---------------------------------------------------------------- the batched resample, exactly
# In float64 the device path must equal torch's own antialiased resize, then crop and flip, to
# rounding: the cut, the weights and the batched matmuls change nothing but the arithmetic.

EXACT = dict(atol=1e-12, rtol=0)
UNIT = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))  # output = pixel / 255


def reference(frames: torch.Tensor, view) -> torch.Tensor:
    """torch's resize of the whole frame in float64, then the view's crop and flip: (3, T, oh, ow) / 255."""
    rh, rw, top, left, oh, ow, flip = view
    x = frames.permute(0, 3, 1, 2).double()
    if (rh, rw) != tuple(x.shape[-2:]):
        x = F.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False, antialias=True)
    x = x[..., top : top + oh, left : left + ow]
    return (x.flip(-1) if flip else x).permute(1, 0, 2, 3) / 255


def exact_device(transform, clips: list[torch.Tensor], seeds: list[int]):
    """The worker's cut and rows, collated, resampled in float64: (B, *lead[:-1], V, 3, T, oh, ow) and the rows."""
    deferred = DeferredTransform(transform)
    items = [
        {**deferred(c, np.random.default_rng(s)), "label": 0, "index": i} for i, (c, s) in enumerate(zip(clips, seeds))
    ]
    batch = ClipCollate((0,), with_skipped=False, device_path=True)(items)
    aug = batch["aug"]
    size = tuple(aug[0, 0, [OH, OW]].tolist())
    return resample(batch["clips"], aug, size, dtype=torch.float64, **UNIT), aug


def axis_matrix(n_in: int, n_out: int, first: int, size: int, start: int, length: int) -> torch.Tensor:
    """The taps of one axis as the dense (size, length) matrix they stand for."""
    index, weight = _taps(*(torch.tensor([v]) for v in (n_in, n_out, first)), size, torch.tensor([start]), length)
    return torch.zeros(size, length, dtype=torch.float64).scatter_add_(1, index[0], weight[0])


@pytest.mark.parametrize("n_in,n_out", [(80, 48), (60, 97), (256, 256), (340, 427), (340, 256), (1080, 257), (7, 3)])
def test_taps_reproduce_torch_antialiased_bilinear_in_float64(n_in, n_out):
    g = torch.Generator().manual_seed(n_in * 1000 + n_out)
    img = torch.rand(1, 1, 5, n_in, dtype=torch.float64, generator=g)
    want = F.interpolate(img, size=(5, n_out), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(img[0, 0] @ axis_matrix(n_in, n_out, 0, n_out, 0, n_in).T, want[0, 0], **EXACT)
    # a window of the outputs against a cut of the inputs (what the worker ships)
    first, last = n_out // 3, n_out - n_out // 4 - 1
    start, end = _filter_span(n_in, n_out, first, last)
    part = axis_matrix(n_in, n_out, first, last - first + 1, start, end - start)
    torch.testing.assert_close(img[0, 0, :, start:end] @ part.T, want[0, 0, :, first : last + 1], **EXACT)


@pytest.mark.parametrize("h,w", [(256, 340), (60, 80), (90, 50), (240, 320)])
def test_cut_and_weights_equal_full_resize_then_crop_and_flip(h, w):
    tf = TrainTransform(short_side=(48, 64), crop_size=40, flip=True)
    clip = frames(t=3, h=h, w=w, seed=h + w)
    for s in range(12):
        out, aug = exact_device(tf, [clip], [s])
        view = tf.views(h, w, tf.draw(h, w, np.random.default_rng(s)))[0]
        assert tuple(aug[0, 0, :9].tolist()) == (h, w, *view)
        torch.testing.assert_close(out[0, 0], reference(clip, view), **EXACT)


def test_the_cut_is_what_the_filter_reads_and_has_one_size_per_frame_size():
    """340x256 video, short side 256-320, 224 crops: at scale >= 1 a crop of 224 reads at most
    223 + 2 * 1 + 1 = 226 rows and columns, a bit over half of the 256 x 340 frame."""
    tf = TrainTransform(short_side=(256, 320), crop_size=224)
    deferred = DeferredTransform(tf)
    clip = torch.zeros(2, 256, 340, 3, dtype=torch.uint8)
    shapes = {tuple(deferred(clip, np.random.default_rng(s))["clips"].shape) for s in range(50)}
    assert shapes == {(2, 226, 226, 3)}
    # The fixed length bounds every span the draws can give and is at most one sample over the largest.
    for n_in, n_other, (lo, hi), c in [
        (256, 340, (256, 320), 224),
        (340, 256, (256, 320), 224),
        (90, 50, (48, 64), 40),
        (1080, 1920, (256, 320), 224),
    ]:
        spans = []
        for side in range(lo, hi + 1):
            n_out = resized_size(n_in, n_other, side)[0]
            spans += [np.subtract(*_filter_span(n_in, n_out, o, o + c - 1)[::-1]) for o in range(n_out - c + 1)]
        length = _cut_length(n_in, resized_size(n_in, n_other, lo)[0], c)
        assert max(spans) <= length <= max(spans) + 1


def test_mixed_sizes_in_one_batch_are_padded_with_zero_weight():
    tf = TrainTransform(short_side=(48, 64), crop_size=40, flip=True)
    clips = [frames(t=2, h=60, w=80, seed=1), frames(t=2, h=90, w=50, seed=2), frames(t=2, h=48, w=48, seed=3)]
    seeds = [4, 5, 6]
    together, aug = exact_device(tf, clips, seeds)
    cuts = [DeferredTransform(tf)(c, np.random.default_rng(s))["clips"].shape[-3:-1] for c, s in zip(clips, seeds)]
    assert len(set(cuts)) == 3  # every clip padded to another size
    for i, (clip, s) in enumerate(zip(clips, seeds)):
        alone, _ = exact_device(tf, [clip], [s])
        torch.testing.assert_close(together[i], alone[0], **EXACT)


def test_flip_reverses_the_columns_of_the_same_crop():
    tf = TrainTransform(short_side=(48, 64), crop_size=40, flip=True)
    clip = frames(t=2, h=60, w=80, seed=9)
    deferred = DeferredTransform(tf)
    item = deferred(clip, np.random.default_rng(3))
    aug = item["aug"][None].clone()
    plain, flipped = aug.clone(), aug.clone()
    plain[..., FLIP], flipped[..., FLIP] = 0, 1
    a = resample(item["clips"][None], plain, (40, 40), dtype=torch.float64, **UNIT)
    b = resample(item["clips"][None], flipped, (40, 40), dtype=torch.float64, **UNIT)
    torch.testing.assert_close(b, a.flip(-1), **EXACT)
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("h,w", [(60, 80), (80, 60)])
def test_three_crop_and_full_frame_test_views_exactly(h, w):
    views = frames(t=6, h=h, w=w, seed=h).reshape(2, 3, h, w, 3)  # 2 clips of 3 frames
    for crops in (1, 3):
        test = MultiViewTransform(short_side=48, num_crops=crops)
        out, aug = exact_device(test, [views], [0])  # (1, clips, crops, 3, T, s, s)
        assert out.shape[1:3] == (2, crops)
        for k in range(2):
            for v, view in enumerate(test.views(h, w)):
                torch.testing.assert_close(out[0, k, v], reference(views[k], view), **EXACT)
    val = EvalTransform(short_side=48, crop_size=40)
    out, _ = exact_device(val, [views[0]], [0])
    torch.testing.assert_close(out[0, 0], reference(views[0], val.views(h, w)[0]), **EXACT)


def test_full_frame_views_of_different_sizes_cannot_be_stacked():
    test = MultiViewTransform(short_side=48, num_crops=1)
    clips = [frames(t=4, h=60, w=80).reshape(1, 4, 60, 80, 3), frames(t=4, h=60, w=100).reshape(1, 4, 60, 100, 3)]
    with pytest.raises(RuntimeError, match="data.test_batch_size=1 or data.test_crops=3"):
        device_batch(test, clips, [0, 0])


def test_the_resample_keeps_float32_under_bf16_autocast():
    tf = TrainTransform(short_side=(64, 96), crop_size=56, flip=True)
    clips, seeds = [frames(seed=1), frames(seed=2)], [1, 2]
    want = device_batch(tf, clips, seeds)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = device_batch(tf, clips, seeds)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=0, rtol=0)


def test_bf16_mixed_keeps_clips_coefficient_statistics_and_metrics_in_float32(synthetic_root):
    """A real bf16-mixed Lightning test run of the tiny CoST(b) on the device path: the network's
    coefficients are bf16 (autocast is on), but the finished clips, the coefficient statistics
    and every accumulated metric state are float32."""
    import pytorch_lightning as pl

    from cost.training.coefficients import clip_coefficients
    from cost.training.module import VideoClassifier

    seen = {}

    class Inspect(pl.Callback):
        def on_test_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
            states = module.test_metrics
            seen.update(
                clips=batch["clips"].dtype,
                raw=module.layers[0].coefficients.dtype,
                stats=clip_coefficients(module.layers).dtype,
                states={name: getattr(states, name)[-1].dtype for name in ("probs", "coef")},
            )

    dm = make_dm(synthetic_root, device_transforms=True, test_crops=1, test_clips=2)
    module = VideoClassifier({"arch": "cost_b", "depth": "tiny"}, {"lr": 0.1, "milestones": []})
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        precision="bf16-mixed",
        limit_test_batches=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Inspect()],
    )
    trainer.test(module, datamodule=dm, verbose=False)
    assert seen["raw"] == torch.bfloat16
    assert seen["clips"] == seen["stats"] == torch.float32
    assert seen["states"] == {"probs": torch.float32, "coef": torch.float32}
    res = module.test_results
    assert res["coef"].dtype == torch.float32 and res["coef"].shape[1:] == (len(module.layers), 3)


@pytest.mark.parametrize("h,w", [(60, 80), (80, 60)])
def test_validation_full_frame_views_exactly(h, w):
    """data.val_crop=null: the whole frame at the short side, unflipped, on the device path too."""
    clip = frames(t=3, h=h, w=w, seed=h + 1)
    val = EvalTransform(short_side=48, crop_size=None)
    view = val.views(h, w)[0]
    assert view == (*resized_size(h, w, 48), 0, 0, *resized_size(h, w, 48), 0)
    out, _ = exact_device(val, [clip], [0])
    torch.testing.assert_close(out[0, 0], reference(clip, view), **EXACT)
    assert_within_one_level(device_batch(val, [clip], [0])[0], val(clip))


def test_an_empty_batch_gives_empty_float_clips_of_the_right_shape():
    """A batch whose every clip was skipped: (0, ...) float32 clips shaped like a full batch."""
    empty, aug = torch.zeros(0, 4, 30, 40, 3, dtype=torch.uint8), torch.zeros(0, 1, 11, dtype=torch.int64)
    cases = [
        (TrainTransform(short_side=(24, 32), crop_size=20), empty, (0, 3, 4, 20, 20)),
        (EvalTransform(short_side=24, crop_size=20), empty, (0, 3, 4, 20, 20)),
        (EvalTransform(short_side=24, crop_size=None), empty, (0, 3, 4)),  # no pixels: any spatial size
        (MultiViewTransform(short_side=24, num_crops=3), empty[:, None].expand(0, 2, 4, 30, 40, 3), (0, 6, 3, 4)),
    ]
    for transform, clips, shape in cases:
        out = transform.on_device(clips, aug)
        assert (out.shape[: len(shape)], out.ndim, out.dtype) == (shape, clips.ndim, torch.float32), transform


def test_taps_and_filter_stay_on_the_device_of_their_inputs():
    """Every tensor _taps and _filter make lives on their inputs' device ("meta" stands in for a
    GPU here: mixing it with a CPU tensor is an error, as mixing CUDA and CPU is)."""
    meta = [torch.tensor([v], device="meta") for v in (60, 48, 4, 0)]
    index, weight = _taps(*meta[:3], 40, meta[3], 60, flip=torch.tensor([1], device="meta"))
    out = _filter(torch.zeros(60, 5, device="meta"), index, weight, 60)
    assert (index.device.type, weight.device.type, out.device.type, tuple(out.shape)) == ("meta",) * 3 + ((40, 5),)


def test_normalisation_is_computed_in_the_requested_dtype():
    """In float64 the folded normalisation equals (x / 255 - mean) / std to float64 rounding, and
    it writes the clips contiguous (the resample's last pass works in another memory order)."""
    tf = TrainTransform(short_side=(48, 64), crop_size=40, flip=True)
    item = DeferredTransform(tf)(frames(t=2, h=60, w=80, seed=5), np.random.default_rng(1))
    clips, aug = item["clips"][None], item["aug"][None]
    unit = resample(clips, aug, (40, 40), dtype=torch.float64, **UNIT)
    out = resample(clips, aug, (40, 40), IMAGENET_MEAN, IMAGENET_STD, dtype=torch.float64)
    mean, std = (torch.tensor(v, dtype=torch.float64).view(3, 1, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    torch.testing.assert_close(out, (unit - mean) / std, **EXACT)
    assert out.is_contiguous() and tf.on_device(clips, aug).is_contiguous()


@pytest.mark.parametrize("bad", [torch.zeros(2, 30, 40, 3), torch.zeros(2, 30, 40, 4, dtype=torch.uint8)])
def test_the_worker_half_refuses_float_or_non_rgb_frames(bad):
    with pytest.raises(ValueError, match="expected uint8 frames"):
        DeferredTransform(EvalTransform(short_side=24, crop_size=20))(bad)


def test_test_views_on_the_device_use_the_transforms_own_mean_and_std():
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 0.125)
    test = MultiViewTransform(short_side=48, num_crops=3, mean=mean, std=std)
    clip = frames(t=4, h=60, w=80, seed=7)
    got = device_batch(test, [clip[None]], [0])[0]  # one clip of 4 frames -> its 3 crops
    assert_within_one_level(got, test(clip), std=torch.tensor(std).view(3, 1, 1, 1))


def test_a_row_gets_only_the_taps_its_scale_needs():
    """Up to scale 1 the triangle filter has half-width 1, so a row reads at most 3 input samples:
    at most (size, 3) taps, not (size, length). At scale 2 (half-width 2), at most 5."""
    for n_in, n_out, most in [(256, 256, 3), (256, 300, 3), (512, 256, 5)]:
        length = _cut_length(n_in, n_out, 224)
        index, _ = _taps(*(torch.tensor([v]) for v in (n_in, n_out, 10)), 224, torch.tensor([0]), length)
        assert index.shape[:2] == (1, 224) and index.shape[2] <= most, (n_in, n_out, index.shape)
