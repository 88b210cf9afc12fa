"""Video data pipeline: decoding, frame sampling, transforms, annotations, DataModule.

Names are imported lazily so that `import cost.data` stays fast (Lightning, PyAV and decord
load only when used).
"""

import importlib

_EXPORTS = {
    "read_frames": "decode", "count_frames": "decode", "probe": "decode", "Video": "decode",
    "VideoReadError": "decode",
    "train_indices": "sampling", "center_indices": "sampling", "uniform_indices": "sampling",
    "resolve_stride": "sampling",
    "TrainTransform": "transforms", "EvalTransform": "transforms", "MultiViewTransform": "transforms",
    "Manifest": "manifest",
    "read_kinetics_csv": "annotations", "read_moments_csv": "annotations", "read_moments_categories": "annotations",
    "kinetics_class_names": "annotations", "read_list_file": "annotations", "read_class_folders": "annotations", "read_class_names": "annotations",
    "VideoClipDataset": "dataset", "ClipCollate": "dataset",
    "VideoDataModule": "datamodule", "ExactShardSampler": "datamodule",
    "ensure_synthetic": "synthetic", "CLASS_NAMES": "synthetic",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cost.data' has no attribute {name!r}")


def __dir__():
    return __all__
