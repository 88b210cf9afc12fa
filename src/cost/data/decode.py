"""Exact frame decoding: the probe (cached per file version) and the choice of reader.

`auto` and `pyav` read with PyAV (`pyav_reader`); `decord` (`decord_reader`) only when named,
its frames being wrong for some containers and codecs; NVDEC is `nvdec`. docs/decoding.md has
how each reads and the measurements behind these choices. `probe` refuses frames over
`max_pixels` and files whose index points past their end before any frame is converted; a listed
frame that does not decode raises `VideoReadError`: no reader fills in a copy of another frame.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

# Container (PyAV format name pieces) and codec combinations where decord's seeking is exact.
DECORD_SAFE_FORMATS = ("mp4", "mov", "matroska", "webm")
DECORD_SAFE_CODECS = ("h264", "vp8", "vp9")
BACKENDS = ("auto", "decord", "pyav")
MAX_FRAME_PIXELS = 3840 * 2160  # 4K UHD, landscape or portrait


@functools.cache
def decord_available() -> bool:
    """Whether decord imports here (decord2's wheels: Linux x86-64/aarch64, macOS arm64, Windows x64)."""
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def require_decord(key: str = "backend") -> None:
    """Stop early, not per video, when decord is asked for by name but is missing."""
    if not decord_available():
        raise ImportError(
            f"{key}=decord needs the decord package, which is not installed here (pip install "
            f"decord2==3.4.0; wheels for Linux x86-64/aarch64, macOS arm64, Windows x64); use {key}=auto or {key}=pyav"
        )


class VideoReadError(RuntimeError):
    """A video that cannot be opened or decoded; `path` names the file."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}")


@dataclass(frozen=True)
class VideoInfo:
    format: str  # PyAV container format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "avi"
    codec: str  # e.g. "h264", "mpeg4"
    num_frames: int  # from the container header; 0 when unknown
    height: int  # coded size: before a display rotation (seen only on decoded frames)
    width: int

    @property
    def decord_exact(self) -> bool:
        names = self.format.split(",")
        return self.codec in DECORD_SAFE_CODECS and any(n in DECORD_SAFE_FORMATS for n in names)


def _check_file(path: str) -> None:
    if os.path.isdir(path):
        raise VideoReadError(path, "it is a directory, not a video file")
    if not os.path.isfile(path):
        raise VideoReadError(path, "file not found")
    if os.path.getsize(path) == 0:
        raise VideoReadError(path, "file is empty (0 bytes)")


PROBE_CACHE_SIZE = 4096
_probed: dict[tuple[str, int, int], VideoInfo] = {}  # (path, size, mtime_ns) -> what probe found
_probed_lock = threading.Lock()


def _file_key(path: str) -> tuple[str, int, int]:
    """The cache key of one version of a file (a rewritten file is probed again)."""
    _check_file(path)
    st = os.stat(path)
    return path, st.st_size, st.st_mtime_ns


def _read_info(container, path: str, size: int) -> VideoInfo:
    if not container.streams.video:
        raise VideoReadError(path, "no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    info = VideoInfo(container.format.name, ctx.name, int(stream.frames or 0), ctx.height, ctx.width)
    # The index (an MP4's lives at the front) says where each frame's bytes are.
    end = max((e.pos + e.size for e in stream.index_entries if e.pos >= 0), default=0)
    if end > size:
        raise VideoReadError(
            path,
            f"the file is cut short: its index places frame data up to byte {end}, "
            f"but it has {size} bytes (an interrupted download or copy?); "
            "re-download or re-encode it",
        )
    return info


def check_frame_size(
    path, width: int, height: int, max_pixels: int | None = MAX_FRAME_PIXELS, key: str = "max_pixels"
) -> None:
    """Refuse frames of more than `max_pixels` pixels (None: no limit); `key` names the setting."""
    if max_pixels is not None and width * height > max_pixels:
        raise VideoReadError(
            path,
            f"its frames are {width}x{height} = {width * height} pixels, more than {key}={max_pixels}; "
            f"shrink the video (python -m cost.data.tools resize) or raise {key}",
        )


def _probe(key: tuple[str, int, int], num_threads: int = 1, max_pixels=MAX_FRAME_PIXELS, pixels_key="max_pixels"):
    """(VideoInfo, the PyAV container opened to read it, or None when the info was cached).

    A PyAV read goes on with that container rather than opening the file a second time
    (2 ms of a 19 ms clip); whoever gets it closes it. The frame size is checked on every call
    (the limit may differ between callers), before any frame is read.
    """
    info = _probed.get(key)
    if info is not None:
        check_frame_size(key[0], info.width, info.height, max_pixels, pixels_key)
        return info, None
    import av

    path, size, _ = key
    container = None
    try:
        container = av.open(path)
        info = _read_info(container, path, size)  # first: it names a file without a video stream
        container.streams.video[0].codec_context.thread_count = num_threads
    except Exception as e:  # av raises many error types for non-videos; all become VideoReadError
        if container is not None:
            container.close()
        if isinstance(e, VideoReadError):
            raise
        raise VideoReadError(path, f"{type(e).__name__}: {e}") from None
    with _probed_lock:  # readers in threads (a notebook's pool) share the cache
        if len(_probed) >= PROBE_CACHE_SIZE:
            del _probed[next(iter(_probed))]  # the oldest
        _probed[key] = info
    try:
        check_frame_size(path, info.width, info.height, max_pixels, pixels_key)
    except VideoReadError:
        container.close()
        raise
    return info, container


def clear_probe_cache() -> None:
    """Forget every probed file (benchmarks: a dataset larger than the cache misses it every clip)."""
    _probed.clear()


def probe(path, max_pixels: int | None = MAX_FRAME_PIXELS, max_pixels_key: str = "max_pixels") -> VideoInfo:
    """Container, codec, header frame count and coded frame size of a video (cached per file
    version); `VideoReadError` when its frames have more than `max_pixels` pixels."""
    info, container = _probe(_file_key(str(path)), 1, max_pixels, max_pixels_key)
    if container is not None:
        container.close()
    return info


class OpenedVideo:
    """What every decoder's opened video shares (`Video` here, `NvdecVideo` in nvdec.py): the
    frame count, the checks of the indices asked for, and the with-statement."""

    path: str
    _num_frames: int

    def _set_num_frames(self, count: int) -> None:
        if count <= 0:
            raise VideoReadError(self.path, "video has no frames")
        self._num_frames = count

    @property
    def num_frames(self) -> int:
        return self._num_frames

    def _frames_to_decode(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The sorted unique indices to decode (forward only), past-the-end ones clamped to the
        last frame, and the positions that put the decoded frames back in the order asked."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise ValueError("read_frames needs at least one frame index")
        if (idx < 0).any():
            raise ValueError(f"frame indices must be >= 0, got {idx[idx < 0][:5].tolist()}")
        return np.unique(np.minimum(idx, self._num_frames - 1), return_inverse=True)

    def close(self) -> None:
        """Let go of the decoder."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Reader(Protocol):
    """One backend's opened file (`pyav_reader.PyavReader`, `decord_reader.DecordReader`; NVDEC's
    `nvdec.NvdecVideo` reads the same way onto the GPU)."""

    num_frames: int

    def frames(self, indices: np.ndarray) -> np.ndarray | None:
        """uint8 (N, H, W, 3) of the frames at sorted unique `indices` < `num_frames` (None: failed)."""

    def close(self) -> None: ...


class Video(OpenedVideo):
    """One opened video: `num_frames`, then `read(indices)` (frames upright). Use one per dataset item.

    Frames of more than `max_pixels` pixels make it unreadable here; `max_pixels_key` names
    that setting in the error (the data module passes `data.max_frame_pixels`)."""

    def __init__(
        self,
        path,
        num_threads: int = 1,
        backend: str = "auto",
        max_pixels: int | None = MAX_FRAME_PIXELS,
        max_pixels_key: str = "max_pixels",
    ):
        from .decord_reader import DecordReader, warn_decord_rotated
        from .pyav_reader import PyavReader, count_packets

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.path = str(path)
        self.num_threads = num_threads
        if backend == "decord":
            require_decord()
        # PyAV goes on with the container the probe opened (None on a cache hit); it is also decord's fallback
        self.info, unread = _probe(_file_key(self.path), num_threads, max_pixels, max_pixels_key)
        self._pyav = PyavReader(self.path, self.info, num_threads, unread)
        self._decord: DecordReader | None = None
        self.frames_decoded: int | None = None  # by the last read's PyAV path (None: decord read it)
        self.rotation: int | None = None  # degrees clockwise the last PyAV read turned the frames
        # decord turns rotated frames in MP4, not in MKV: such videos go to PyAV (one frame decoded to know)
        if backend == "decord" and self._pyav.first_frame_turned():
            warn_decord_rotated(self.info.format)
        elif backend == "decord":
            self._decord = DecordReader(self.path, self.info, num_threads)
        self.backend = "pyav" if self._decord is None else "decord"
        self._set_num_frames(
            self._decord.num_frames if self._decord else self.info.num_frames or count_packets(self.path)
        )
        self._pyav.num_frames = self._num_frames

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """uint8 tensor (T, H, W, 3) of the frames at `indices`, in the order given."""
        uniq, inverse = self._frames_to_decode(indices)
        self.frames_decoded, self.rotation = None, None
        frames = self._decord.frames(uniq) if self._decord is not None else None
        if frames is None:
            frames = self._pyav.frames(uniq)
            self.frames_decoded, self.rotation = self._pyav.decoded, self._pyav.rotation
        return torch.from_numpy(np.ascontiguousarray(frames[inverse]))

    def close(self) -> None:
        if self._decord is not None:
            self._decord.close()
        self._pyav.close()


def read_frames(
    path: str | Path,
    indices: Sequence[int],
    num_threads: int = 1,
    backend: str = "auto",
    max_pixels: int | None = MAX_FRAME_PIXELS,
) -> torch.Tensor:
    """Exact frames at 0-based `indices` (in that order) as uint8 (T, H, W, 3), upright.

    Indices past the end are clamped to the last frame. `backend="decord"` forces decord
    (not exact for AVI or MPEG-4 Part 2, kept for tests and speed checks).
    """
    with Video(path, num_threads=num_threads, backend=backend, max_pixels=max_pixels) as video:
        return video.read(indices)


def count_frames(path: str | Path, num_threads: int = 1) -> int:
    """Number of frames as the reader used by `read_frames` sees it."""
    with Video(path, num_threads=num_threads) as video:
        return video.num_frames
