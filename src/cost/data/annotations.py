"""Annotation formats -> `Manifest`.

* Kinetics-400 CSV: header `label,youtube_id,time_start,time_end,split` (the test CSV may
  lack `label`); files `<youtube_id>_<start:06d>_<end:06d>.<ext>`, flat or in class folders.
* Moments in Time v1: `trainingSet.csv` / `validationSet.csv` rows `<category>/<file>,<category>,...`
  (no header) and `moments_categories.txt` rows `name,index`.
* Plain list (SlowFast / MMAction2): `relative/path label_index` a line.
* Class folders: `root/<class>/<video>`, class index = position in the sorted folder names.

Every parser takes `class_names` so that val/test reuse the train mapping.
Listed videos that are missing on disk stay in the manifest (the DataModule counts them).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from .manifest import Manifest

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")


def _require(path, key: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; set {key} to the right path")
    return path


def _label_map(class_names: Sequence[str], source) -> dict[str, int]:
    names = list(class_names)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate class names in {source}")
    return {n: i for i, n in enumerate(names)}


def index_videos(video_dir) -> dict[str, str]:
    """Map file stem -> path relative to `video_dir`, over all video files below it."""
    video_dir = str(video_dir)
    found: dict[str, str] = {}
    for dirpath, _, files in os.walk(video_dir):
        for f in files:
            stem, ext = os.path.splitext(f)
            if ext.lower() in VIDEO_EXTENSIONS:
                found.setdefault(stem, os.path.relpath(os.path.join(dirpath, f), video_dir))
    return found


def kinetics_class_names(csv_path, key: str = "data.train_split") -> list[str]:
    """Sorted unique labels of a Kinetics CSV (the class indices of the whole dataset)."""
    csv_path = _require(csv_path, key)
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f)
        if rows.fieldnames is None or "label" not in rows.fieldnames:
            raise ValueError(f"{csv_path} has no 'label' column; point {key} at the labelled train CSV")
        return sorted({r["label"] for r in rows})


def read_kinetics_csv(
    csv_path,
    video_dir,
    class_names: Sequence[str] | None = None,
    key: str = "data.train_split",
    videos_key: str = "data.root",
) -> Manifest:
    """Kinetics CSV; class names default to the sorted labels of this CSV (pass train's for val)."""
    csv_path = _require(csv_path, key)
    video_dir = _require(video_dir, videos_key)
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"youtube_id", "time_start", "time_end"} <= set(rows[0]):
        raise ValueError(f"{csv_path} is not a Kinetics CSV (need columns youtube_id,time_start,time_end[,label])")
    has_label = bool(rows) and "label" in rows[0]
    if class_names is None:
        class_names = sorted({r["label"] for r in rows}) if has_label else []
    label_of = _label_map(class_names, csv_path)
    on_disk = index_videos(video_dir)
    paths, labels = [], []
    for line, r in enumerate(rows, start=2):
        stem = f"{r['youtube_id']}_{int(float(r['time_start'])):06d}_{int(float(r['time_end'])):06d}"
        paths.append(on_disk.get(stem, stem + ".mp4"))
        if has_label:
            if r["label"] not in label_of:
                raise ValueError(f"{csv_path}:{line}: label {r['label']!r} is not a known class")
            labels.append(label_of[r["label"]])
        else:
            labels.append(-1)
    return Manifest.from_lists(video_dir, paths, labels, class_names)


def read_moments_categories(path) -> list[str]:
    """`moments_categories.txt`: `name,index` a line -> names ordered by index."""
    path = _require(path, "data.categories")
    pairs = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if row:
                pairs.append((int(row[-1]), ",".join(row[:-1]).strip()))
    pairs.sort()
    if [i for i, _ in pairs] != list(range(len(pairs))):
        raise ValueError(f"{path}: category indices must be 0..{len(pairs) - 1} without gaps")
    return [n for _, n in pairs]


def read_moments_csv(
    csv_path, video_dir, class_names: Sequence[str], key: str = "data.train_split", videos_key: str = "data.root"
) -> Manifest:
    """Moments in Time CSV rows `<category>/<file>,<category>,...`; videos at video_dir/<category>/<file>."""
    csv_path = _require(csv_path, key)
    video_dir = _require(video_dir, videos_key)
    label_of = _label_map(class_names, "data.categories")
    paths, labels = [], []
    with open(csv_path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            if len(row) < 2:
                raise ValueError(f"{csv_path}:{line}: expected '<category>/<file>,<category>,...'")
            category = row[1].strip()
            if category not in label_of:
                raise ValueError(f"{csv_path}:{line}: category {category!r} is not in the categories file")
            paths.append(row[0].strip())
            labels.append(label_of[category])
    return Manifest.from_lists(video_dir, paths, labels, class_names)


def read_list_file(
    list_path,
    video_dir,
    class_names: Sequence[str] | None = None,
    key: str = "data.train_split",
    videos_key: str = "data.root",
) -> Manifest:
    """Plain list `relative/path label_index`; the path may contain spaces (label is the last field)."""
    list_path = _require(list_path, key)
    video_dir = _require(video_dir, videos_key)
    paths, labels = [], []
    with open(list_path, encoding="utf-8") as f:
        for line, text in enumerate(f, start=1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise ValueError(f"{list_path}:{line}: expected 'relative/path label_index', got {text!r}")
            paths.append(parts[0])
            labels.append(int(parts[1]))
    if class_names is None:
        class_names = [str(i) for i in range(max(labels, default=-1) + 1)]
    return Manifest.from_lists(video_dir, paths, labels, class_names)


def read_class_names(path, key: str = "data.class_names") -> list[str]:
    """One class name a line (as written by the tools and the synthetic generator)."""
    path = _require(path, key)
    return [t.strip() for t in Path(path).read_text(encoding="utf-8").splitlines() if t.strip()]


def read_class_folders(root, class_names: Sequence[str] | None = None, key: str = "data.root") -> Manifest:
    """`root/<class>/<video>`; classes are the sorted folder names unless given (then must match)."""
    root = _require(root, key)
    folders = sorted(d.name for d in root.iterdir() if d.is_dir())
    if class_names is None:
        class_names = folders
    label_of = _label_map(class_names, root)
    paths, labels = [], []
    for name in folders:
        if name not in label_of:
            raise ValueError(f"{root / name} is not a class of the training split; class folders must agree")
        for dirpath, _, files in sorted(os.walk(root / name)):
            for f in sorted(files):
                if os.path.splitext(f)[1].lower() in VIDEO_EXTENSIONS:
                    paths.append(os.path.relpath(os.path.join(dirpath, f), root))
                    labels.append(label_of[name])
    return Manifest.from_lists(root, paths, labels, class_names)
