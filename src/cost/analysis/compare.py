"""Class-by-class comparison of two runs' tests (e.g. C2D vs CoST(b), paper Sec. 4.5).

Reads each run's ``class_accuracy.csv`` and lists the classes whose accuracy differs most
between them: the largest gains of run B over run A, then the largest losses.
"""

from __future__ import annotations

import csv
from pathlib import Path


def read_class_accuracy(run: str | Path) -> dict[str, dict]:
    path = Path(run)
    path = path / "class_accuracy.csv" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no class_accuracy.csv at {path}: is it a run directory whose test has finished?")
    with open(path, newline="") as f:
        return {row["class"]: row for row in csv.DictReader(f)}


def class_differences(run_a, run_b, metric: str = "top1") -> list[dict]:
    """Classes tested in both runs, sorted by ``metric`` of B minus A (largest gain first)."""
    a, b = read_class_accuracy(run_a), read_class_accuracy(run_b)
    rows = [
        {
            "class": name,
            "videos": int(b[name]["videos"]),
            "a": float(a[name][metric]),
            "b": float(b[name][metric]),
            "diff": float(b[name][metric]) - float(a[name][metric]),
        }
        for name in a
        if name in b
    ]
    if not rows:
        raise ValueError(f"{run_a} and {run_b} have no class in common: were they tested on the same dataset?")
    return sorted(rows, key=lambda r: (-r["diff"], r["class"]))


def to_markdown(rows: list[dict], name_a: str, name_b: str, top: int = 10, metric: str = "top1") -> str:
    gains = [r for r in rows if r["diff"] > 0][:top]
    losses = [r for r in reversed(rows) if r["diff"] < 0][:top]
    mean_a = sum(r["a"] for r in rows) / len(rows)
    mean_b = sum(r["b"] for r in rows) / len(rows)
    lines = [
        f"{len(rows)} classes in both runs; mean per-class {metric}: A {mean_a:.1f}, B {mean_b:.1f}",
        f"A = {name_a}",
        f"B = {name_b}",
    ]
    for title, part in (
        (f"B better than A ({len(gains)} shown)", gains),
        (f"A better than B ({len(losses)} shown)", losses),
    ):
        lines += [
            "",
            f"### {title}",
            "",
            f"| class | videos | A {metric} | B {metric} | B - A |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {r['class']} | {r['videos']} | {r['a']:.1f} | {r['b']:.1f} | {r['diff']:+.1f} |" for r in part]
    return "\n".join(lines)
