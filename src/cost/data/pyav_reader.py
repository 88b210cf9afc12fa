"""PyAV's exact reader (`decode_backend=auto` or `pyav`): seeking where timestamps name every frame.

In MP4/MOV/MKV/WebM it seeks to the keyframe at or before each needed frame and decodes
forward, naming frames by their presentation timestamp and not decoding unneeded
non-reference frames (an all-intra file costs one decoded frame per sampled frame). AVI and
anything unexpected after a seek are decoded sequentially from frame 0. Frames come out
upright: a display matrix turns them by a multiple of 90 degrees, as a player does.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .decode import VideoInfo, VideoReadError

# Containers whose packet timestamps name every frame, so PyAV may seek (AVI's do not).
SEEK_SAFE_FORMATS = ("mp4", "mov", "matroska", "webm")


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


def open_container(path: str, num_threads: int):
    import av

    container = av.open(path)
    container.streams.video[0].codec_context.thread_count = num_threads
    return container


def pyav_frames(
    path: str, wanted: np.ndarray, num_frames: int, num_threads: int = 1, seek: bool = False, container=None
) -> tuple[dict[int, np.ndarray], _Tally]:
    """Frames at `wanted` (sorted, unique, < num_frames) with PyAV, upright, and what the read found.

    `container`: the file already open and not yet read (the probe's); it is closed here.
    Raises `VideoReadError` if any of the frames does not decode.
    """
    import av

    out: dict[int, np.ndarray] = {}
    tally = _Tally()
    try:
        if seek:
            with container or open_container(path, num_threads) as opened:
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
            with (
                container or open_container(path, num_threads) as opened,
                contextlib.suppress(av.error.InvalidDataError),
            ):
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


def count_packets(path: str) -> int:
    """Count frames by demuxing (no decode); used when the header has no frame count."""
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            return sum(1 for p in container.demux(stream) if p.size > 0)
    except Exception as e:  # noqa: BLE001 - any demuxer failure becomes a VideoReadError naming the file
        raise VideoReadError(path, f"{type(e).__name__}: {e}") from None


class PyavReader:
    """One file read with PyAV. `container`: the probe's, still unread (None: open the file per read).

    `num_frames` (set by `decode.Video`) is the count the read checks against; after each read,
    `decoded` is the number of frames decoded and `rotation` the clockwise turn applied.
    """

    def __init__(self, path: str, info: VideoInfo, num_threads: int = 1, container=None):
        self.path, self.num_threads, self._unread = path, num_threads, container
        self.num_frames = info.num_frames
        self.seek = any(n in SEEK_SAFE_FORMATS for n in info.format.split(","))
        self.decoded: int | None = None
        self.rotation: int | None = None

    def first_frame_turned(self) -> bool:
        """Whether the display matrix turns the frames; decodes one frame and uses up the probe's container."""
        try:
            with self._unread or open_container(self.path, self.num_threads) as container:
                frame = next(container.decode(video=0), None)
        except Exception:  # noqa: BLE001 - a damaged file: the reads that follow report it
            return False
        finally:
            self._unread = None
        return frame is not None and round(frame.rotation / 90) % 4 != 0

    def frames(self, indices: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) of the frames at sorted unique `indices` < `num_frames`."""
        container, self._unread = self._unread, None
        got, tally = pyav_frames(self.path, indices, self.num_frames, self.num_threads, self.seek, container)
        self.decoded, self.rotation = tally.decoded, tally.rotation
        return np.stack([got[int(i)] for i in indices])

    def close(self) -> None:
        if self._unread is not None:
            self._unread.close()
            self._unread = None
