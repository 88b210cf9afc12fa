"""`VideoDataModule`: one LightningDataModule for every dataset format.

Its jobs live in their own modules: which reader builds each split (`splits`), where frames
are decoded and transformed (`backend`), the samplers (`samplers`, distributed loading
included), and the device half of the transforms the model takes (`preprocess`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from torch.utils.data import DataLoader

from .backend import (
    DEVICE_TRANSFORMS,
    check_decode_backend,
    check_max_frame_pixels,
    device_transforms_value,
    resolve_backend,
)
from .dataset import ClipCollate, VideoClipDataset
from .decode import MAX_FRAME_PIXELS
from .manifest import Manifest
from .preprocess import DevicePreprocessor
from .samplers import ExactShardSampler, shard_sampler, train_sampler, val_sampler, world
from .sampling import SHORT_VIDEO_MODES, resolve_stride
from .splits import FORMATS, SplitFiles, drop_missing
from .transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DeferredTransform,
    EvalTransform,
    MultiViewTransform,
    TrainTransform,
)

__all__ = ["DEVICE_TRANSFORMS", "FORMATS", "ExactShardSampler", "VideoDataModule"]
log = logging.getLogger("cost.data")


def _plain(value):
    """OmegaConf containers -> Python dict/list (Hydra passes DictConfig/ListConfig)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return value


class VideoDataModule(pl.LightningDataModule):
    """Video clips for train/val/test from any supported annotation format.

    format: synthetic | list | kinetics | moments | folder.
    name: which dataset this is (kinetics, moments, synthetic or your own; default: the format):
    run names, results.json and the paper tables use it, so `format=list, name=kinetics` is Kinetics.
    root: dataset root. `*_split`: annotation file per split (list file, Kinetics CSV or Moments
    CSV) relative to root, or for `folder` the split's class-folder directory. `*_videos`: the
    split's video directory relative to root ("" = root). `class_names`: optional file with one
    class name a line; `categories`: Moments' `moments_categories.txt`.
    frame_stride: int, or {num_frames: stride}.
    device_transforms: auto (on when the trainer runs on a GPU) | true | false. On: workers
    return the uint8 rows and columns the resize will read and the random draws; scale, crop,
    flip and normalisation run batched on the model's device, in the `DevicePreprocessor` the
    LightningModule takes from `device_preprocessor()` at its setup.
    decode_backend: auto | decord | pyav (decode.py), or nvdec (GPU decoding in the main
    process, `nvdec.py`; falls back to auto with one warning where it cannot run).
    max_frame_pixels: a video whose frames have more pixels is unreadable (swapped in training,
    skipped and named in evaluation); null: no limit.
    Labels: every split's labels are classes of the training split (for a list file without
    `class_names`, 0..the largest training label); anything else stops setup naming file:line.
    """

    def __init__(
        self,
        format: str = "synthetic",
        root: str = "data/synthetic",
        name: str | None = None,
        train_split: str | None = "train.txt",
        val_split: str | None = "val.txt",
        test_split: str | None = "test.txt",
        train_videos: str = "",
        val_videos: str = "",
        test_videos: str = "",
        class_names: str | None = None,
        categories: str | None = None,
        num_frames: int = 8,
        frame_stride={8: 8, 32: 4},  # noqa: B006 - read, never mutated; conf/_video.yaml (tests/test_defaults.py)
        short_video: str = "loop",
        train_short_side=(256, 320),
        train_crop: int = 224,
        flip: bool = True,
        val_short_side: int = 256,
        val_crop: int = 224,
        test_short_side: int = 256,
        test_crops: int = 1,
        test_clips: int = 10,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        batch_size: int = 8,
        val_batch_size: int | None = None,
        test_batch_size: int = 1,
        num_workers: int = 8,
        pin_memory: bool = True,
        decode_threads: int = 1,
        decode_backend: str = "auto",
        max_retries: int = 10,
        strict: bool = False,
        seed: int = 0,
        synthetic=None,
        device_transforms="auto",
        prefetch_factor: int | None = None,
        max_frame_pixels: int | None = MAX_FRAME_PIXELS,
    ):
        super().__init__()
        self.root = Path(str(root))
        self.files = SplitFiles(
            format,
            self.root,
            {"train": train_split, "val": val_split, "test": test_split},
            {"train": train_videos or "", "val": val_videos or "", "test": test_videos or ""},
            class_names,
            categories,
        )
        if short_video not in SHORT_VIDEO_MODES:
            raise ValueError(f"data.short_video must be one of {SHORT_VIDEO_MODES}, got {short_video!r}")
        self.format, self.name = format, str(name) if name else format  # the dataset's identity (results.json, tables)
        self.num_frames = int(num_frames)
        self.stride = resolve_stride(_plain(frame_stride), self.num_frames)
        self.short_video = short_video
        self.train_short_side = tuple(int(s) for s in np.atleast_1d(_plain(train_short_side)))
        self.train_crop, self.flip = int(train_crop), bool(flip)
        self.val_short_side, self.val_crop = int(val_short_side), int(val_crop)
        self.test_short_side, self.test_crops, self.test_clips = int(test_short_side), int(test_crops), int(test_clips)
        self.mean, self.std = tuple(_plain(mean)), tuple(_plain(std))
        self.batch_size, self.val_batch_size = int(batch_size), int(val_batch_size or batch_size)
        self.test_batch_size, self.num_workers, self.pin_memory = int(test_batch_size), int(num_workers), pin_memory
        self.decode_threads, self.max_retries, self.strict, self.seed = decode_threads, max_retries, strict, seed
        self.decode_backend = check_decode_backend(decode_backend)
        self.device_transforms = device_transforms_value(device_transforms)
        self.prefetch_factor = prefetch_factor
        self.max_frame_pixels = check_max_frame_pixels(max_frame_pixels)
        self.synthetic = dict(_plain(synthetic) or {})
        self.transforms = self._transforms()  # fails early on impossible sizes (before any data is read)
        self.num_classes: int | None = None
        self.class_names: list[str] | None = None
        self.manifests: dict[str, Manifest] = {}
        self.missing: dict[str, list[str]] = {}
        self.datasets: dict[str, VideoClipDataset] = {}
        self._preprocessor: DevicePreprocessor | None = None

    def _transforms(self) -> dict:
        side = self.train_short_side
        return {
            "train": TrainTransform(
                side if len(side) == 2 else side * 2, self.train_crop, self.flip, self.mean, self.std
            ),
            "val": EvalTransform(self.val_short_side, self.val_crop, self.mean, self.std),
            "test": MultiViewTransform(self.test_short_side, self.test_crops, self.mean, self.std),
        }

    # ---------------------------------------------------------------- preparation
    def prepare_data(self) -> None:
        """Generate the synthetic dataset on first use (Lightning calls this on rank zero)."""
        if self.format == "synthetic":
            from .synthetic import ensure_synthetic

            ensure_synthetic(self.root, **self.synthetic)

    def setup(self, stage: str | None = None) -> None:
        if not self.root.exists():
            if self.format == "synthetic":
                self.prepare_data()
            else:
                raise FileNotFoundError(
                    f"dataset root {self.root} does not exist; set data.root "
                    "(or paths.data_dir) to the folder that holds the dataset"
                )
        elif self.format == "synthetic":
            self.prepare_data()  # no-op when present and up to date (locked, so safe on every rank)
        wanted = {
            "fit": ("train", "val"),
            "validate": ("val",),
            "test": ("test",),
            "predict": ("test",),
            None: ("train", "val", "test"),
        }[stage]
        names = self.files.class_names()
        for split in wanted:
            if split in self.manifests:
                continue
            self.manifests[split], self.missing[split] = drop_missing(split, self.files.read(split, names), self.strict)
        self.class_names = [str(n) for n in names]
        self.num_classes = len(self.class_names)
        self._resolve_backend()
        for split in wanted:
            if split not in self.datasets:
                self.datasets[split] = self._dataset(split)

    def _on_gpu(self) -> bool:
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type == "cuda"

    def _resolve_backend(self) -> None:
        """Decide, once, whether the device path and NVDEC are used (`use_device_transforms`, `backend`)."""
        if not hasattr(self, "backend"):
            self.backend, self.use_device_transforms = resolve_backend(
                self.decode_backend, self.device_transforms, self._on_gpu()
            )

    def device_preprocessor(self) -> DevicePreprocessor | None:
        """The device half of the transforms for the model to own (`VideoClassifier.setup`),
        built once; None when the workers do the whole transform (the CPU path)."""
        if not hasattr(self, "backend"):
            raise RuntimeError("call setup() before device_preprocessor()")
        if self.use_device_transforms and self._preprocessor is None:
            self._preprocessor = DevicePreprocessor(self.transforms)
        return self._preprocessor if self.use_device_transforms else None

    def _dataset(self, split: str) -> VideoClipDataset:
        return VideoClipDataset(
            self.manifests[split],
            split,
            DeferredTransform(self.transforms[split]) if self.use_device_transforms else self.transforms[split],
            self.num_frames,
            self.stride,
            self.short_video,
            self.test_clips,
            self.max_retries,
            self.strict,
            self.decode_threads,
            self.backend,
            self.max_frame_pixels,
        )

    # ---------------------------------------------------------------- loaders
    def _loader(self, split: str, sampler, batch_size: int, drop_last: bool = False) -> DataLoader:
        ds = self.datasets.get(split)
        if ds is None:
            raise RuntimeError(f"call setup() before {split}_dataloader()")
        t = self.num_frames
        if self.use_device_transforms:  # uint8 frames as decoded
            empty = (0, self.test_clips, t, 0, 0, 3) if split == "test" else (0, t, 0, 0, 3)
        elif split == "test":
            empty = (0, self.test_clips * self.test_crops, 3, t, 0, 0)
        else:
            size = self.train_crop if split == "train" else self.val_crop
            empty = (0, 3, t, size, size)
        workers = 0 if self.backend == "nvdec" else self.num_workers  # NVDEC decodes in the main process
        extra: dict[str, Any] = (
            {"prefetch_factor": int(self.prefetch_factor)} if workers and self.prefetch_factor else {}
        )
        return DataLoader(
            ds,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=ClipCollate(empty, with_skipped=split != "train", device_path=self.use_device_transforms),
            pin_memory=self.pin_memory and self.backend != "nvdec",
            drop_last=drop_last,
            persistent_workers=workers > 0 and split != "test",
            **extra,
        )

    def train_dataloader(self) -> DataLoader:
        ds = self.datasets.get("train")
        sampler = train_sampler(ds, self.seed)
        per_rank = len(ds) // world()[0] if ds is not None else 0
        return self._loader("train", sampler, self.batch_size, drop_last=per_rank >= self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", val_sampler(self.datasets.get("val")), self.val_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shard_sampler(self.datasets.get("test")), self.test_batch_size)
