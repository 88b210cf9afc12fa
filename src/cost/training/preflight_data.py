"""Preflight of the data on disk: the root and annotation files the stages read, and a
batch no larger than the training split."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from omegaconf import DictConfig

from .preflight_launch import _devices_asked, _gpu_indices
from .preflight_numbers import _whole


def _data_file_problems(data_cfg, splits) -> list[str]:
    """The data root and the annotation files the stages will read (the synthetic set is built on use).
    ``.get`` here reads the keys that only some formats have (class_names, categories, *_videos)."""
    fmt = str(data_cfg.format)
    if fmt == "synthetic":
        return []
    root = Path(str(data_cfg.root))
    if not root.is_dir():
        return [
            (
                f"data.root={root} does not exist: set data.root (or paths.data_dir) to the folder that holds "
                f"the dataset (see the README's data preparation section)"
            )
        ]
    needed = list(splits)
    if fmt in ("kinetics", "folder") and not data_cfg.get("class_names") and "train" not in needed:
        needed.append("train")  # the class names come from the train annotations
    if fmt == "list" and not data_cfg.get("class_names"):
        needed += [s for s in ("train", "val", "test") if s not in needed and data_cfg[f"{s}_split"]]
    problems = []

    def check(key: str, want_dir: bool = False) -> None:
        rel = data_cfg[key]
        if rel in (None, ""):
            problems.append(f"data.{key} is not set: set it to the annotation file (relative to data.root={root})")
            return
        path = Path(str(rel)) if Path(str(rel)).is_absolute() else root / str(rel)
        if not (path.is_dir() if want_dir else path.is_file()):
            problems.append(
                f"data.{key}={rel}: {path} does not exist; set data.{key} to the right "
                f"{'folder' if want_dir else 'file'} (relative to data.root)"
            )

    for split in needed:
        check(f"{split}_split", want_dir=fmt == "folder")
        videos = data_cfg.get(f"{split}_videos")
        if videos and not (root / str(videos)).is_dir():
            problems.append(f"data.{split}_videos={videos}: {root / str(videos)} does not exist")
    if fmt == "moments":
        check("categories")
    if data_cfg.get("class_names"):
        check("class_names")
    return problems


def _train_size(data_cfg) -> tuple[int, str] | None:
    """An upper bound on the training split's size and where it comes from, read without
    parsing the dataset: the non-blank lines of the annotation file, or, for a synthetic set
    not generated yet, its configured count. None for the folder format."""
    fmt, rel = str(data_cfg.format), data_cfg.train_split
    if fmt == "folder" or rel in (None, ""):
        return None
    path = Path(str(rel)) if Path(str(rel)).is_absolute() else Path(str(data_cfg.root)) / str(rel)
    if path.is_file():
        with open(path, "rb") as f:
            lines = sum(1 for line in f if line.strip())
        return lines, f"the {lines} lines of data.train_split={rel}"
    if fmt == "synthetic":
        return int(data_cfg.synthetic.num_train), "data.synthetic.num_train"
    return None  # a missing file is reported by _data_file_problems


def _batch_vs_split(cfg: DictConfig) -> list[str]:
    """A step's total batch larger than the training split cannot be filled (and would scale
    the lr by a batch that never exists)."""
    batch = cfg.data.batch_size
    if not _whole(batch, 1):
        return []
    kind, count = _devices_asked(cfg.trainer.devices)
    indices = _gpu_indices(cfg.trainer.devices) if kind == "indices" else None
    processes = cast(int, count) if kind == "count" else len(indices) if indices else 1  # "all": at least one
    processes *= int(cfg.trainer.num_nodes)
    size = _train_size(cfg.data)
    if size is None or batch * processes <= size[0]:
        return []
    limit = size[0] // processes
    return [
        f"data.batch_size={batch} x {processes} process(es) is more clips than the training split has "
        f"({size[0]} videos at most, from {size[1]}): set data.batch_size to at most {max(limit, 1)}"
    ]
