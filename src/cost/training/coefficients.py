"""CoST coefficient statistics (paper Sec. 4.5): per layer, per class, and their CSV files.

The per-video value of a layer is its coefficients averaged over channels and over the
video's views; the statistics are means of those over the evaluated videos (per class: over
that class's videos). The overall view importance is the mean over layers. Training, the
analysis figures and the tests all use these functions and the one typed CSV reader and writer
(columns: docs/run-directory.md). No figures here: ``cost.analysis.plots`` imports this module.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import torch

from cost.models import VIEWS, CoST

LAYER_COLUMNS = ["layer", "stage", "unit", "view", "mean"]
CLASS_COLUMNS = ["class", "hw", "tw", "th", "temporal"]
CURVE_COLUMNS = ["step", "layer", "view", "mean"]
# Column types of the coefficient files; every other column holds a float.
INT_COLUMNS = frozenset({"layer", "stage", "unit", "step"})
STR_COLUMNS = frozenset({"view", "class"})


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
        rows.append(
            {"class": name, "hw": float(m[0]), "tw": float(m[1]), "th": float(m[2]), "temporal": float(m[1] + m[2])}
        )
    return rows


def layer_means(rows: list[dict]) -> dict[int, dict[str, float]]:
    """{layer: {view: mean}} from coefficients.csv (or one step's coefficient_curves.csv) rows."""
    out: dict[int, dict[str, float]] = {}
    for r in rows:
        out.setdefault(r["layer"], {})[r["view"]] = r["mean"]
    return dict(sorted(out.items()))


def view_means(rows: list[dict]) -> dict[str, float]:
    """The overall importance of each view: the mean over layers (the paper's 0.67/0.14/0.19)."""
    layers = layer_means(rows)
    return {v: sum(m[v] for m in layers.values()) / len(layers) for v in VIEWS}


def scalars(rows: list[dict], prefix: str = "coef") -> dict[str, float]:
    """``coef/layerN/{hw,tw,th}`` plus the mean over layers ``coef/mean/{view}``."""
    out = {f"{prefix}/layer{r['layer']}/{r['view']}": r["mean"] for r in rows}
    if rows:
        out.update({f"{prefix}/mean/{view}": mean for view, mean in view_means(rows).items()})
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


def _typed(key: str, value: str):
    if key in INT_COLUMNS:
        return int(value)
    return value if key in STR_COLUMNS else float(value)


def read_csv(path: str | Path) -> list[dict]:
    """A coefficient CSV (coefficients.csv, class_coefficients.csv, coefficient_curves.csv) as
    dicts of typed values: ints for INT_COLUMNS, strings for STR_COLUMNS, floats otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is this a CoST run directory that finished its test?")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return [{key: _typed(key, value) for key, value in row.items()} for row in rows]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a coefficient CSV with the columns of docs/run-directory.md ({err})") from None
