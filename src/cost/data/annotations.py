"""Annotation formats -> `Manifest`.

* Kinetics-400 CSV: header `label,youtube_id,time_start,time_end,split` (the test CSV may
  lack `label`); files `<youtube_id>_<start:06d>_<end:06d>.<ext>`, flat or in class folders.
* Moments in Time v1: `trainingSet.csv` / `validationSet.csv` rows `<category>/<file>,<category>,...`
  (no header) and `moments_categories.txt` rows `name,index`.
* Plain list (SlowFast / MMAction2): `relative/path label_index` a line.
* Class folders: `root/<class>/<video>`, class index = position in the sorted folder names.

Every parser takes `class_names` so that val/test reuse the train mapping, and refuses a label
outside them. Listed videos that are missing on disk stay in the manifest (the DataModule
counts them).

Untrusted files: text is read as UTF-8 with or without a byte-order mark (spreadsheet exports
add one); any malformed line stops reading with `file:line`, what is wrong and what to do. A
video listed twice with the same label is kept once (one warning with the count and the first
repeats); listed twice with different labels it is an error naming both lines, since no choice
between them would be right.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

from .manifest import Manifest

log = logging.getLogger("cost.data")

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


def _read_text(path: Path) -> str:
    """The file as text: UTF-8, a leading byte-order mark dropped; other bytes are an error naming the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(
            f"{path}:{line}: byte 0x{data[e.start]:02x} is not UTF-8 text; save the file as UTF-8"
        ) from None


def _unique(source, paths: list[str], labels: list[int], lines: list[int], class_names) -> tuple[list, list]:
    """Drop repeated rows of one video with one label (warned); refuse one video with two labels."""
    first: dict[str, int] = {}
    keep, repeats = [], []
    for i, p in enumerate(paths):
        j = first.setdefault(os.path.normpath(p), i)
        if j == i:
            keep.append(i)
        elif labels[j] != labels[i]:
            name = [class_names[k] if k >= 0 else "(none)" for k in (labels[j], labels[i])]
            raise ValueError(
                f"{source}:{lines[i]}: {p} is listed again with label {name[1]!r}, but line {lines[j]} "
                f"gives it label {name[0]!r}; keep the one right line"
            )
        else:
            repeats.append(f"{source}:{lines[i]}")
    if repeats:
        log.warning(
            "%s lists %d video(s) more than once with the same label; each is used once (repeats: %s%s)",
            source,
            len(repeats),
            ", ".join(repeats[:3]),
            " ..." if len(repeats) > 3 else "",
        )
    return [paths[i] for i in keep], [labels[i] for i in keep]


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


KINETICS_COLUMNS = ("youtube_id", "time_start", "time_end")


def _kinetics_rows(csv_path: Path, key: str) -> tuple[list[tuple[int, dict]], bool]:
    """(line, row) of each record and whether the CSV has a label column; a bad header is an error."""
    reader = csv.DictReader(io.StringIO(_read_text(csv_path), newline=""))
    header = reader.fieldnames or []
    if not set(KINETICS_COLUMNS) <= set(header):
        raise ValueError(
            f"{csv_path}:1: not a Kinetics CSV header (need label,youtube_id,time_start,time_end; "
            f"got {','.join(header)!r}); point {key} at a Kinetics annotation CSV"
        )
    rows = []
    for r in reader:
        missing = [c for c in header if r.get(c) is None]
        if missing:
            raise ValueError(
                f"{csv_path}:{reader.line_num}: the row has {len(header) - len(missing)} of the "
                f"{len(header)} fields of the header (no {','.join(missing)}); fix or remove the line"
            )
        rows.append((reader.line_num, r))
    return rows, "label" in header


def _seconds(value: str, where: str) -> int:
    try:
        t = float(value)
    except ValueError:
        t = math.nan
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"{where}: time {value!r} is not a number of seconds >= 0; fix or remove the line")
    return int(t)


def kinetics_class_names(csv_path, key: str = "data.train_split") -> list[str]:
    """Sorted unique labels of a Kinetics CSV (the class indices of the whole dataset)."""
    csv_path = _require(csv_path, key)
    rows, has_label = _kinetics_rows(csv_path, key)
    if not has_label:
        raise ValueError(f"{csv_path} has no 'label' column; point {key} at the labelled train CSV")
    return sorted({r["label"] for _, r in rows})


def read_kinetics_csv(
    csv_path,
    video_dir,
    class_names: Sequence[str] | None = None,
    key: str = "data.train_split",
    videos_key: str = "data.root",
) -> Manifest:
    """Kinetics CSV; class names default to the sorted labels of this CSV (pass train's for val).

    A CSV without a label column (Kinetics' test CSV) gives labels -1.
    """
    csv_path = _require(csv_path, key)
    video_dir = _require(video_dir, videos_key)
    rows, has_label = _kinetics_rows(csv_path, key)
    if class_names is None:
        class_names = sorted({r["label"] for _, r in rows}) if has_label else []
    label_of = _label_map(class_names, csv_path)
    on_disk = index_videos(video_dir)
    paths, labels, lines = [], [], []
    for line, r in rows:
        where = f"{csv_path}:{line}"
        stem = f"{r['youtube_id']}_{_seconds(r['time_start'], where):06d}_{_seconds(r['time_end'], where):06d}"
        paths.append(on_disk.get(stem, stem + ".mp4"))
        lines.append(line)
        if has_label:
            if r["label"] not in label_of:
                raise ValueError(
                    f"{where}: label {r['label']!r} is not a known class (one of the training split's); "
                    "fix the label or remove the line"
                )
            labels.append(label_of[r["label"]])
        else:
            labels.append(-1)
    paths, labels = _unique(csv_path, paths, labels, lines, class_names)
    return Manifest.from_lists(video_dir, paths, labels, class_names)


def read_moments_categories(path) -> list[str]:
    """`moments_categories.txt`: `name,index` a line -> names ordered by index."""
    path = _require(path, "data.categories")
    pairs = []
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    for row in reader:
        if row:
            index = row[-1].strip()
            if len(row) < 2 or not (index.isascii() and index.isdigit()):
                raise ValueError(f"{path}:{reader.line_num}: expected 'name,index', got {','.join(row)!r}")
            pairs.append((int(index), ",".join(row[:-1]).strip()))
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
    paths, labels, lines = [], [], []
    reader = csv.reader(io.StringIO(_read_text(csv_path), newline=""))
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if len(row) < 2:
            raise ValueError(f"{csv_path}:{line}: expected '<category>/<file>,<category>,...'")
        category = row[1].strip()
        if category not in label_of:
            raise ValueError(f"{csv_path}:{line}: category {category!r} is not in the categories file")
        paths.append(row[0].strip())
        labels.append(label_of[category])
        lines.append(line)
    paths, labels = _unique(csv_path, paths, labels, lines, class_names)
    return Manifest.from_lists(video_dir, paths, labels, class_names)


def read_list_file(
    list_path,
    video_dir,
    class_names: Sequence[str] | None = None,
    key: str = "data.train_split",
    videos_key: str = "data.root",
) -> Manifest:
    """Plain list `relative/path label_index`; the path may contain spaces (label is the last field).

    Every label is a class index 0..N-1 (N: len(class_names), else the largest label + 1).
    """
    list_path = _require(list_path, key)
    video_dir = _require(video_dir, videos_key)
    paths, labels, lines = [], [], []
    for line, text in enumerate(io.StringIO(_read_text(list_path)), start=1):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.rsplit(maxsplit=1)
        label = parts[-1]
        if len(parts) == 2 and label.startswith("-") and label[1:].isascii() and label[1:].isdigit():
            raise ValueError(f"{list_path}:{line}: label {label} is negative; every line needs a class index >= 0")
        if len(parts) != 2 or not (label.isascii() and label.isdigit()):
            raise ValueError(f"{list_path}:{line}: expected 'relative/path label_index', got {text!r}")
        if class_names is not None and int(label) >= len(class_names):
            raise ValueError(
                f"{list_path}:{line}: label {label} is outside the {len(class_names)} classes of the "
                f"training split (0..{len(class_names) - 1}); fix the label or remove the line"
            )
        paths.append(parts[0])
        labels.append(int(label))
        lines.append(line)
    if class_names is None:
        class_names = [str(i) for i in range(max(labels, default=-1) + 1)]
    paths, labels = _unique(list_path, paths, labels, lines, class_names)
    return Manifest.from_lists(video_dir, paths, labels, class_names)


def read_class_names(path, key: str = "data.class_names") -> list[str]:
    """One class name a line (as written by the tools and the synthetic generator)."""
    path = _require(path, key)
    return [t.strip() for t in io.StringIO(_read_text(path)) if t.strip()]


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
