"""One table for every dataset format: video paths, labels, class names, frame counts.

Stored as numpy arrays (paths as UTF-8 bytes) rather than Python lists: DataLoader workers
fork the dataset, and touching millions of Python objects would copy the pages they live
on (refcounts); one numpy buffer stays shared.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Manifest:
    root: str  # paths are relative to it (or absolute)
    paths: np.ndarray  # bytes (dtype S), UTF-8 (a file name's undecodable bytes kept as they are)
    labels: np.ndarray  # int64, -1 = unlabelled
    class_names: np.ndarray  # str (dtype U)
    num_frames: np.ndarray = field(default=None)  # type: ignore[arg-type]  # int64, -1 = unknown; None: all unknown

    def __post_init__(self):
        self.paths = np.asarray(self.paths, dtype=np.bytes_)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.class_names = np.asarray(self.class_names, dtype=np.str_).reshape(-1)
        if self.num_frames is None:
            self.num_frames = np.full(len(self.paths), -1, dtype=np.int64)
        self.num_frames = np.asarray(self.num_frames, dtype=np.int64).reshape(-1)
        if not (len(self.paths) == len(self.labels) == len(self.num_frames)):
            raise ValueError("manifest paths, labels and num_frames differ in length")
        bad = (self.labels >= len(self.class_names)) | (self.labels < -1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"label {int(self.labels[i])} of {self.relpath(i)} is outside 0..{len(self.class_names) - 1}"
            )

    @classmethod
    def from_lists(
        cls,
        root,
        paths: Sequence[str],
        labels: Sequence[int] | np.ndarray,
        class_names: Sequence[str] | np.ndarray,
        num_frames: Sequence[int] | None = None,
    ) -> Manifest:
        encoded = [p.encode("utf-8", "surrogateescape") for p in paths]
        enc = np.array(encoded, dtype=np.bytes_) if encoded else np.array([], dtype="S1")
        return cls(
            str(root),
            enc,
            np.asarray(labels, dtype=np.int64),
            np.asarray(list(class_names), dtype=np.str_),
            np.full(len(enc), -1, dtype=np.int64) if num_frames is None else np.asarray(num_frames, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.paths)

    def relpath(self, i: int) -> str:
        """The path as listed; a byte that is not UTF-8 (a file name on Linux) comes back as
        Python's stand-in character for it (surrogateescape), as `os.walk` gives it."""
        return self.paths[i].decode("utf-8", "surrogateescape")

    def path(self, i: int) -> str:
        return os.path.join(self.root, self.relpath(i))

    def subset(self, keep: np.ndarray) -> Manifest:
        """Rows where `keep` (bool mask or index array) holds; class names unchanged."""
        return Manifest(self.root, self.paths[keep], self.labels[keep], self.class_names, self.num_frames[keep])

    def exists(self) -> np.ndarray:
        """Bool mask: which listed files are on disk."""
        return np.fromiter((os.path.isfile(self.path(i)) for i in range(len(self))), dtype=bool, count=len(self))

    def write_list(self, path) -> None:
        """Write the plain list format `relative/path label_index` (one video a line)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for i in range(len(self)):
                f.write(f"{self.relpath(i)} {int(self.labels[i])}\n")
