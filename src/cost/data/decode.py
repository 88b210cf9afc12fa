"""Exact frame decoding: PyAV's seeking reader by default; decord when asked for by name.

`auto` (the default) and `pyav` read with PyAV. Where the container's timestamps identify
every frame (MP4/MOV/MKV/WebM) it seeks to the keyframe at or before each needed frame and
decodes forward from there, naming frames by their presentation timestamp and not decoding
unneeded non-reference frames, so an all-intra file costs one decoded frame per sampled frame.
AVI (unreliable timestamps) and anything unexpected after a seek are decoded sequentially from
frame 0. Frames come back in the order asked; indices past the end are clamped to the last one.

decord 0.6.0 (`backend="decord"`) was the default until the seeking reader beat it: over the
same training windows, a fresh probe per clip, PyAV was 1.11-1.50x faster on every file tried
(real Kinetics clips, keyint 250/16/1, MKV), and it read 1.2-4.5x fewer bytes on all but the
MKV (0.9x) (docs/decoding.md). Measured against PyAV's sequential decode
(tests/data/test_decode.py), decord's frames are:

* bit-identical for H.264 / VP8 / VP9 in MP4, MOV, MKV or WebM (sparse, unsorted, repeated
  and last-frame indices, B-frames up to 8, pyramid, open GOP, 30000/1001 fps, variable
  frame rate, stream-copy cuts);
* wrong for sparse batches of HEVC with B-frames (21 of 30 sets); AV1 does not open;
* wrong after a seek for any stream in AVI and for MPEG-4 Part 2 in any container (off by a
  few frames, or an early frame for the last one; on a real MPEG-4 AVI the errors come and
  go between runs).

So a forced decord warns once per container and codec where it is known to be wrong; a read
that decord fails goes to PyAV.

Frames come out as a player shows them: a phone video's display matrix (recorded sideways,
"rotate 90") turns the decoded frames by a multiple of 90 degrees (`Video.rotation`).

Frames larger than `max_pixels` (default 4K UHD in either orientation, 3840 x 2160) make the
video unreadable at `probe`, before a frame is converted: a 189 KB file of 8000x8000 frames took
4.75 GB and 32 s to read one 8-frame clip.

No frozen frames: a file whose index points past its end (a cut download) is unreadable at
`probe`, and a frame below `num_frames` that does not decode raises `VideoReadError`; the
reader never fills in a copy of another frame.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

# Container (PyAV format name pieces) and codec combinations where decord's seeking is exact.
DECORD_SAFE_FORMATS = ("mp4", "mov", "matroska", "webm")
DECORD_SAFE_CODECS = ("h264", "vp8", "vp9")
# Containers whose packet timestamps name every frame, so PyAV may seek (AVI's do not).
SEEK_SAFE_FORMATS = ("mp4", "mov", "matroska", "webm")
BACKENDS = ("auto", "decord", "pyav")
MAX_FRAME_PIXELS = 3840 * 2160  # 4K UHD, landscape or portrait
log = logging.getLogger("cost.data")


@functools.cache
def decord_available() -> bool:
    """Whether decord imports here (its wheels are for Linux x86-64 and Windows only)."""
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def require_decord(key: str = "backend") -> None:
    """Stop early, not per video, when decord is asked for by name but is missing."""
    if not decord_available():
        raise ImportError(
            f"{key}=decord needs the decord package, which is not installed here (it has wheels "
            f"for Linux x86-64 and Windows only); use {key}=auto or {key}=pyav"
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


class _Tally:
    """What one PyAV read found: frames decoded, and the clockwise turn its display matrix asked for."""

    def __init__(self):
        self.decoded, self.rotation = 0, 0


def _upright(frame, tally: _Tally) -> np.ndarray:
    """RGB of `frame` as a player shows it: turned by its display matrix's multiple of 90 degrees."""
    rgb = frame.to_ndarray(format="rgb24")
    k = round(frame.rotation / 90) % 4  # counterclockwise quarter turns
    tally.rotation = -90 * k % 360
    return np.rot90(rgb, k) if k else rgb


def _missing_frames(path: str, wanted: np.ndarray, got: dict, num_frames: int) -> VideoReadError:
    missing = [int(i) for i in wanted if int(i) not in got]
    return VideoReadError(
        path,
        f"frames {missing[:5]}{' ...' if len(missing) > 5 else ''} of the {num_frames} "
        f"it lists do not decode (the file is damaged or cut short); re-encode or remove it",
    )


def _frame_table(container, stream) -> tuple[dict[int, int], np.ndarray] | None:
    """{pts: frame index} and the sorted indices of keyframes, from one demux pass (no decode).

    None when the timestamps cannot name the frames (a missing or repeated pts).
    """
    pts, keys = [], []
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:
            continue
        if packet.pts is None:
            return None
        pts.append(packet.pts)
        keys.append(packet.is_keyframe)
    order = np.argsort(pts, kind="stable")
    sorted_pts = np.asarray(pts, dtype=np.int64)[order]
    if len(sorted_pts) == 0 or (np.diff(sorted_pts) == 0).any() or not keys[order[0]]:
        return None
    index_of = {int(t): i for i, t in enumerate(sorted_pts)}
    return index_of, np.flatnonzero(np.asarray(keys)[order])


def _decode_sequential(container, stream, wanted: np.ndarray, out: dict, tally: _Tally) -> None:
    """Frames at `wanted` (sorted, unique) into `out`, decoding a fresh container from frame 0."""
    wanted_set, last_needed = set(int(i) for i in wanted), int(wanted[-1])
    for n, frame in enumerate(container.decode(stream)):
        tally.decoded += 1
        if n in wanted_set:
            out[n] = _upright(frame, tally)
        if n >= last_needed:
            break


def _decode_needed(container, stream, index_of: dict[int, int], wanted_set: set[int]):
    """Decode forward from the current position; a frame that is neither wanted nor a reference
    for later frames is not decoded at all (the codec's skip_frame=NONREF)."""
    ctx = stream.codec_context
    for packet in container.demux(stream):
        skip = packet.pts is not None and index_of.get(packet.pts) not in wanted_set
        ctx.skip_frame = "NONREF" if skip else "DEFAULT"
        yield from packet.decode()


def _decode_seeking(
    container, stream, wanted: np.ndarray, index_of: dict[int, int], keyframes: np.ndarray, out: dict, tally: _Tally
) -> None:
    """Frames at `wanted` (sorted, unique) into `out`, decoding forward from the keyframe at or before each.

    A frame is named by its pts; frames before the keyframe sought (an open GOP's leading
    B-frames) are ignored. Stops early (`out` incomplete) if a seek lands after the frame asked for.
    """
    pts_of = {i: t for t, i in index_of.items()}
    wanted_set = set(int(i) for i in wanted)
    position, frames = None, None  # next frame index the decoder will return
    for target in (int(i) for i in wanted):
        if target in out:
            continue
        key = int(keyframes[np.searchsorted(keyframes, target, side="right") - 1])
        if position is None or position > target or key > position:
            container.seek(pts_of[key], stream=stream, backward=True)
            frames, floor, first = _decode_needed(container, stream, index_of, wanted_set), key, True
        assert frames is not None  # position was None: the seek above started the decoder
        for frame in frames:
            tally.decoded += 1
            j = index_of.get(frame.pts)
            if j is None or j < floor:
                continue
            if first and j > target:
                return
            first, position = False, j + 1
            if j in wanted_set:
                out[j] = _upright(frame, tally)
            if j >= target:
                break


def _open_video(path: str, num_threads: int):
    import av

    container = av.open(path)
    container.streams.video[0].codec_context.thread_count = num_threads
    return container


def _pyav_frames(
    path: str, wanted: np.ndarray, num_frames: int, num_threads: int = 1, seek: bool = False, container=None
) -> tuple[dict[int, np.ndarray], _Tally]:
    """Frames at `wanted` (sorted, unique, < num_frames) with PyAV, upright, and what the read found.

    `container`: the file already open and not yet read (`_probe`'s); it is closed here.
    Raises `VideoReadError` if any of the frames does not decode.
    """
    import av

    out: dict[int, np.ndarray] = {}
    tally = _Tally()
    try:
        if seek:
            with container or _open_video(path, num_threads) as opened:
                stream = opened.streams.video[0]
                table = _frame_table(opened, stream)
                if table is not None and len(table[0]) == num_frames:
                    # a damaged stream: the sequential decode below finds what is damaged
                    with contextlib.suppress(av.error.InvalidDataError):
                        _decode_seeking(opened, stream, wanted, *table, out, tally)
            container = None
        if len(out) < len(wanted):
            out = {}
            # a damaged stream: the frames that did not decode are reported below
            with container or _open_video(path, num_threads) as opened, contextlib.suppress(av.error.InvalidDataError):
                _decode_sequential(opened, opened.streams.video[0], wanted, out, tally)
    except VideoReadError:
        raise
    except Exception as e:  # noqa: BLE001 - any decoder failure becomes a VideoReadError naming the file
        raise VideoReadError(path, f"{type(e).__name__}: {e}") from None
    finally:
        if container is not None:
            container.close()
    if len(out) < len(wanted):
        raise _missing_frames(path, wanted, out, num_frames)
    return out, tally


def _pyav_count(path: str) -> int:
    """Count frames by demuxing (no decode); used when the header has no frame count."""
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            return sum(1 for p in container.demux(stream) if p.size > 0)
    except Exception as e:  # noqa: BLE001 - any demuxer failure becomes a VideoReadError naming the file
        raise VideoReadError(path, f"{type(e).__name__}: {e}") from None


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


@functools.cache
def _warn_decord_inexact(format: str, codec: str) -> None:
    log.warning(
        "backend=decord reads %s in %s, where decord 0.6.0 returns wrong frames after a seek "
        "(docs/decoding.md); use backend=auto for exact frames",
        codec,
        format,
    )


@functools.cache
def _warn_decord_rotated(format: str) -> None:
    log.warning(
        "backend=decord: a video in %s has a display rotation, which decord 0.6.0 does not apply in every "
        "container; such videos are read with PyAV, upright (docs/decoding.md)",
        format,
    )


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
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.path = str(path)
        self.num_threads = num_threads
        if backend == "decord":
            require_decord()
        # `_unread`: the container the probe opened, kept for the first PyAV read (None on a cache hit)
        self.info, self._unread = _probe(_file_key(self.path), num_threads, max_pixels, max_pixels_key)
        self.backend = "decord" if backend == "decord" else "pyav"
        self._vr = None
        self.frames_decoded: int | None = None  # by the last read's PyAV path (None: decord read it)
        self.rotation: int | None = None  # degrees clockwise the last PyAV read turned the frames
        if self.backend == "decord" and self._first_frame_turned():
            _warn_decord_rotated(self.info.format)
            self.backend = "pyav"
        if self.backend == "decord":
            if not self.info.decord_exact:
                _warn_decord_inexact(self.info.format, self.info.codec)
            self._close_unread()
            try:
                import decord

                self._vr = decord.VideoReader(self.path, num_threads=num_threads)
                count = len(self._vr)
            except Exception as e:  # noqa: BLE001 - decord raises its own DECORDError and plain RuntimeErrors
                raise VideoReadError(self.path, f"decord: {e}") from None
        else:
            count = self.info.num_frames or _pyav_count(self.path)
        self._set_num_frames(count)

    def _first_frame_turned(self) -> bool:
        """Whether the display matrix turns the frames (decord turns them in MP4, not in MKV):
        one PyAV frame decoded, for `backend="decord"` only."""
        try:
            with self._unread or _open_video(self.path, self.num_threads) as container:
                frame = next(container.decode(video=0), None)
        except Exception:  # noqa: BLE001 - a damaged file: decord and the PyAV fallback report it
            return False
        finally:
            self._unread = None
        return frame is not None and round(frame.rotation / 90) % 4 != 0

    def _close_unread(self) -> None:
        if self._unread is not None:
            self._unread.close()
            self._unread = None

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """uint8 tensor (T, H, W, 3) of the frames at `indices`, in the order given."""
        uniq, inverse = self._frames_to_decode(indices)
        frames, self.frames_decoded, self.rotation = None, None, None
        if self.backend == "decord":
            assert self._vr is not None  # opened with the decord backend
            try:
                frames = self._vr.get_batch(uniq.tolist()).asnumpy()
            except Exception:  # noqa: BLE001 - decord's errors: fall back to PyAV below
                frames = None  # e.g. a header frame count beyond the decodable end
            if frames is not None and frames.shape[0] != uniq.size:
                frames = None
        if frames is None:
            seek = any(n in SEEK_SAFE_FORMATS for n in self.info.format.split(","))
            container, self._unread = self._unread, None
            got, tally = _pyav_frames(self.path, uniq, self._num_frames, self.num_threads, seek, container)
            self.frames_decoded, self.rotation = tally.decoded, tally.rotation
            frames = np.stack([got[int(i)] for i in uniq])
        return torch.from_numpy(np.ascontiguousarray(frames[inverse]))

    def close(self) -> None:
        self._vr = None
        self._close_unread()


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
