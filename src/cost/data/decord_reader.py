"""decord's reader (`decode_backend=decord`, by name only): `get_batch` on sorted unique indices.

Its frames are exact only for H.264/VP8/VP9 in MP4, MOV, MKV or WebM (`VideoInfo.decord_exact`;
the measurements are in docs/decoding.md), so it warns once per container and codec elsewhere.
A read decord fails returns None and `decode.Video` reads it with PyAV instead.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from .decode import VideoInfo, VideoReadError

log = logging.getLogger("cost.data")


@functools.cache
def _warn_decord_inexact(format: str, codec: str) -> None:
    log.warning(
        "backend=decord reads %s in %s, where decord returns wrong frames after a seek "
        "(docs/decoding.md); use backend=auto for exact frames",
        codec,
        format,
    )


@functools.cache
def warn_decord_rotated(format: str) -> None:
    log.warning(
        "backend=decord: a video in %s has a display rotation, which decord does not apply in every "
        "container; such videos are read with PyAV, upright (docs/decoding.md)",
        format,
    )


class DecordReader:
    """One file opened with decord; `num_frames` is decord's count."""

    def __init__(self, path: str, info: VideoInfo, num_threads: int = 1):
        if not info.decord_exact:
            _warn_decord_inexact(info.format, info.codec)
        self.path = path
        try:
            import decord

            self._vr = decord.VideoReader(path, num_threads=num_threads)
            self.num_frames = len(self._vr)
        except Exception as e:  # noqa: BLE001 - decord raises its own DECORDError and plain RuntimeErrors
            raise VideoReadError(path, f"decord: {e}") from None

    def frames(self, indices: np.ndarray) -> np.ndarray | None:
        """uint8 (N, H, W, 3) of the frames at sorted unique `indices`, or None where decord fails."""
        try:
            frames = self._vr.get_batch(indices.tolist()).asnumpy()
        except Exception:  # noqa: BLE001 - decord's errors: the caller reads with PyAV
            return None  # e.g. a header frame count beyond the decodable end
        return frames if frames.shape[0] == indices.size else None

    def close(self) -> None:
        self._vr = None
