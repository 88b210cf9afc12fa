"""`VideoDataModule`: one LightningDataModule for every dataset format.

Distributed loading is decided here, not by Lightning: when torch.distributed is
initialised with world size > 1, train uses a shuffling `DistributedSampler`, val a
padded one (duplicates are fine during training), and test an `ExactShardSampler`
(disjoint shards, union = every video exactly once). All three are `DistributedSampler`
instances, which Lightning leaves in place whatever `use_distributed_sampler` says.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sized
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler, SequentialSampler

from . import annotations as ann
from .dataset import ClipCollate, VideoClipDataset
from .decode import BACKENDS, MAX_FRAME_PIXELS, require_decord
from .manifest import Manifest
from .sampling import SHORT_VIDEO_MODES, resolve_stride
from .transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DeferredTransform,
    EvalTransform,
    MultiViewTransform,
    TrainTransform,
)

log = logging.getLogger("cost.data")
FORMATS = ("synthetic", "list", "kinetics", "moments", "folder")
DEVICE_TRANSFORMS = ("auto", True, False)


def _device_transforms_value(value):
    """data.device_transforms: auto | true | false (Hydra may pass the strings)."""
    value = {"true": True, "false": False}.get(str(value).lower(), value) if isinstance(value, str) else value
    if value not in DEVICE_TRANSFORMS:
        raise ValueError(f"data.device_transforms must be auto, true or false, got {value!r}")
    return value


class ExactShardSampler(DistributedSampler):
    """Rank r gets rows r, r + W, r + 2W, ...: no padding, each row on exactly one rank."""

    def __init__(self, dataset, num_replicas: int = 1, rank: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)

    def __iter__(self):
        return iter(range(self.rank, len(cast(Sized, self.dataset)), self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, len(cast(Sized, self.dataset)), self.num_replicas))


def _plain(value):
    """OmegaConf containers -> Python dict/list (Hydra passes DictConfig/ListConfig)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return value


def _world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


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
    flip and normalisation run batched on the model's device (`transforms.finish_batch`, from
    the LightningModule).
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
        frame_stride=8,
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
        num_workers: int = 4,
        pin_memory: bool = False,
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
        if format not in FORMATS:
            raise ValueError(f"data.format must be one of {FORMATS}, got {format!r}")
        if short_video not in SHORT_VIDEO_MODES:
            raise ValueError(f"data.short_video must be one of {SHORT_VIDEO_MODES}, got {short_video!r}")
        self.format, self.root = format, Path(str(root))
        self.name = str(name) if name else format  # the dataset's identity (results.json, tables)
        self.splits = {"train": train_split, "val": val_split, "test": test_split}
        self.video_dirs = {"train": train_videos or "", "val": val_videos or "", "test": test_videos or ""}
        self.class_names_file, self.categories = class_names, categories
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
        if decode_backend not in (*BACKENDS, "nvdec"):
            raise ValueError(f"data.decode_backend must be one of {(*BACKENDS, 'nvdec')}, got {decode_backend!r}")
        self.decode_backend = decode_backend
        self.device_transforms = _device_transforms_value(device_transforms)
        self.prefetch_factor = prefetch_factor
        if max_frame_pixels is not None and (
            isinstance(max_frame_pixels, bool) or not isinstance(max_frame_pixels, int) or max_frame_pixels < 1
        ):
            raise ValueError(
                f"data.max_frame_pixels must be a whole number >= 1 (or null: no limit), got {max_frame_pixels!r}"
            )
        self.max_frame_pixels = max_frame_pixels
        if decode_backend == "decord":
            require_decord("data.decode_backend")
        self.synthetic = dict(_plain(synthetic) or {})
        # Fail early on impossible sizes (before any data is read).
        self.train_transform = TrainTransform(
            self.train_short_side if len(self.train_short_side) == 2 else self.train_short_side * 2,
            self.train_crop,
            self.flip,
            self.mean,
            self.std,
        )
        self.val_transform = EvalTransform(self.val_short_side, self.val_crop, self.mean, self.std)
        self.test_transform = MultiViewTransform(self.test_short_side, self.test_crops, self.mean, self.std)
        self.num_classes: int | None = None
        self.class_names: list[str] | None = None
        self.manifests: dict[str, Manifest] = {}
        self.missing: dict[str, list[str]] = {}
        self.datasets: dict[str, VideoClipDataset] = {}

    # ---------------------------------------------------------------- preparation
    def prepare_data(self) -> None:
        """Generate the synthetic dataset on first use (Lightning calls this on rank zero)."""
        if self.format == "synthetic":
            from .synthetic import ensure_synthetic

            ensure_synthetic(self.root, **self.synthetic)

    def _path(self, rel, key: str) -> Path:
        if rel is None or rel == "":
            raise ValueError(f"{key} is not set; set it to the annotation file (relative to data.root={self.root})")
        p = Path(str(rel))
        return p if p.is_absolute() else self.root / p

    def _video_dir(self, split: str) -> Path:
        d = self.video_dirs[split]
        return self.root / d if d else self.root

    def _read_class_names(self) -> list[str]:
        if self.format == "moments":
            return ann.read_moments_categories(self._path(self.categories, "data.categories"))
        if self.class_names_file:
            return ann.read_class_names(self._path(self.class_names_file, "data.class_names"), "data.class_names")
        if self.format == "synthetic":
            return ann.read_class_names(self.root / "classes.txt", "data.root")
        if self.format == "kinetics":
            return ann.kinetics_class_names(self._path(self.splits["train"], "data.train_split"))
        if self.format == "folder":
            return list(
                ann.read_class_folders(
                    self._path(self.splits["train"], "data.train_split"), key="data.train_split"
                ).class_names
            )
        # List format without a names file: classes 0..the largest training label (val and test
        # labels must be among them); without a training split, over the splits listed.
        splits = ("train",) if self.splits["train"] else [s for s in ("val", "test") if self.splits[s]]
        top = max(int(self._read_split(s, None).labels.max(initial=-1)) for s in splits)
        return [str(i) for i in range(top + 1)]

    def _read_split(self, split: str, class_names) -> Manifest:
        key = f"data.{split}_split"
        if self.format == "folder":
            return ann.read_class_folders(self._path(self.splits[split], key), class_names, key=key)
        path, videos = self._path(self.splits[split], key), self._video_dir(split)
        vkey = f"data.{split}_videos" if self.video_dirs[split] else "data.root"
        if self.format == "kinetics":
            m = ann.read_kinetics_csv(path, videos, class_names, key=key, videos_key=vkey)
            if (m.labels < 0).any():
                raise ValueError(
                    f"{path} has no 'label' column (Kinetics' test CSV has none); {key} needs a labelled "
                    "CSV: training and evaluation compare predictions with labels"
                )
            return m
        if self.format == "moments":
            return ann.read_moments_csv(path, videos, class_names, key=key, videos_key=vkey)
        return ann.read_list_file(path, videos, class_names, key=key, videos_key=vkey)

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
        names = self._read_class_names()
        for split in wanted:
            if split in self.manifests:
                continue
            self.manifests[split] = self._check_missing(split, self._read_split(split, names))
        self.class_names = [str(n) for n in names]
        self.num_classes = len(self.class_names)
        self._resolve_backend()
        for split in wanted:
            if split not in self.datasets:
                self.datasets[split] = self._dataset(split)

    def _check_missing(self, split: str, m: Manifest) -> Manifest:
        present = m.exists()
        missing = [m.path(int(i)) for i in np.flatnonzero(~present)]
        self.missing[split] = missing
        if missing:
            dirs = [p for p in missing if os.path.isdir(p)]
            msg = (
                f"{len(missing)} of {len(m)} videos listed for the {split} split are missing on disk "
                f"(first: {missing[0]}" + (f"; {len(dirs)} of them are directories, first: {dirs[0]})" if dirs else ")")
            )
            if self.strict:
                raise FileNotFoundError(msg + "; data.strict=true (set data.strict=false to continue without them)")
            log.warning(msg + ("; training without them" if split == "train" else "; they will be reported as skipped"))
            if split == "train":
                if not present.any():
                    raise FileNotFoundError(
                        f"none of the training videos exist under {m.root}; check data.root and data.train_videos"
                    )
                m = m.subset(present)
        return m

    def _on_gpu(self) -> bool:
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type == "cuda"

    def _resolve_backend(self) -> None:
        """Decide, once, whether the device path and NVDEC are used (`use_device_transforms`,
        `backend`); NVDEC that cannot run says why and falls back to the CPU decoder."""
        if hasattr(self, "backend"):
            return
        self.backend = self.decode_backend
        if self.backend == "nvdec":
            from .nvdec import nvdec_unavailable

            reason = nvdec_unavailable()
            if reason:
                log.warning(
                    "data.decode_backend=nvdec cannot run here (%s); decoding on the CPU "
                    "(data.decode_backend=auto) instead",
                    reason,
                )
                self.backend = "auto"
        on = self.device_transforms
        if self.backend == "nvdec":
            if on is False:
                log.warning(
                    "data.decode_backend=nvdec decodes onto the GPU, so the transforms run there "
                    "too; data.device_transforms=false is ignored"
                )
            on = True
        self.use_device_transforms = self._on_gpu() if on == "auto" else bool(on)

    def _transform(self, split: str):
        transform = {"train": self.train_transform, "val": self.val_transform, "test": self.test_transform}[split]
        return DeferredTransform(transform) if self.use_device_transforms else transform

    def _dataset(self, split: str) -> VideoClipDataset:
        return VideoClipDataset(
            self.manifests[split],
            split,
            self._transform(split),
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
        deferred = ds.transform if isinstance(ds.transform, DeferredTransform) else None
        if deferred is not None:  # uint8 frames as decoded
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
            collate_fn=ClipCollate(
                empty, with_skipped=split != "train", device_transform=deferred and deferred.transform
            ),
            pin_memory=self.pin_memory and self.backend != "nvdec",
            drop_last=drop_last,
            persistent_workers=workers > 0 and split != "test",
            **extra,
        )

    def train_dataloader(self) -> DataLoader:
        ds = self.datasets.get("train")
        world, rank = _world()
        sampler: Sampler | None
        if ds is not None and world > 1:
            sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=self.seed)
        else:
            g = torch.Generator()
            g.manual_seed(int(torch.randint(0, 2**62, ()).item()))  # follows seed_everything
            sampler = RandomSampler(ds, generator=g) if ds is not None else None
        per_rank = len(ds) // world if ds is not None else 0
        return self._loader("train", sampler, self.batch_size, drop_last=per_rank >= self.batch_size)

    def val_dataloader(self) -> DataLoader:
        ds = self.datasets.get("val")
        world, rank = _world()
        sampler: Sampler | None = (
            DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=False)
            if world > 1 and ds is not None
            else SequentialSampler(ds)
            if ds is not None
            else None
        )
        return self._loader("val", sampler, self.val_batch_size)

    def test_dataloader(self) -> DataLoader:
        ds = self.datasets.get("test")
        world, rank = _world()
        sampler = ExactShardSampler(ds, world, rank) if ds is not None else None
        return self._loader("test", sampler, self.test_batch_size)
