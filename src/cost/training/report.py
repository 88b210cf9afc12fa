"""A finished test's report: ``results.json`` (docs/run-directory.md#resultsjson) and the console tables."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from .coefficients import layer_means, view_means
from .config import dataset_name
from .predictions import ends_of_ranking
from .rundir import write_text_atomic


def results_record(res: dict, cfg: DictConfig) -> dict:
    """The results.json content from the module's ``test_results`` and the run config."""

    def clean(x):
        return None if x != x else round(float(x), 4)  # NaN -> null

    return {
        "top1": clean(res["top1"]),
        "top5": clean(res["top5"]),
        "average": clean(res["average"]),
        "num_videos": int(res["num_videos"]),
        "num_views": int(res["num_views"]),
        "views_per_video": int(res["views_per_video"]),
        "skipped_videos": list(res["skipped_videos"]),
        "arch": str(cfg.model.arch),
        "depth": cfg.model.depth if isinstance(cfg.model.depth, int) else str(cfg.model.depth),
        "dataset": dataset_name(cfg),
        "data_format": str(cfg.data.format),
        "frames": int(cfg.frames.num_frames),
        "share_weights": bool(cfg.model.share_weights),
    }


def write_json(path: Path, record: dict) -> None:
    write_text_atomic(Path(path), json.dumps(record, indent=2) + "\n")


def read_results(output_dir: Path) -> dict:
    """The run directory's results.json, or {} when there is none (or it cannot be read)."""
    try:
        return json.loads((output_dir / "results.json").read_text())
    except (OSError, ValueError):
        return {}


def write_results(cfg: DictConfig, module, output_dir: Path, extra: dict, previous: dict | None = None) -> dict:
    """Rank zero: results.json (the test results plus ``extra``, over the ``previous`` record's
    fields that this session did not measure again), then the tables unless print_tables=false."""
    extra = {**extra, "debug": bool(cfg.debug_run)}
    record = {**(previous or {}), **results_record(module.test_results, cfg), **extra}
    write_json(output_dir / "results.json", record)
    if cfg.print_tables:
        print_summary(output_dir, record, module)
    return record


def print_summary(output_dir: Path, record: dict, module) -> None:
    """The demo's closing output: results, coefficient tables, where the files are. ``module``
    gives ``class_names`` and ``test_results`` (a ``VideoClassifier`` after its test)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    n_classes = len(module.class_names or []) or 1
    t = Table(
        title=f"Test results ({record['arch']}, depth {record['depth']}, {record['dataset']}, "
        f"{record['frames']} frames)"
    )
    for col in ("top-1 %", "top-5 %", "average %", "videos", "views/video", "chance top-1 %", "skipped"):
        t.add_column(col, justify="right")
    t.add_row(
        f"{record['top1']:.2f}",
        f"{record['top5']:.2f}",
        f"{record['average']:.2f}",
        str(record["num_videos"]),
        str(record["views_per_video"]),
        f"{100 / n_classes:.2f}",
        str(len(record["skipped_videos"])),
    )
    console.print(t)
    res = module.test_results or {}
    rows = res.get("coef_rows") or []  # absent: a module that was never tested
    if rows:
        lt = Table(title="Mean coefficient per CoST layer (paper Fig. 8)")
        for col in ("layer", "stage", "unit", "H-W", "T-W", "T-H"):
            lt.add_column(col, justify="right")
        first = {r["layer"]: r for r in rows if r["view"] == "hw"}
        for layer, means in layer_means(rows).items():
            r0 = first[layer]
            lt.add_row(
                str(layer), f"res{r0['stage']}", str(r0["unit"]), *(f"{means[v]:.3f}" for v in ("hw", "tw", "th"))
            )
        means = view_means(rows)
        lt.add_row("mean", "", "", *(f"{means[v]:.3f}" for v in ("hw", "tw", "th")))
        console.print(lt)
        top, bottom = ends_of_ranking(res["class_rows"], "temporal")
        if top:
            shown = f", the {len(top)} most and {len(bottom)} least temporal" if bottom else ""
            ct = Table(
                title=f"Classes by temporal importance T-W + T-H (paper Fig. 7{shown}; all in class_coefficients.csv)"
            )
            for col in ("class", "H-W", "T-W", "T-H", "temporal"):
                ct.add_column(col, justify="right")
            for r in top:
                ct.add_row(r["class"], *(f"{r[k]:.3f}" for k in ("hw", "tw", "th", "temporal")))
            if bottom:
                ct.add_row("...", "", "", "", "")
            for r in bottom:
                ct.add_row(r["class"], *(f"{r[k]:.3f}" for k in ("hw", "tw", "th", "temporal")))
            console.print(ct)
        console.print(f"Figures: {output_dir / 'figures'}")
    else:
        console.print("No CoST layers in this model: no coefficient statistics.")
    console.print(f"Run directory: {output_dir}  (results.json, checkpoints/, CSVs)")
