"""CoST coefficient statistics (paper Sec. 4.5): per layer, per class, their files and figures.

The per-video value of a layer is its coefficients averaged over channels and over the
video's views; the statistics are means of those over the evaluated videos (per class: over
that class's videos). The overall view importance is the mean over layers.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import torch

from cost.analysis import plots
from cost.models import VIEWS, CoST

LAYER_COLUMNS = ["layer", "stage", "unit", "view", "mean"]
CLASS_COLUMNS = ["class", "hw", "tw", "th", "temporal"]
CURVE_COLUMNS = ["step", "layer", "view", "mean"]


def clip_coefficients(layers: list[CoST]) -> torch.Tensor:
    """clips x L x 3: each layer's coefficients of the last forward, averaged over channels."""
    per_layer = []
    for layer in layers:
        if layer.coefficients is None:
            raise RuntimeError(f"CoST layer {layer.layer_index} has no coefficients: run a forward first")
        per_layer.append(layer.coefficients.detach().float().mean(dim=1))  # clips x 3
    return torch.stack(per_layer, dim=1)


def video_coefficients(clip_coef: torch.Tensor, num_videos: int, num_views: int) -> torch.Tensor:
    """N x L x 3 from clips x L x 3 laid out video-major (video 0's views first): the mean over views."""
    return clip_coef.view(num_videos, num_views, *clip_coef.shape[1:]).mean(dim=1)


def batch_coefficients(layers: list[CoST], num_videos: int, num_views: int) -> torch.Tensor:
    """N x L x 3: each layer's coefficients of the last forward, averaged over channels and views."""
    if not layers:
        return torch.zeros(num_videos, 0, 3)
    return video_coefficients(clip_coefficients(layers), num_videos, num_views)


def layer_rows(layers: list[CoST], coef: torch.Tensor) -> list[dict]:
    """Rows of coefficients.csv from per-video coefficients (num_videos x L x 3)."""
    if not layers or coef.numel() == 0:
        return []
    mean = coef.mean(dim=0)
    return [
        {"layer": layer.layer_index, "stage": layer.stage, "unit": layer.unit, "view": view, "mean": float(mean[i, j])}
        for i, layer in enumerate(layers)
        for j, view in enumerate(VIEWS)
    ]


def class_rows(coef: torch.Tensor, labels: torch.Tensor, class_names: list[str]) -> list[dict]:
    """Rows of class_coefficients.csv: per class, each view's mean over layers and videos."""
    if coef.numel() == 0 or coef.shape[1] == 0:
        return []
    per_video = coef.mean(dim=1)  # mean over layers: num_videos x 3
    rows = []
    for c, name in enumerate(class_names):
        mask = labels == c
        if not bool(mask.any()):
            continue
        m = per_video[mask].mean(dim=0)
        rows.append({"class": name, "hw": float(m[0]), "tw": float(m[1]), "th": float(m[2]), "temporal": float(m[1] + m[2])})
    return rows


def scalars(rows: list[dict], prefix: str = "coef") -> dict[str, float]:
    """``coef/layerN/{hw,tw,th}`` plus the mean over layers ``coef/mean/{view}``."""
    out = {f"{prefix}/layer{r['layer']}/{r['view']}": r["mean"] for r in rows}
    for view in VIEWS:
        vals = [r["mean"] for r in rows if r["view"] == view]
        if vals:
            out[f"{prefix}/mean/{view}"] = sum(vals) / len(vals)
    return out


def write_csv(path: Path, rows: list[dict], columns: list[str], append: bool = False) -> None:
    """Append rows, or write the whole file through a temporary file and a rename (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not (append and path.exists())
    target = path if not new else path.with_name(f".{path.name}.tmp")
    with open(target, "a" if not new else "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        if new:
            writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{r[k]:.6f}" if isinstance(r[k], float) else r[k]) for k in columns})
    if new:
        os.replace(target, path)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_test_outputs(out_dir: Path, layers: list[CoST], coef: torch.Tensor, labels: torch.Tensor, class_names: list[str]) -> dict:
    """coefficients.csv, class_coefficients.csv and figures/ (nothing for C2D/C3D)."""
    rows = layer_rows(layers, coef)
    if not rows:
        return {"layers": [], "classes": []}
    out_dir = Path(out_dir)
    crows = class_rows(coef, labels, class_names)
    write_csv(out_dir / "coefficients.csv", rows, LAYER_COLUMNS)
    write_csv(out_dir / "class_coefficients.csv", crows, CLASS_COLUMNS)
    plots.plot_layer_coefficients(rows, out_dir / "figures" / "coefficients_per_layer.png")
    if crows:
        plots.plot_class_ranking(crows, out_dir / "figures" / "class_temporal_importance.png")
    return {"layers": rows, "classes": crows}
