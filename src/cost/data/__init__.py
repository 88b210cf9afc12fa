"""Video data pipeline: decoding, frame sampling, transforms, annotations, DataModule.

The torch-free modules are imported here directly. Decoding, transforms, the dataset and the
DataModule import torch (and Lightning), so they load on first use of one of their names: the
dataset tools (`python -m cost.data.tools`) start without torch. The ``TYPE_CHECKING`` imports
below name each of them, so editors and type checkers follow every export.
"""

from typing import TYPE_CHECKING

from .annotations import (
    kinetics_class_names,
    read_class_folders,
    read_class_names,
    read_kinetics_csv,
    read_list_file,
    read_moments_categories,
    read_moments_csv,
)
from .manifest import Manifest
from .sampling import center_indices, resolve_stride, train_indices, uniform_indices
from .synthetic import CLASS_NAMES, ensure_synthetic

if TYPE_CHECKING:
    from .datamodule import ExactShardSampler, VideoDataModule
    from .dataset import ClipCollate, VideoClipDataset
    from .decode import Video, VideoReadError, count_frames, probe, read_frames
    from .preprocess import DevicePreprocessor
    from .transforms import EvalTransform, MultiViewTransform, TrainTransform

_TORCH_EXPORTS = {
    "datamodule": ("ExactShardSampler", "VideoDataModule"),
    "dataset": ("ClipCollate", "VideoClipDataset"),
    "decode": ("Video", "VideoReadError", "count_frames", "probe", "read_frames"),
    "preprocess": ("DevicePreprocessor",),
    "transforms": ("EvalTransform", "MultiViewTransform", "TrainTransform"),
}
_MODULE_OF = {name: module for module, names in _TORCH_EXPORTS.items() for name in names}

__all__ = [
    "CLASS_NAMES",
    "ClipCollate",
    "DevicePreprocessor",
    "EvalTransform",
    "ExactShardSampler",
    "Manifest",
    "MultiViewTransform",
    "TrainTransform",
    "Video",
    "VideoClipDataset",
    "VideoDataModule",
    "VideoReadError",
    "center_indices",
    "count_frames",
    "ensure_synthetic",
    "kinetics_class_names",
    "probe",
    "read_class_folders",
    "read_class_names",
    "read_frames",
    "read_kinetics_csv",
    "read_list_file",
    "read_moments_categories",
    "read_moments_csv",
    "resolve_stride",
    "train_indices",
    "uniform_indices",
]


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'cost.data' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
