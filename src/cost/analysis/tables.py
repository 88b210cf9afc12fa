"""Results tables: our runs next to the paper's and the authors' numbers, with differences.

Reads the ``results.json`` of run directories (docs/run-directory.md), groups training runs
of the same configuration and test views (seeds are averaged, their count is shown) and lays
them out as a paper table. eval.py re-tests are listed apart, never averaged in as seeds.
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

from cost.results import run_type

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
            record["run_type"] = run_type(record, file.parent)
            runs.append(record)
    return runs


def views(run: dict) -> int | str | None:
    """Test views per video: ``"10x1"`` (clips x crops) where results.json records both, so
    10x1, 5x2 and 4x3 are different rows; older files give the view count alone."""
    if run.get("test_clips") is not None and run.get("test_crops") is not None:
        return f"{int(run['test_clips'])}x{int(run['test_crops'])}"
    if run.get("views_per_video") is not None:
        return int(run["views_per_video"])
    if run.get("num_videos") and run.get("num_views") is not None:  # files older than views_per_video
        return int(run["num_views"]) // int(run["num_videos"])
    return None


def run_key(run: dict) -> tuple:
    """(dataset, depth, arch, share_weights, frames, views per video); the first five are the
    paper's key (``Published.key``)."""
    depth = run["depth"]
    depth = int(depth) if str(depth).isdigit() else depth
    return (run["dataset"], depth, run["arch"], bool(run["share_weights"]), int(run["frames"]), views(run))


def label(key: tuple) -> str:
    dataset, depth, arch, share, frames = key[:5]
    depth_name = f"R{depth}" if isinstance(depth, int) else str(depth)
    sharing = "" if share or arch in ("c2d", "c3d") else ", no sharing"
    return f"{depth_name} {ARCH_NAMES.get(arch, arch)} {frames}f{sharing}"


def run_title(run: dict, sep: str = ", ") -> str:
    """What a figure of one run says it shows: the model and the run, e.g.
    ``tiny CoST(b) 8f, cost_b_rtiny_synthetic_f8 (step 300)``."""
    step = f" (step {run['global_step']})" if run.get("global_step") is not None else ""
    return f"{label(run_key(run))}{sep}{Path(run['run_dir']).name}{step}"


def view_importance_runs(runs: list[dict]) -> dict[str, dict]:
    """Per dataset, the CoST(b) training run whose view importance stands for it (the paper's
    Sec. 4.5 model): the one trained longest, then by name. Other models are left out."""
    chosen: dict[str, dict] = {}
    candidates = [r for r in runs if r["arch"] == "cost_b" and r.get("run_type", "train") == "train"]
    for run in sorted(candidates, key=lambda r: (-(r.get("global_step") or 0), r["run_dir"])):
        chosen.setdefault(run["dataset"], run)
    return chosen


def _ours(runs: list[dict]) -> dict[tuple, dict]:
    """Training runs grouped by ``run_key``: the mean over seeds and their count."""
    grouped: dict[tuple, list[dict]] = {}
    for run in runs:
        if run["run_type"] == "train":
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
    row = {
        "table": table,
        "dataset": key[0],
        "model": label(key),
        "views": key[5],
        "runs": ours["runs"] if ours else 0,
    }
    for metric in ("top1", "top5", "average"):
        row[f"ours_{metric}"] = ours[metric] if ours else None
        row[f"paper_{metric}"] = getattr(paper, metric) if paper else None
        row[f"diff_{metric}"] = ours[metric] - getattr(paper, metric) if ours and paper else None
    authors = authors_result(key[:5])
    for metric in ("top1", "top5"):
        row[f"authors_{metric}"] = getattr(authors, metric) if authors else None
        row[f"diff_authors_{metric}"] = ours[metric] - getattr(authors, metric) if ours and authors else None
    return row


def _order(key: tuple) -> tuple:
    return str(key[:5]), key[5] or 0


def results_table(runs: list[dict], table: str | None = None) -> list[dict]:
    """Rows in the paper's layout for ``table`` (2-7; a paper row once per test-view setting we
    ran), or one row per configuration we ran. Training runs only: see ``retest_rows``."""
    ours = _ours(runs)
    if table is None:
        published = {p.key: p for p in PAPER}
        return [
            _row(key, value, published.get(key[:5]), "-")
            for key, value in sorted(ours.items(), key=lambda kv: _order(kv[0]))
        ]
    rows = []
    for p in paper_rows(table):
        keys = sorted((k for k in ours if k[:5] == p.key), key=_order)
        rows += [_row(k, ours[k], p, table) for k in keys] or [_row((*p.key, None), None, p, table)]
    return rows


def in_table(run: dict, table: str | None) -> bool:
    """Whether a run's configuration has a row in ``table`` (every run has one in ours)."""
    return table is None or run_key(run)[:5] in {p.key for p in paper_rows(table)}


def retest_rows(runs: list[dict], table: str | None = None) -> list[dict]:
    """One row per eval.py re-test of a configuration in ``table``: shown apart, not a seed."""
    retests = [r for r in runs if r["run_type"] == "retest" and in_table(r, table)]
    return [
        {
            "dataset": r["dataset"],
            "model": label(run_key(r)),
            "views": views(r),
            "top1": r["top1"],
            "top5": r["top5"],
            "average": r["average"],
            "checkpoint": r.get("checkpoint"),
            "run_dir": r["run_dir"],
        }
        for r in sorted(retests, key=lambda r: (_order(run_key(r)), r["run_dir"]))
    ]


def unmatched(runs: list[dict], table: str | None = None) -> list[str]:
    """The results.json files that neither a table row nor the re-test list shows."""
    return [str(Path(r["run_dir"]) / "results.json") for r in runs if not in_table(r, table)]


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
        "views",
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
        cells = [r["dataset"], r["model"], _fmt(r["views"]), str(r["runs"])]
        for m in ("top1", "top5", "average"):
            cells += [_fmt(r[f"ours_{m}"]), _fmt(r[f"paper_{m}"]), diffs[m]]
        cells.append(authors)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def retests_markdown(rows: list[dict]) -> str:
    """The re-tests, one line each (eval.py on a training run's checkpoint)."""
    lines = [
        "### Re-tests (eval.py; not averaged with the training runs)",
        "| dataset | model | views | top-1 | top-5 | avg | checkpoint |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["dataset"], r["model"], _fmt(r["views"])] + [_fmt(r[m]) for m in ("top1", "top5", "average")]
        lines.append("| " + " | ".join(cells + [str(r["checkpoint"] or r["run_dir"])]) + " |")
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
