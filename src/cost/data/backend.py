"""Where frames are decoded and transformed: the decoder (`data.decode_backend`, NVDEC included)
and the device path of the transforms (`data.device_transforms`), checked when the data module
is made and decided once at its `setup`.
"""

from __future__ import annotations

import logging

from .decode import BACKENDS, require_decord

log = logging.getLogger("cost.data")
DEVICE_TRANSFORMS = ("auto", True, False)


def device_transforms_value(value):
    """data.device_transforms: auto | true | false (Hydra may pass the strings)."""
    value = {"true": True, "false": False}.get(str(value).lower(), value) if isinstance(value, str) else value
    if value not in DEVICE_TRANSFORMS:
        raise ValueError(f"data.device_transforms must be auto, true or false, got {value!r}")
    return value


def check_decode_backend(decode_backend: str) -> str:
    """data.decode_backend: one of the CPU decoders or nvdec; decord must be importable."""
    if decode_backend not in (*BACKENDS, "nvdec"):
        raise ValueError(f"data.decode_backend must be one of {(*BACKENDS, 'nvdec')}, got {decode_backend!r}")
    if decode_backend == "decord":
        require_decord("data.decode_backend")
    return decode_backend


def check_max_frame_pixels(max_frame_pixels):
    if max_frame_pixels is not None and (
        isinstance(max_frame_pixels, bool) or not isinstance(max_frame_pixels, int) or max_frame_pixels < 1
    ):
        raise ValueError(
            f"data.max_frame_pixels must be a whole number >= 1 (or null: no limit), got {max_frame_pixels!r}"
        )
    return max_frame_pixels


def resolve_backend(decode_backend: str, device_transforms, on_gpu: bool) -> tuple[str, bool]:
    """(the decoder, whether the device path is on); NVDEC that cannot run says why and falls
    back to the CPU decoder, and NVDEC implies the device path."""
    backend = decode_backend
    if backend == "nvdec":
        from .nvdec import nvdec_unavailable

        reason = nvdec_unavailable()
        if reason:
            log.warning(
                "data.decode_backend=nvdec cannot run here (%s); decoding on the CPU "
                "(data.decode_backend=auto) instead",
                reason,
            )
            backend = "auto"
    on = device_transforms
    if backend == "nvdec":
        if on is False:
            log.warning(
                "data.decode_backend=nvdec decodes onto the GPU, so the transforms run there "
                "too; data.device_transforms=false is ignored"
            )
        on = True
    return backend, on_gpu if on == "auto" else bool(on)
