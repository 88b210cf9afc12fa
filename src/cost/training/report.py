"""A finished test's report: ``results.json`` (docs/run-directory.md#resultsjson) and the console tables."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from omegaconf import DictConfig

from .coefficients import layer_means, magnitude_correlation, magnitude_warning, view_means
from .config import dataset_name, repo_root
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
        "test_clips": int(cfg.data.test_clips),
        "test_crops": int(cfg.data.test_crops),
    }


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", repo_root(), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def code_version() -> dict:
    """The commit of the code that ran and whether tracked files differed from it (untracked
    files do not count); both None outside a git checkout (an installed package)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit.strip() if commit else None, "git_dirty": None if status is None else bool(status)}


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def provenance(cfg: DictConfig, device, started: float, run_type: str) -> dict:
    """Which run this is and what produced it: ``run_type`` (train: src/run.py, retest:
    src/eval.py), seed, code, library versions, host and device, and this session's times."""
    import pytorch_lightning as pl
    import torch

    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = f"{device.type} {platform.processor() or platform.machine()}".strip()
    finished = time.time()
    return {
        "run_type": run_type,
        "seed": int(cfg.seed),
        **code_version(),
        "torch": torch.__version__,
        "pytorch_lightning": pl.__version__,
        "cuda": torch.version.cuda,
        "host": socket.gethostname(),
        "device": device_name,
        "started": _utc(started),
        "finished": _utc(finished),
        "wall_time_s": round(finished - started, 1),
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
        drift = "drift" in rows[0]  # CoST(a): how far each layer moved from softmax(model.coef_init)
        lt = Table(title="Mean coefficient per CoST layer (paper Fig. 8)")
        for col in ("layer", "stage", "unit", "H-W", "T-W", "T-H", *(["drift H-W", "drift T-W", "drift T-H"] * drift)):
            lt.add_column(col, justify="right")
        first = {r["layer"]: r for r in rows if r["view"] == "hw"}
        drifts = {(r["layer"], r["view"]): r["drift"] for r in rows} if drift else {}
        for layer, means in layer_means(rows).items():
            r0 = first[layer]
            lt.add_row(
                str(layer),
                f"res{r0['stage']}",
                str(r0["unit"]),
                *(f"{means[v]:.3f}" for v in ("hw", "tw", "th")),
                *(f"{drifts[layer, v]:+.3f}" for v in ("hw", "tw", "th") if drift),
            )
        means = view_means(rows)
        lt.add_row("mean", "", "", *(f"{means[v]:.3f}" for v in ("hw", "tw", "th")))
        console.print(lt)
        if drift:
            init = {v: r["init"] for r in rows if r["layer"] == 1 for v in [r["view"]]}
            largest = max(abs(d) for d in drifts.values())
            console.print(
                f"CoST(a): init softmax(model.coef_init) = {init['hw']:.3f} / {init['tw']:.3f} / {init['th']:.3f}; "
                f"the largest drift from it is {largest:.3f}. No class ranking for CoST(a): its "
                f"coefficients are learned parameters, the same for every clip."
            )
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
            warning = magnitude_warning(magnitude_correlation(res.get("class_layer_rows") or []))
            if warning:
                console.print(warning, style="bold red")
        console.print(f"Figures: {output_dir / 'figures'}")
    else:
        console.print("No CoST layers in this model: no coefficient statistics.")
    console.print(f"Run directory: {output_dir}  (results.json, checkpoints/, CSVs)")
