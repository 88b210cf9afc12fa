from __future__ import annotations

import numpy as np
import pytest

from cost.data.sampling import center_indices, resolve_stride, train_indices, uniform_indices


@pytest.mark.parametrize("num_frames, samples, stride", [(300, 8, 8), (64, 8, 8), (250, 32, 2), (300, 32, 4)])
def test_train_window_and_stride(num_frames, samples, stride):
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        idx = train_indices(num_frames, samples, stride, rng)
        assert idx.dtype == np.int64 and idx.shape == (samples,)
        assert (np.diff(idx) == stride).all()  # every stride-th frame of one window
        assert idx[0] >= 0 and idx[0] + samples * stride <= num_frames  # the window fits
        starts.add(int(idx[0]))
    if num_frames > samples * stride:
        assert len(starts) > 1  # the window position is random
    else:
        assert starts == {0}


def test_train_start_is_uniform_over_valid_positions():
    rng = np.random.default_rng(1)
    starts = np.array([train_indices(100, 8, 8, rng)[0] for _ in range(4000)])
    assert starts.min() == 0 and starts.max() == 100 - 64
    assert np.bincount(starts, minlength=37).min() > 50  # every position is used


def test_short_video_loops_or_repeats():
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = train_indices(20, 8, 8, rng, short_video="loop")
        assert ((idx[1:] - idx[:-1]) % 20 == 8).all() and idx.max() < 20  # wraps around
        idx = train_indices(20, 8, 8, rng, short_video="repeat")
        assert idx.tolist() == [0, 8, 16, 19, 19, 19, 19, 19]
    assert center_indices(20, 8, 8, "loop").tolist() == [0, 8, 16, 4, 12, 0, 8, 16]
    with pytest.raises(ValueError, match="short_video"):
        train_indices(20, 8, 8, rng, short_video="bounce")


def test_center_clip_is_in_the_middle():
    idx = center_indices(200, 8, 8)
    assert idx[0] == (200 - 64) // 2 and (np.diff(idx) == 8).all()
    left, right = idx[0], 200 - (idx[-1] + 8)
    assert abs(left - right) <= 1


def test_uniform_clips_cover_the_video_evenly():
    clips = uniform_indices(300, 8, 8, num_clips=10)
    assert clips.shape == (10, 8)
    starts = clips[:, 0]
    assert starts[0] == 0 and clips[-1, -1] + 8 == 300  # first clip at the start, last at the end
    gaps = np.diff(starts)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced
    assert (np.diff(clips, axis=1) == 8).all()
    assert uniform_indices(300, 8, 8, num_clips=1).tolist() == [center_indices(300, 8, 8).tolist()]


def test_uniform_clips_on_short_videos():
    clips = uniform_indices(32, 8, 8, num_clips=10)  # 32 frames < 64-frame window
    assert clips.shape == (10, 8) and clips.max() < 32
    assert len({tuple(c) for c in clips}) > 1  # different loop offsets
    rep = uniform_indices(32, 8, 8, num_clips=10, short_video="repeat")
    assert (rep == rep[0]).all() and rep[0, -1] == 31


def test_sampling_is_deterministic_under_a_seed():
    a = [train_indices(500, 8, 8, np.random.default_rng(7)).tolist() for _ in range(3)]
    assert a[0] == a[1] == a[2]
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    assert [train_indices(500, 32, 4, r1).tolist() for _ in range(5)] == [
        train_indices(500, 32, 4, r2).tolist() for _ in range(5)
    ]


def test_resolve_stride_per_frame_count():
    assert resolve_stride(8, 32) == 8
    assert resolve_stride({8: 8, 32: 4}, 32) == 4
    assert resolve_stride({"8": 8, "32": 2}, 32) == 2
    with pytest.raises(ValueError, match="data.frame_stride"):
        resolve_stride({8: 8}, 16)
