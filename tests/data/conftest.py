"""Real video fixtures for the data tests, each encoded once per session with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.helpers.data import (
    EXTRA_VIDEOS,
    SMALL_SYNTHETIC,
    VIDEO_SPECS,
    encode,
    pattern_frames,
    pyav_reference,
    write_video_set,
)


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("videos")
    write_video_set(d)
    return d


@pytest.fixture(scope="session")
def references(video_dir) -> dict[str, np.ndarray]:
    return {name: pyav_reference(video_dir / name) for name in (*VIDEO_SPECS, *EXTRA_VIDEOS)}


@pytest.fixture(scope="session")
def bad_videos(tmp_path_factory, video_dir) -> dict[str, Path]:
    """Unreadable files: empty, truncated (index at the end, cut off), not a video, audio only."""
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.mp4").write_bytes(b"")
    data = (video_dir / "h264_long_gop.mp4").read_bytes()  # moov atom at the end
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "text.mp4").write_text("this is not a video\n" * 50)
    with av.open(str(d / "audio_only.wav"), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype=np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for _ in range(3):
            c.mux(s.encode(frame))
        c.mux(s.encode())
    return {p.stem: p for p in d.iterdir()}


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A small synthetic dataset (16 classes) for DataModule tests."""
    from cost.data.synthetic import ensure_synthetic

    return ensure_synthetic(tmp_path_factory.mktemp("data") / "synthetic", **SMALL_SYNTHETIC)


@pytest.fixture(scope="session")
def cut_faststart(tmp_path_factory) -> Path:
    """An MP4 with its index at the front (faststart) listing 280 frames, cut to 30 % of its bytes."""
    d = tmp_path_factory.mktemp("cut")
    full = encode(
        d / "full.mp4",
        pattern_frames(280, seed=5),
        options={"bf": "2", "g": "25"},
        container_options={"movflags": "faststart"},
    )
    data = full.read_bytes()
    (d / "cut.mp4").write_bytes(data[: int(len(data) * 0.3)])
    return d / "cut.mp4"
