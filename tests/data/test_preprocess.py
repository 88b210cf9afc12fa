"""`DevicePreprocessor`: the device half of the transforms, built once by the data module and
owned by the model; batches hold only tensors and lists of paths."""

from __future__ import annotations

import pytest
import torch

from cost.data import VideoDataModule
from cost.data.preprocess import DevicePreprocessor
from cost.data.transforms import EvalTransform, MultiViewTransform, TrainTransform
from tests.helpers.data import SMALL, SMALL_SYNTHETIC


def make_dm(root, **kw) -> VideoDataModule:
    return VideoDataModule(
        format="synthetic", root=str(root), num_workers=0, synthetic=SMALL_SYNTHETIC, **{**SMALL, **kw}
    )


def _plain_data(value) -> bool:
    """A tensor, or a list/tuple of strings (the paths of skipped videos)."""
    return torch.is_tensor(value) or (isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value))


@pytest.mark.parametrize("device_transforms", [False, True], ids=["cpu_path", "device_path"])
def test_no_batch_value_is_a_callable_or_an_object(synthetic_root, device_transforms):
    dm = make_dm(synthetic_root, device_transforms=device_transforms)
    dm.setup(None)
    loaders = {"train": dm.train_dataloader(), "val": dm.val_dataloader(), "test": dm.test_dataloader()}
    for split, loader in loaders.items():
        batch = next(iter(loader))
        assert "clips" in batch and ("aug" in batch) == device_transforms, split
        odd = {k: type(v).__name__ for k, v in batch.items() if callable(v) or not _plain_data(v)}
        assert not odd, f"{split} batch holds {odd}"
        if split != "train":
            assert batch["skipped"] == []  # the paths of unreadable videos travel as a list of str


def test_the_data_module_builds_one_preprocessor_and_none_on_the_cpu_path(synthetic_root):
    dm = make_dm(synthetic_root, device_transforms=True)
    with pytest.raises(RuntimeError, match=r"call setup\(\) before device_preprocessor\(\)"):
        dm.device_preprocessor()
    dm.setup("fit")
    pre = dm.device_preprocessor()
    assert isinstance(pre, DevicePreprocessor) and dm.device_preprocessor() is pre
    assert pre.mean.tolist() == list(dm.mean) and pre.std.tolist() == list(dm.std)
    off = make_dm(synthetic_root, device_transforms=False)
    off.setup("fit")
    assert off.device_preprocessor() is None


def test_constants_are_buffers_that_move_but_are_not_saved():
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 0.125)
    pre = DevicePreprocessor(
        {
            "train": TrainTransform((24, 32), 20, mean=mean, std=std),
            "val": EvalTransform(24, 20, mean=mean, std=std),
            "test": MultiViewTransform(24, 1, mean=mean, std=std),
        }
    )
    assert dict(pre.named_buffers()).keys() == {"mean", "std"}
    assert pre.mean.dtype == torch.float64 and pre.std.tolist() == list(std)
    assert pre.state_dict() == {}  # checkpoints stay as they were
    assert pre.to("meta").mean.device.type == "meta"


def test_transforms_with_different_normalisations_or_an_unknown_split_are_refused():
    with pytest.raises(ValueError, match="share one mean and std"):
        DevicePreprocessor({"train": EvalTransform(24, 20), "val": EvalTransform(24, 20, std=(1.0, 1.0, 1.0))})
    pre = DevicePreprocessor({"val": EvalTransform(24, 20)})
    batch = {"clips": torch.zeros(0, 2, 30, 40, 3, dtype=torch.uint8), "aug": torch.zeros(0, 1, 11, dtype=torch.int64)}
    with pytest.raises(KeyError, match="no device transform for the 'train' split"):
        pre(batch, "train")
    assert pre(batch, "val").keys() == {"clips"}  # "aug" is used up
