"""Plain helpers of the data tests: real videos encoded with PyAV, frame patterns, the
small synthetic dataset's size. Fixtures that use them live in tests/data/conftest.py."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
import pytest
import torch

from cost.data import read_frames

SHARED_VIDEOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "videos"
needs_shared = pytest.mark.skipif(not SHARED_VIDEOS.is_dir(), reason=f"{SHARED_VIDEOS} is absent")


def pattern_frames(n: int, width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """Frames that differ from each other everywhere (so an off-by-one frame is visible)."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        frames[i] = (i * 5) % 256
        x = (i * 3) % (width - 4)
        frames[i, :, x : x + 4] = 255
        frames[i, (i * 2) % height, :, 1] = 200
        frames[i] += rng.integers(0, 20, size=(height, width, 3), dtype=np.uint8)
    return frames


def encode(
    path: Path,
    frames: np.ndarray,
    codec: str = "libx264",
    rate=Fraction(25),
    options=None,
    container_options=None,
    b_frames: int | None = None,
) -> Path:
    with av.open(str(path), "w", options=container_options or {}) as c:
        s = cast(av.VideoStream, c.add_stream(codec, rate=rate))  # codec names a video codec
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if options:
            s.options = options
        if b_frames is not None:
            s.codec_context.max_b_frames = b_frames
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return path


def pyav_reference(path) -> np.ndarray:
    """Every frame by PyAV's sequential decode: the ground truth for exactness tests."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


# name -> (file name, encode kwargs, number of frames)
VIDEO_SPECS: dict[str, dict[str, Any]] = {
    "h264_bframes_ntsc.mp4": dict(options={"bf": "3", "g": "12", "crf": "18"}, rate=Fraction(30000, 1001)),
    "h264_long_gop.mp4": dict(options={"bf": "2", "g": "250", "crf": "18"}, n=150),
    "h264_nob.mkv": dict(options={"bf": "0", "g": "10"}, rate=Fraction(25)),
    "h264_bframes.avi": dict(options={"bf": "2", "g": "12"}),
    "mpeg4.avi": dict(codec="mpeg4", b_frames=0),
    "mpeg4_bframes.mp4": dict(codec="mpeg4", b_frames=2),
    "hevc_bframes.mp4": dict(codec="libx265", options={"x265-params": "bframes=3:keyint=12:log-level=none"}),
    "vp9.webm": dict(codec="libvpx-vp9", n=40),
}


def encode_vfr(path: Path, frames: np.ndarray, seed: int = 0) -> Path:
    """Variable frame rate: irregular timestamps (20 to 80 ms apart), B-frames."""
    steps = np.random.default_rng(seed).choice([20, 33, 50, 80], size=len(frames))
    pts = np.concatenate([[0], np.cumsum(steps[1:])])
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        s.options = {"bf": "2", "g": "12"}
        for f, t in zip(frames, pts):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = int(t), Fraction(1, 1000)
            c.mux(s.encode(vf))
        c.mux(s.encode())
    return path


def cut_by_stream_copy(src: Path, dst: Path, from_keyframe: int = 3) -> Path:
    """Remux from the n-th keyframe on without re-encoding (timestamps start late, like a trimmed clip)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        keyframes = 0
        for packet in inp.demux(s_in):
            if packet.dts is None:
                continue
            keyframes += packet.is_keyframe
            if keyframes >= from_keyframe:
                packet.stream = s_out
                out.mux(packet)
    return dst


EXTRA_VIDEOS = ("h264_vfr.mp4", "h264_stream_copy_cut.mp4")


def write_video_set(folder: Path) -> list[Path]:
    """Encode the codec and container matrix (``VIDEO_SPECS`` and ``EXTRA_VIDEOS``) into ``folder``."""
    for name, spec in VIDEO_SPECS.items():
        spec = dict(spec)
        n = spec.pop("n", 90)
        encode(folder / name, pattern_frames(n, seed=len(name)), **spec)
    encode_vfr(folder / "h264_vfr.mp4", pattern_frames(90, seed=1))
    cut_by_stream_copy(folder / "h264_bframes_ntsc.mp4", folder / "h264_stream_copy_cut.mp4")
    return [folder / name for name in (*VIDEO_SPECS, *EXTRA_VIDEOS)]


SMALL_SYNTHETIC: dict[str, Any] = dict(
    num_train=32, num_val=16, num_test=12, min_frames=20, max_frames=36, verbose=False
)


def decodable_frames(path) -> np.ndarray:
    """The frames PyAV's sequential decode gets out of a (possibly damaged) file before it stops."""
    frames = []
    with av.open(str(path)) as c:
        try:
            for frame in c.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
        except av.error.InvalidDataError:
            pass
    return np.stack(frames) if frames else np.zeros((0,), dtype=np.uint8)


def encode_turned(path: Path, frames: np.ndarray, matrix=None, degrees: int | None = None) -> Path:
    """H.264 with a display matrix in the container, as a phone writes one (`matrix`: FFmpeg's
    9 numbers) or as PyAV builds it from `degrees` counterclockwise; the coded frames stay as given."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"bf": "2", "g": "6"}
        if matrix is not None:
            s.set_display_matrix(matrix)
        else:
            assert degrees is not None, "encode_turned needs matrix or degrees"
            s.set_display_rotation(degrees)
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return path


def encode_grey(path: Path, width: int, height: int, n: int = 1) -> Path:
    """`n` flat grey frames, as small a file as libx264 makes (a huge frame size in a few KB)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "51"}
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([128]) * plane.buffer_size)
        for i in range(n):
            frame.pts = i
            c.mux(s.encode(frame))
        c.mux(s.encode())
    return path


SMALL = dict(
    num_frames=8,
    frame_stride=4,
    train_short_side=(40, 48),
    train_crop=40,
    flip=True,
    val_short_side=40,
    val_crop=32,
    test_short_side=40,
    test_clips=3,
    test_crops=3,
    batch_size=4,
    test_batch_size=2,
)


ALL_GENERATED = sorted((*VIDEO_SPECS, *EXTRA_VIDEOS))


def index_sets(n: int) -> list[list[int]]:
    rng = np.random.default_rng(n)
    return [
        [0],
        [n - 1],  # the last frame alone (decord's weak spot on some files)
        [n - 1, 0, n // 2],  # unsorted, seeking back
        [5, 5, 5, 2, 2],  # repeated
        sorted(rng.choice(n, size=8, replace=False).tolist()),  # sparse
        rng.integers(0, n, size=12).tolist() + [n - 1, n - 2, 1],  # unsorted sparse + end
        list(range(n - 8, n)),  # the tail
    ]


def assert_exact(path, ref: np.ndarray, indices, backend: str = "auto") -> None:
    out = read_frames(path, indices, backend=backend)
    assert out.dtype == torch.uint8 and out.shape == (len(indices), *ref.shape[1:])
    expected = ref[np.minimum(indices, len(ref) - 1)]
    # Measured: decord and PyAV convert YUV->RGB identically, so no tolerance is needed.
    diff = np.abs(out.numpy().astype(int) - expected.astype(int)).max(axis=(1, 2, 3))
    assert (diff == 0).all(), f"{path}: frames {np.asarray(indices)[diff > 0].tolist()} differ (max {diff.max()})"
