"""Which annotation reader builds each split's list: one `SplitFiles` per data module.

The format (`data.format`) picks the reader (`annotations`): a list file, Kinetics' or Moments'
CSV, or class folders; the synthetic set is a list file with its own class names. Every error
names the config key it comes from.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from . import annotations as ann
from .manifest import Manifest

log = logging.getLogger("cost.data")
FORMATS = ("synthetic", "list", "kinetics", "moments", "folder")


class SplitFiles:
    """The annotation files of train/val/test and how to read them (`VideoDataModule`'s arguments:
    splits = {split: `data.<split>_split`}, video_dirs = {split: `data.<split>_videos`})."""

    def __init__(self, format: str, root: Path, splits: dict, video_dirs: dict, class_names_file, categories):
        if format not in FORMATS:
            raise ValueError(f"data.format must be one of {FORMATS}, got {format!r}")
        self.format, self.root, self.splits, self.video_dirs = format, root, splits, video_dirs
        self.class_names_file, self.categories = class_names_file, categories

    def path(self, rel, key: str) -> Path:
        if rel is None or rel == "":
            raise ValueError(f"{key} is not set; set it to the annotation file (relative to data.root={self.root})")
        p = Path(str(rel))
        return p if p.is_absolute() else self.root / p

    def video_dir(self, split: str) -> Path:
        d = self.video_dirs[split]
        return self.root / d if d else self.root

    def class_names(self) -> list[str]:
        if self.format == "moments":
            return ann.read_moments_categories(self.path(self.categories, "data.categories"))
        if self.class_names_file:
            return ann.read_class_names(self.path(self.class_names_file, "data.class_names"), "data.class_names")
        if self.format == "synthetic":
            return ann.read_class_names(self.root / "classes.txt", "data.root")
        if self.format == "kinetics":
            return ann.kinetics_class_names(self.path(self.splits["train"], "data.train_split"))
        if self.format == "folder":
            return list(
                ann.read_class_folders(
                    self.path(self.splits["train"], "data.train_split"), key="data.train_split"
                ).class_names
            )
        # List format without a names file: classes 0..the largest training label (val and test
        # labels must be among them); without a training split, over the splits listed.
        splits = ("train",) if self.splits["train"] else [s for s in ("val", "test") if self.splits[s]]
        top = max(int(self.read(s, None).labels.max(initial=-1)) for s in splits)
        return [str(i) for i in range(top + 1)]

    def read(self, split: str, class_names) -> Manifest:
        key = f"data.{split}_split"
        if self.format == "folder":
            return ann.read_class_folders(self.path(self.splits[split], key), class_names, key=key)
        path, videos = self.path(self.splits[split], key), self.video_dir(split)
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


def drop_missing(split: str, m: Manifest, strict: bool) -> tuple[Manifest, list[str]]:
    """The split without the videos missing on disk (training; evaluation keeps them to report
    as skipped), and the missing paths; data.strict=true makes any missing video an error."""
    present = m.exists()
    missing = [m.path(int(i)) for i in np.flatnonzero(~present)]
    if missing:
        dirs = [p for p in missing if os.path.isdir(p)]
        msg = (
            f"{len(missing)} of {len(m)} videos listed for the {split} split are missing on disk "
            f"(first: {missing[0]}" + (f"; {len(dirs)} of them are directories, first: {dirs[0]})" if dirs else ")")
        )
        if strict:
            raise FileNotFoundError(msg + "; data.strict=true (set data.strict=false to continue without them)")
        log.warning(msg + ("; training without them" if split == "train" else "; they will be reported as skipped"))
        if split == "train":
            if not present.any():
                raise FileNotFoundError(
                    f"none of the training videos exist under {m.root}; check data.root and data.train_videos"
                )
            m = m.subset(present)
    return m, missing
