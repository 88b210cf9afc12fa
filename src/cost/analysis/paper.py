"""The published numbers: the paper's Tables 2-7 and the authors' reproduction.

One record per (table, dataset, depth, arch, share_weights, frames). "CoST" in Tables 3-7
is CoST(b) with weight sharing, the paper's final model. Averages are (top-1 + top-5) / 2.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    table: str
    dataset: str
    depth: int
    arch: str
    share_weights: bool
    frames: int
    top1: float
    top5: float

    @property
    def average(self) -> float:
        return (self.top1 + self.top5) / 2

    @property
    def key(self) -> tuple:
        return (self.dataset, self.depth, self.arch, self.share_weights, self.frames)


def _rows(table, dataset, rows):
    return [Published(table, dataset, *row) for row in rows]


# (depth, arch, share_weights, frames, top1, top5)
PAPER: list[Published] = [
    *_rows("2", "moments", [(50, "cost_a", True, 8, 29.3, 55.8), (50, "cost_b", True, 8, 30.1, 57.2)]),
    *_rows("2", "kinetics", [(50, "cost_a", True, 8, 73.6, 90.8), (50, "cost_b", True, 8, 74.1, 91.2)]),
    *_rows("3", "moments", [(50, "cost_b", False, 8, 29.0, 56.1), (50, "cost_b", True, 8, 30.1, 57.2)]),
    *_rows("3", "kinetics", [(50, "cost_b", False, 8, 73.2, 90.2), (50, "cost_b", True, 8, 74.1, 91.2)]),
    *_rows(
        "4",
        "moments",
        [
            (50, "c2d", True, 8, 27.9, 54.6),
            (50, "c3d", True, 8, 29.0, 55.3),
            (50, "cost_b", True, 8, 30.1, 57.2),
            (101, "c2d", True, 8, 30.0, 56.8),
            (101, "c3d", True, 8, 30.6, 57.7),
            (101, "cost_b", True, 8, 31.5, 57.9),
        ],
    ),
    *_rows(
        "5",
        "kinetics",
        [
            (50, "c2d", True, 8, 71.5, 89.8),
            (50, "c3d", True, 8, 73.3, 90.4),
            (50, "cost_b", True, 8, 74.1, 91.2),
            (101, "c2d", True, 8, 72.9, 89.8),
            (101, "c3d", True, 8, 74.5, 91.1),
            (101, "cost_b", True, 8, 75.5, 92.0),
        ],
    ),
    *_rows("6", "kinetics", [(101, "cost_b", True, 8, 75.5, 92.0), (101, "cost_b", True, 32, 77.5, 93.2)]),
    *_rows(
        "7",
        "moments",
        [
            (50, "cost_b", True, 8, 30.1, 57.2),
            (101, "cost_b", True, 8, 31.5, 57.9),
            (101, "cost_b", True, 32, 32.4, 60.0),
        ],
    ),
]

# hikvision-research/cost, R50 8x8, 10 clips x 3 crops.
AUTHORS: list[Published] = [
    *_rows(
        "authors",
        "kinetics",
        [
            (50, "c2d", True, 8, 72.28, 89.99),
            (50, "c3d", True, 8, 73.40, 90.91),
            (50, "cost_a", True, 8, 72.89, 90.46),
            (50, "cost_b", True, 8, 73.85, 90.98),
        ],
    ),
    *_rows(
        "authors",
        "moments",
        [
            (50, "c2d", True, 8, 30.17, 56.75),
            (50, "c3d", True, 8, 31.04, 58.28),
            (50, "cost_a", True, 8, 30.80, 57.94),
            (50, "cost_b", True, 8, 32.23, 59.84),
        ],
    ),
]

TABLES = {
    "2": "CoST(a) vs CoST(b), ResNet-50",
    "3": "weight sharing off / on, CoST(b) ResNet-50",
    "4": "Moments in Time: C2D, C3D, CoST x R50, R101",
    "5": "Kinetics-400: C2D, C3D, CoST x R50, R101",
    "6": "Kinetics-400, R101 CoST: 8 vs 32 frames",
    "7": "Moments in Time: CoST R50/R101, 8 and 32 frames",
}

# Sec. 4.5: mean coefficient per view (H-W, T-W, T-H) over layers and the validation set.
PAPER_VIEW_MEANS = {"moments": (0.67, 0.14, 0.19), "kinetics": (0.77, 0.08, 0.15)}


def paper_rows(table: str) -> list[Published]:
    if table not in TABLES:
        raise ValueError(f"unknown paper table {table!r}; choose one of {', '.join(TABLES)}")
    return [r for r in PAPER if r.table == table]


def authors_result(key: tuple) -> Published | None:
    return next((r for r in AUTHORS if r.key == key), None)
