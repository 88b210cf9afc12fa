"""Where frames are decoded and transformed: `data.decode_backend` (NVDEC included) and
`data.device_transforms`, checked at construction and decided once at setup."""

from __future__ import annotations

import logging

import pytest
import torch

from cost.data import VideoDataModule
from cost.data.backend import device_transforms_value, resolve_backend
from tests.helpers.data import SMALL, SMALL_SYNTHETIC


def make_dm(root, **kw) -> VideoDataModule:
    return VideoDataModule(
        format="synthetic", root=str(root), num_workers=0, synthetic=SMALL_SYNTHETIC, **{**SMALL, **kw}
    )


def test_device_transforms_follow_the_setting_and_auto_follows_the_trainer():
    assert [device_transforms_value(v) for v in ("auto", "true", "False", True, False)] == [
        "auto",
        True,
        False,
        True,
        False,
    ]
    assert resolve_backend("pyav", "auto", on_gpu=True) == ("pyav", True)
    assert resolve_backend("pyav", "auto", on_gpu=False) == ("pyav", False)
    assert resolve_backend("auto", True, on_gpu=False) == ("auto", True)
    assert resolve_backend("auto", False, on_gpu=True) == ("auto", False)


def test_device_transforms_auto_is_off_without_a_gpu_trainer(synthetic_root):
    dm = make_dm(synthetic_root)  # device_transforms="auto", no trainer attached
    dm.setup("fit")
    assert dm.use_device_transforms is False
    assert next(iter(dm.train_dataloader()))["clips"].dtype == torch.float32
    with pytest.raises(ValueError, match="data.device_transforms"):
        make_dm(synthetic_root, device_transforms="gpu")


def test_nvdec_without_a_gpu_falls_back_with_one_message(synthetic_root, caplog):
    from cost.data.nvdec import nvdec_unavailable

    reason = nvdec_unavailable()
    if reason is None:
        pytest.skip("NVDEC is available here: the fallback does not apply")
    dm = make_dm(synthetic_root, decode_backend="nvdec")
    with caplog.at_level(logging.WARNING, logger="cost.data"):
        dm.setup(None)
        batch = next(iter(dm.train_dataloader()))
    messages = [r.getMessage() for r in caplog.records if "nvdec" in r.getMessage()]
    assert len(messages) == 1 and reason in messages[0] and "CPU" in messages[0]
    assert dm.backend == "auto" and batch["clips"].shape == (4, 3, 8, 40, 40)


def test_unknown_decode_backend_names_the_key(tmp_path):
    from cost.data import VideoDataModule

    with pytest.raises(ValueError, match="data.decode_backend"):
        VideoDataModule(format="list", root=str(tmp_path), decode_backend="ffmpeg")
