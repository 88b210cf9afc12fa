"""NVDEC decoding (`data.decode_backend=nvdec`): frames decoded by the GPU's video engine with
PyNvVideoCodec (optional extra: `pip install -e ".[nvdec]"`), returned as uint8 on the GPU.

CUDA cannot be used in forked loader workers, so this backend decodes in the main process
(the data module sets `num_workers=0` for it) and always uses the device transforms. The
frames are the same as PyAV's (same indices, checked by tests/data/test_nvdec.py on a GPU);
the colours differ slightly because NVDEC converts YUV to RGB with its own kernel (the
measured difference is in docs/benchmarks.md, "GPU: the feed").
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from .decode import MAX_FRAME_PIXELS, OpenedVideo, VideoReadError, probe


@functools.lru_cache(maxsize=1)
def nvdec_unavailable() -> str | None:
    """Why NVDEC cannot run here, or None when it can."""
    if not torch.cuda.is_available():
        return "no CUDA GPU"
    try:
        import PyNvVideoCodec  # noqa: F401
    except ImportError as e:
        return f"PyNvVideoCodec is not installed ({e}); pip install -e '.[nvdec]'"
    return None


class NvdecVideo(OpenedVideo):
    """Same interface as `decode.Video`: `num_frames`, `read(indices)` -> uint8 (T, H, W, 3) on the GPU."""

    def __init__(
        self,
        path,
        num_threads: int = 1,
        backend: str = "nvdec",
        gpu_id: int | None = None,
        max_pixels: int | None = MAX_FRAME_PIXELS,
    ):
        import PyNvVideoCodec as nvc

        self.path = str(path)
        probe(self.path, max_pixels, "data.max_frame_pixels")  # a missing file or giant frames: before the GPU
        self.backend = "nvdec"
        self.gpu_id = torch.cuda.current_device() if gpu_id is None else gpu_id
        try:
            self._dec = nvc.SimpleDecoder(
                self.path, gpu_id=self.gpu_id, use_device_memory=True, output_color_type=nvc.OutputColorType.RGB
            )
            count = len(self._dec)
        except Exception as e:  # noqa: BLE001 - the bindings raise plain RuntimeErrors/ValueErrors
            raise VideoReadError(self.path, f"nvdec: {type(e).__name__}: {e}") from None
        self._set_num_frames(count)

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        uniq, inverse = self._frames_to_decode(indices)
        try:
            frames = self._dec.get_batch_frames_by_index(uniq.tolist())
            out = torch.stack([torch.from_dlpack(f) for f in frames])
        except Exception as e:  # noqa: BLE001 - as above: any decoder failure names the file
            raise VideoReadError(self.path, f"nvdec: {type(e).__name__}: {e}") from None
        if out.shape[0] != uniq.size:
            raise VideoReadError(self.path, f"nvdec returned {out.shape[0]} of {uniq.size} frames")
        return out[torch.as_tensor(inverse, device=out.device)].reshape(inverse.size, *out.shape[-3:])

    def close(self) -> None:
        self._dec = None
