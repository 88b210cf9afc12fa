"""Results tables: our runs next to the paper's and the authors' numbers, with differences.

Reads the ``results.json`` of run directories (docs/run-directory.md), groups runs of the same
configuration (seeds are averaged, their count is shown) and lays them out as a paper table.
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

from .paper import PAPER, TABLES, Published, authors_result, paper_rows

REQUIRED = ("top1", "top5", "average", "arch", "depth", "dataset", "frames", "share_weights")
ARCH_NAMES = {"c2d": "C2D", "c3d": "C3D", "cost_a": "CoST(a)", "cost_b": "CoST(b)"}


def load_runs(paths) -> list[dict]:
    """Every ``results.json`` at or under the given run or sweep directories, except debug runs
    (``"debug": true``) and earlier runs kept in a run's ``previous-N/`` folders."""
    runs = []
    for path in [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]:
        if not path.exists():
            raise FileNotFoundError(f"no run or sweep directory at {path}")
        files = (
            [path]
            if path.is_file()
            else sorted(
                f
                for f in path.rglob("results.json")
                if not any(part.startswith("previous-") for part in f.relative_to(path).parts[:-1])
            )
        )
        for file in files:
            record = json.loads(file.read_text())
            if record.get("debug"):
                continue
            missing = [k for k in REQUIRED if k not in record]
            if missing:
                raise ValueError(f"{file} lacks {', '.join(missing)}: was it written by src/run.py or src/eval.py?")
            record["run_dir"] = str(file.parent)
            runs.append(record)
    return runs


def run_key(run: dict) -> tuple:
    depth = run["depth"]
    depth = int(depth) if str(depth).isdigit() else depth
    return (run["dataset"], depth, run["arch"], bool(run["share_weights"]), int(run["frames"]))


def label(key: tuple) -> str:
    dataset, depth, arch, share, frames = key
    depth_name = f"R{depth}" if isinstance(depth, int) else str(depth)
    sharing = "" if share or arch in ("c2d", "c3d") else ", no sharing"
    return f"{depth_name} {ARCH_NAMES.get(arch, arch)} {frames}f{sharing}"


def _ours(runs: list[dict]) -> dict[tuple, dict]:
    grouped: dict[tuple, list[dict]] = {}
    for run in runs:
        grouped.setdefault(run_key(run), []).append(run)
    return {
        key: {
            "top1": statistics.mean(r["top1"] for r in group),
            "top5": statistics.mean(r["top5"] for r in group),
            "average": statistics.mean(r["average"] for r in group),
            "runs": len(group),
        }
        for key, group in grouped.items()
    }


def _row(key: tuple, ours: dict | None, paper: Published | None, table: str) -> dict:
    row = {"table": table, "dataset": key[0], "model": label(key), "runs": ours["runs"] if ours else 0}
    for metric in ("top1", "top5", "average"):
        row[f"ours_{metric}"] = ours[metric] if ours else None
        row[f"paper_{metric}"] = getattr(paper, metric) if paper else None
        row[f"diff_{metric}"] = ours[metric] - getattr(paper, metric) if ours and paper else None
    authors = authors_result(key)
    for metric in ("top1", "top5"):
        row[f"authors_{metric}"] = getattr(authors, metric) if authors else None
        row[f"diff_authors_{metric}"] = ours[metric] - getattr(authors, metric) if ours and authors else None
    return row


def results_table(runs: list[dict], table: str | None = None) -> list[dict]:
    """Rows in the paper's layout for ``table`` (2-7), or one row per configuration we ran."""
    ours = _ours(runs)
    if table is not None:
        return [_row(p.key, ours.get(p.key), p, table) for p in paper_rows(table)]
    published = {p.key: p for p in PAPER}
    return [_row(key, value, published.get(key), "-") for key, value in sorted(ours.items(), key=lambda kv: str(kv[0]))]


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def to_markdown(rows: list[dict], title: str = "") -> str:
    """Ours / paper / difference for top-1, top-5, average; the authors' top-1/top-5."""
    header = [
        "dataset",
        "model",
        "runs",
        "top-1",
        "paper",
        "diff",
        "top-5",
        "paper",
        "diff",
        "avg",
        "paper",
        "diff",
        "authors top-1/top-5",
    ]
    lines = [f"### {title}"] if title else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        diffs = {m: ("-" if r[f"diff_{m}"] is None else f"{r[f'diff_{m}']:+.1f}") for m in ("top1", "top5", "average")}
        authors = "-" if r["authors_top1"] is None else f"{r['authors_top1']:.2f} / {r['authors_top5']:.2f}"
        cells = [r["dataset"], r["model"], str(r["runs"])]
        for m in ("top1", "top5", "average"):
            cells += [_fmt(r[f"ours_{m}"]), _fmt(r[f"paper_{m}"]), diffs[m]]
        cells.append(authors)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_csv(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["table"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def table_title(table: str | None) -> str:
    return f"Table {table}: {TABLES[table]}" if table else "All runs"
