from __future__ import annotations

import numpy as np
import pytest
import torch

from cost.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    MultiViewTransform,
    TrainTransform,
    crop,
    resize_short_side,
    three_crops,
    to_float,
    to_tchw,
)


def frames(t=8, h=60, w=80, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=g)


def test_train_transform_shapes_and_range():
    tf = TrainTransform(short_side=(64, 80), crop_size=56)
    rng = np.random.default_rng(0)
    out = tf(frames(), rng)
    assert out.shape == (3, 8, 56, 56) and out.dtype == torch.float32
    lo = min((0 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))
    hi = max((1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))
    assert out.min() >= lo - 1e-5 and out.max() <= hi + 1e-5


def test_normalisation_uses_imagenet_statistics():
    grey = torch.full((4, 64, 64, 3), 128, dtype=torch.uint8)
    out = EvalTransform(short_side=64, crop_size=32)(grey)
    for c in range(3):
        assert torch.allclose(out[c], torch.tensor((128 / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]), atol=1e-5)


def test_train_transform_is_random_but_seeded():
    tf = TrainTransform(short_side=(64, 96), crop_size=48)
    x = frames()
    a = tf(x, np.random.default_rng(1))
    b = tf(x, np.random.default_rng(1))
    assert torch.equal(a, b)
    outs = {tf(x, np.random.default_rng(s)).sum().item() for s in range(8)}
    assert len(outs) > 1


def test_flip_mirrors_width():
    x = torch.zeros(2, 48, 48, 3, dtype=torch.uint8)
    x[:, :, :8] = 255  # bright left edge
    tf = TrainTransform(short_side=(48, 48), crop_size=48, flip=True, mean=(0, 0, 0), std=(1, 1, 1))
    seen = set()
    for s in range(20):
        out = tf(x, np.random.default_rng(s))
        seen.add("left" if out[0, 0, 0, 0] > 0.5 else "right")
        assert out[0, 0, 0, 0] > 0.5 or out[0, 0, 0, -1] > 0.5
    assert seen == {"left", "right"}
    no_flip = TrainTransform(short_side=(48, 48), crop_size=48, flip=False, mean=(0, 0, 0), std=(1, 1, 1))
    assert all(no_flip(x, np.random.default_rng(s))[0, 0, 0, 0] > 0.5 for s in range(10))


def test_resize_short_side_keeps_aspect():
    x = to_float(frames(h=240, w=320))
    assert resize_short_side(x, 120).shape[-2:] == (120, 160)
    x = to_float(frames(h=320, w=180))
    assert resize_short_side(x, 90).shape[-2:] == (160, 90)


def test_eval_transform_centre_crop():
    """The content is the centre 40x40 of the frame scaled to short side 48 (48x64)."""
    x = frames(h=60, w=80)
    out = EvalTransform(short_side=48, crop_size=40)(x)
    assert out.shape == (3, 8, 40, 40)
    scaled = torch.nn.functional.interpolate(
        x.permute(0, 3, 1, 2), size=(48, 64), mode="bilinear", align_corners=False, antialias=True
    )
    centre = scaled[..., 4:44, 12:52].float() / 255  # (48 - 40) / 2 = 4, (64 - 40) / 2 = 12
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    torch.testing.assert_close(out, (centre.permute(1, 0, 2, 3) - mean) / std, rtol=0, atol=1e-5)


def test_multi_view_full_frame_and_three_crops():
    x = frames(h=60, w=80)
    full = MultiViewTransform(short_side=48, num_crops=1)(x)
    assert full.shape == (1, 3, 8, 48, 64)
    three = MultiViewTransform(short_side=48, num_crops=3)(x)
    assert three.shape == (3, 3, 8, 48, 48)
    # left, centre, right crops of the full frame
    assert torch.equal(three[0], full[0, ..., :48])
    assert torch.equal(three[2], full[0, ..., -48:])
    assert torch.equal(three[1], full[0, ..., 8:56])
    with pytest.raises(ValueError, match="data.test_crops"):
        MultiViewTransform(num_crops=5)


def test_bad_sizes_name_the_config_key():
    with pytest.raises(ValueError, match="data.train_crop"):
        TrainTransform(short_side=(32, 40), crop_size=48)
    with pytest.raises(ValueError, match="data.val_crop"):
        EvalTransform(short_side=32, crop_size=48)


def _coordinates(h: int, w: int) -> torch.Tensor:
    """(1, 2, h, w): channel 0 holds each pixel's row, channel 1 its column."""
    rows = torch.arange(h).view(h, 1).expand(h, w)
    cols = torch.arange(w).view(1, w).expand(h, w)
    return torch.stack([rows, cols])[None]


@pytest.mark.parametrize("h,w,tops,lefts", [(10, 7, [0, 2, 5], [1, 1, 1]), (7, 10, [1, 1, 1], [0, 2, 5])])
def test_three_crops_start_centre_end_along_the_long_side(h, w, tops, lefts):
    """Portrait and landscape: crops at the start, centre and end of the long side, centred on
    the short side (read back from a coordinate image)."""
    crops = three_crops(_coordinates(h, w), 5)
    assert [c.shape[-2:] for c in crops] == [(5, 5)] * 3
    assert [int(c[0, 0, 0, 0]) for c in crops] == tops and [int(c[0, 1, 0, 0]) for c in crops] == lefts


def test_three_test_views_of_a_portrait_video():
    x = frames(t=2, h=90, w=60)  # short side 60: already the test size
    views = MultiViewTransform(short_side=60, num_crops=3, mean=(0, 0, 0), std=(1, 1, 1))(x)
    want = x.permute(3, 0, 1, 2).float() / 255  # 3, T, H, W
    for view, top in zip(views, (0, 15, 30)):
        torch.testing.assert_close(view, want[:, :, top : top + 60], rtol=0, atol=1e-6)


def test_frames_must_be_uint8_t_h_w_3():
    good = frames(t=2, h=4, w=4)
    for bad in (good.float(), good[0], good[..., :2].repeat(1, 1, 1, 2)):  # float; 3-D; 4 channels
        with pytest.raises(ValueError, match="expected uint8 frames"):
            to_tchw(bad)


def test_crop_larger_than_the_frame_in_one_side_is_an_error():
    x = torch.zeros(1, 3, 10, 20)
    for height, width in ((12, 8), (8, 21)):
        with pytest.raises(ValueError, match="larger than frame"):
            crop(x, 0, 0, height, width)


def test_float_resize_stays_in_the_unit_range_and_matches_uint8():
    x = frames(t=2, h=30, w=40).permute(0, 3, 1, 2)
    as_float = resize_short_side(x.float() / 255, 20)
    assert float(as_float.min()) >= 0.0 and float(as_float.max()) <= 1.0
    torch.testing.assert_close(as_float, resize_short_side(x, 20).float() / 255, rtol=0, atol=1.5 / 255)


def test_one_short_side_and_a_crop_equal_to_it_are_allowed():
    assert TrainTransform(short_side=64, crop_size=56).short_side == (64, 64)
    assert EvalTransform(short_side=56, crop_size=56)(frames(t=1, h=56, w=70)).shape == (3, 1, 56, 56)
