"""Which frames make a clip (docs/method.md, "Clips and transforms").

A clip is `num_samples` frames taken every `stride` frames from a window of
`num_samples * stride` consecutive frames. Videos shorter than the window either loop
(indices wrap around, the default reading) or repeat their last frame (`short_video="repeat"`).
All functions return int64 numpy arrays of 0-based frame indices.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

SHORT_VIDEO_MODES = ("loop", "repeat")


def _check(num_frames: int, num_samples: int, stride: int, short_video: str) -> None:
    if num_frames < 1:
        raise ValueError(f"video has no frames (num_frames={num_frames})")
    if num_samples < 1 or stride < 1:
        raise ValueError(f"num_samples and stride must be >= 1, got {num_samples}, {stride}")
    if short_video not in SHORT_VIDEO_MODES:
        raise ValueError(f"short_video must be one of {SHORT_VIDEO_MODES}, got {short_video!r}")


def _clip(start: int, num_frames: int, num_samples: int, stride: int, short_video: str) -> np.ndarray:
    idx = start + np.arange(num_samples, dtype=np.int64) * stride
    if short_video == "loop":
        return idx % num_frames
    return np.minimum(idx, num_frames - 1)


def train_indices(
    num_frames: int, num_samples: int, stride: int, rng: np.random.Generator, short_video: str = "loop"
) -> np.ndarray:
    """A random window: uniform start over every position where the window fits.

    Shorter videos: a random start with wrap-around (loop), or start 0 (repeat).
    """
    _check(num_frames, num_samples, stride, short_video)
    window = num_samples * stride
    if num_frames >= window:
        start = int(rng.integers(0, num_frames - window + 1))
    elif short_video == "loop":
        start = int(rng.integers(0, num_frames))
    else:
        start = 0
    return _clip(start, num_frames, num_samples, stride, short_video)


def center_indices(num_frames: int, num_samples: int, stride: int, short_video: str = "loop") -> np.ndarray:
    """The window in the middle of the video (validation during training)."""
    _check(num_frames, num_samples, stride, short_video)
    start = max(num_frames - num_samples * stride, 0) // 2
    return _clip(start, num_frames, num_samples, stride, short_video)


def uniform_indices(
    num_frames: int, num_samples: int, stride: int, num_clips: int = 10, short_video: str = "loop"
) -> np.ndarray:
    """`num_clips` windows evenly spaced over the whole video, shape (num_clips, num_samples).

    The first window starts at frame 0 and the last one ends at the last frame; one clip is
    the centre window. Shorter videos: starts spread evenly over the video with wrap-around
    (loop), or all clips start at 0 (repeat).
    """
    _check(num_frames, num_samples, stride, short_video)
    if num_clips < 1:
        raise ValueError(f"data.test_clips must be >= 1, got {num_clips}")
    if num_clips == 1:
        return center_indices(num_frames, num_samples, stride, short_video)[None]
    window = num_samples * stride
    if num_frames >= window:
        starts = np.round(np.linspace(0, num_frames - window, num_clips)).astype(np.int64)
    elif short_video == "loop":
        starts = (np.arange(num_clips) * num_frames) // num_clips
    else:
        starts = np.zeros(num_clips, dtype=np.int64)
    return np.stack([_clip(int(s), num_frames, num_samples, stride, short_video) for s in starts])


def resolve_stride(frame_stride, num_frames: int) -> int:
    """`data.frame_stride` is an int, or a mapping {num_frames: stride} (it depends on the dataset: docs/method.md)."""
    if isinstance(frame_stride, Mapping):
        for key in (num_frames, str(num_frames)):
            if key in frame_stride:
                return int(frame_stride[key])
        raise ValueError(
            f"data.frame_stride has no entry for {num_frames} frames (has {list(frame_stride)}); "
            f"add '{num_frames}: <stride>' to the data config or pass data.frame_stride=<int>"
        )
    return int(frame_stride)
