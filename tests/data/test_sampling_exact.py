"""Exact clip indices at the edges the mutation run found unpinned (hand-computed answers)."""

from __future__ import annotations

import numpy as np
import pytest

from cost.data.sampling import center_indices, train_indices, uniform_indices


def _is(idx: np.ndarray, want) -> bool:
    return idx.dtype == np.int64 and idx.tolist() == want


def test_center_window_with_an_odd_margin_starts_on_a_frame():
    # 11 frames, window 2 x 2 = 4: margin 7, start 7 // 2 = 3
    assert _is(center_indices(11, 2, 2), [3, 5])


def test_uniform_windows_when_the_video_is_exactly_one_window():
    # 4 frames, window 4: every clip is the whole video (no wrap-around spreading)
    assert _is(uniform_indices(4, 2, 2, num_clips=3), [[0, 2], [0, 2], [0, 2]])
    assert _is(uniform_indices(20, 2, 2, num_clips=3), [[0, 2], [8, 10], [16, 18]])


def test_one_clip_of_a_short_video_keeps_its_short_video_mode():
    # 3 frames, 3 samples x stride 2 = frames 0, 2, 4: repeat the last frame, or loop
    assert _is(uniform_indices(3, 3, 2, num_clips=1, short_video="repeat"), [[0, 2, 2]])
    assert _is(uniform_indices(3, 3, 2, num_clips=1, short_video="loop"), [[0, 2, 1]])


def test_several_clips_of_a_short_video_loop():
    # starts spread over the 3 frames: 0 and 3 // 2 = 1, then wrap around
    assert _is(uniform_indices(3, 3, 2, num_clips=2, short_video="loop"), [[0, 2, 1], [1, 0, 2]])
    assert _is(uniform_indices(3, 3, 2, num_clips=2, short_video="repeat"), [[0, 2, 2], [0, 2, 2]])


def test_ten_clips_by_default():
    assert uniform_indices(100, 8, 1).shape == (10, 8)  # docs/method.md: 10 clips per test video


def test_training_start_of_a_short_looping_video_is_random_over_its_frames():
    from cost.data.sampling import train_indices

    # 5 frames, window 4 x 2 = 8: start anywhere in 0..4, indices wrap around
    firsts = {int(train_indices(5, 4, 2, np.random.default_rng(s))[0]) for s in range(200)}
    assert firsts == {0, 1, 2, 3, 4}
    assert _is(train_indices(5, 4, 2, np.random.default_rng(0), short_video="repeat"), [0, 2, 4, 4])


def test_one_frame_videos_and_one_frame_clips_are_valid_and_zero_is_not():
    rng = np.random.default_rng(0)
    assert train_indices(1, 4, 2, rng).tolist() == [0, 0, 0, 0]  # a one-frame video loops on its frame
    assert center_indices(1, 3, 1, "repeat").tolist() == [0, 0, 0]
    assert center_indices(9, 1, 1).tolist() == [4]  # a one-frame clip: the middle frame
    assert uniform_indices(9, 1, 1, num_clips=3).tolist() == [[0], [4], [8]]
    for frames, samples, stride in ((0, 4, 2), (10, 0, 1), (10, 4, 0)):
        with pytest.raises(ValueError):
            center_indices(frames, samples, stride)
