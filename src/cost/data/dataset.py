"""Manifest rows -> clip dicts, with the bad-data policy of each stage.

* train: an unreadable video is replaced by a random other one (bounded retries); each
  replacement is counted (`replacements`, per worker process) and logged with the path.
* val/test: an unreadable video is never replaced: the item comes back as
  `{"skipped": path}` and the collate function drops it into the batch's `skipped` list.
* `strict=True`: an unreadable video in any split raises, naming the file.

Unreadable includes a video whose listed frames do not all decode, and one whose frames are
larger than `max_pixels` (`data.max_frame_pixels`; see `decode`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from . import sampling
from .decode import MAX_FRAME_PIXELS, Video
from .manifest import Manifest
from .resample import AUG_COLUMNS
from .transforms import DeferredTransform

log = logging.getLogger("cost.data")
MODES = ("train", "val", "test")


class VideoClipDataset(Dataset):
    """Clips of the videos in a manifest; `mode` picks sampling, transform and bad-data policy.

    Items: train/val {"clips": (3, T, H, W), "label", "index"}; test {"clips": (V, 3, T, H, W), ...}
    with V = test_clips x crops (clip-major), or {"skipped": path, "index"} for an unreadable
    val/test video.
    """

    def __init__(
        self,
        manifest: Manifest,
        mode: str,
        transform,
        num_frames: int,
        stride: int,
        short_video: str = "loop",
        test_clips: int = 10,
        max_retries: int = 10,
        strict: bool = False,
        decode_threads: int = 1,
        backend: str = "auto",
        max_pixels: int | None = MAX_FRAME_PIXELS,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if len(manifest) == 0:
            raise ValueError(f"the {mode} split has no videos (root {manifest.root})")
        self.manifest, self.mode, self.transform = manifest, mode, transform
        self.num_frames, self.stride, self.short_video = int(num_frames), int(stride), short_video
        self.test_clips, self.max_retries, self.strict = int(test_clips), int(max_retries), strict
        self.decode_threads, self.backend, self.max_pixels = decode_threads, backend, max_pixels
        self.replacements = 0  # counted in the process that loads (each worker has its own)

    def __len__(self) -> int:
        return len(self.manifest)

    def _open(self, i: int):
        if self.backend == "nvdec":  # main process only (VideoDataModule sets num_workers=0)
            from .nvdec import NvdecVideo

            return NvdecVideo(self.manifest.path(i), max_pixels=self.max_pixels)
        return Video(
            self.manifest.path(i),
            num_threads=self.decode_threads,
            backend=self.backend,
            max_pixels=self.max_pixels,
            max_pixels_key="data.max_frame_pixels",
        )

    def load(self, i: int, rng: np.random.Generator) -> torch.Tensor | dict:
        """Decode and transform video `i` for this mode (raises on unreadable videos)."""
        with self._open(i) as video:
            n = video.num_frames
            if self.mode == "train":
                idx = sampling.train_indices(n, self.num_frames, self.stride, rng, self.short_video)
                return self.transform(video.read(idx), rng)
            if self.mode == "val":
                return self.transform(
                    video.read(sampling.center_indices(n, self.num_frames, self.stride, self.short_video)), rng
                )
            idx = sampling.uniform_indices(n, self.num_frames, self.stride, self.test_clips, self.short_video)
            frames = video.read(idx.reshape(-1))
            frames = frames.reshape(idx.shape[0], idx.shape[1], *frames.shape[1:])
        if isinstance(self.transform, DeferredTransform):
            return self.transform(frames, rng)  # uint8 (clips, T, H, W, 3); views made on the device
        return torch.cat([self.transform(clip, rng) for clip in frames])  # (clips * crops, 3, T, H, W)

    def _item(self, clips, i: int) -> dict:
        """clips: a float tensor (CPU transforms) or DeferredTransform's {"clips", "aug"}."""
        out = dict(clips) if isinstance(clips, dict) else {"clips": clips}
        return {**out, "label": int(self.manifest.labels[i]), "index": i}

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        # A fresh generator per item from torch's RNG: seeded by Lightning/torch per worker.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        if self.mode != "train":
            try:
                clips = self.load(i, rng)
            except Exception as e:
                path = self.manifest.path(i)
                if self.strict:
                    raise RuntimeError(
                        f"unreadable {self.mode} video {path}: {e} "
                        "(data.strict=true; set data.strict=false to skip such videos)"
                    ) from e
                log.warning("skipping unreadable %s video %s: %s", self.mode, path, e)
                return {"skipped": path, "index": i}
            return self._item(clips, i)
        j = i
        for _attempt in range(self.max_retries + 1):
            try:
                return self._item(self.load(j, rng), j)
            except Exception as e:
                if self.strict:
                    raise RuntimeError(
                        f"unreadable training video {self.manifest.path(j)}: {e} (data.strict=true; "
                        "set data.strict=false to replace such videos by others)"
                    ) from e
                self.replacements += 1
                log.warning(
                    "replacing unreadable training video %s (%s); %d replacement(s) so far in this process",
                    self.manifest.path(j),
                    e,
                    self.replacements,
                )
                j = int(rng.integers(0, len(self)))
        raise RuntimeError(
            f"{self.max_retries + 1} unreadable training videos in a row (last: "
            f"{self.manifest.path(j)}); check the dataset with `python -m cost.data.tools validate` "
            "or raise data.max_retries"
        )


def _pad_stack(clips: list[torch.Tensor]) -> torch.Tensor:
    """Stack uint8 (..., h, w, 3) cuts of different sizes, zero-padded at the bottom/right (the
    resize weights of each item's "aug" rows are 0 there)."""
    h = max(c.shape[-3] for c in clips)
    w = max(c.shape[-2] for c in clips)
    if all(c.shape[-3:-1] == (h, w) for c in clips):
        return torch.stack(clips)
    out = clips[0].new_zeros((len(clips), *clips[0].shape[:-3], h, w, 3))
    for i, c in enumerate(clips):
        out[i, ..., : c.shape[-3], : c.shape[-2], :] = c
    return out


class ClipCollate:
    """Stack clips; unreadable val/test items go to `batch["skipped"]` (paths).

    With `device_path` (data.device_transforms) the items are uint8 frames with their draws:
    the batch gets padded uint8 "clips" and the draws as "aug", both tensors, for the model's
    `preprocess.DevicePreprocessor`. A batch holds only tensors and lists of paths.
    """

    def __init__(self, empty_clips_shape: tuple, with_skipped: bool, device_path: bool = False):
        self.empty_clips_shape = tuple(empty_clips_shape)
        self.with_skipped = with_skipped
        self.device_path = bool(device_path)

    def __call__(self, items: list[dict]) -> dict:
        ok = [it for it in items if "clips" in it]
        if ok:
            shapes = {tuple(it["clips"].shape) for it in ok}
            if len(shapes) > 1 and not self.device_path:
                raise RuntimeError(
                    f"clips of different sizes in one batch {sorted(shapes)}: full-frame test views "
                    "of videos with different aspect ratios cannot be stacked; set "
                    "data.test_batch_size=1 or data.test_crops=3"
                )
            clips = (
                _pad_stack([it["clips"] for it in ok]) if self.device_path else torch.stack([it["clips"] for it in ok])
            )
        else:
            dtype = torch.uint8 if self.device_path else torch.float32
            clips = torch.zeros(self.empty_clips_shape, dtype=dtype)
        batch: dict[str, Any] = {
            "clips": clips,
            "label": torch.tensor([it["label"] for it in ok], dtype=torch.int64),
            "index": torch.tensor([it["index"] for it in ok], dtype=torch.int64),
        }
        if self.device_path:
            batch["aug"] = (
                torch.stack([it["aug"] for it in ok])
                if ok
                else torch.zeros((0, 1, len(AUG_COLUMNS)), dtype=torch.int64)
            )
        if self.with_skipped:
            batch["skipped"] = [it["skipped"] for it in items if "skipped" in it]
        elif len(ok) != len(items):
            raise RuntimeError("a training batch lost items; this is a bug in cost.data")
        return batch
