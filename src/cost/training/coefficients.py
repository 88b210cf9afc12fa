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
# CoST(a) only: the coefficient its logits started from (softmax of model.coef_init) and mean - init.
DRIFT_COLUMNS = ["init", "drift"]
CLASS_COLUMNS = ["class", "hw", "tw", "th", "temporal"]
# Per clip and layer, besides the three coefficients: the mean over channels of the largest
# coefficient (1/3 = uniform, 1 = one view), and the RMS of the pooled input of the CoST(b)
# coefficient branch (NaN for CoST(a), which has no branch).
STAT_NAMES = ("sharpness", "magnitude")
CLASS_LAYER_COLUMNS = ["class", "layer", "hw", "tw", "th", "temporal", *STAT_NAMES]
# |Spearman| between the classes' temporal importance and their branch magnitude above which
# the ranking is flagged as magnitude-driven (docs/method.md#what-the-coefficients-mean).
MAGNITUDE_WARN_RHO = 0.7
CURVE_COLUMNS = ["step", "layer", "view", "mean"]
# Column types of the coefficient files; every other column holds a float.
INT_COLUMNS = frozenset({"layer", "stage", "unit", "step", "videos"})
STR_COLUMNS = frozenset({"view", "class", "condition", "layers", "predicted"})


def clip_coefficients(layers: list[CoST]) -> torch.Tensor:
    """clips x L x 3: each layer's coefficients of the last forward, averaged over channels."""
    per_layer = []
    for layer in layers:
        if layer.coefficients is None:
            raise RuntimeError(f"CoST layer {layer.layer_index} has no coefficients: run a forward first")
        per_layer.append(layer.coefficients.detach().float().mean(dim=1))  # clips x 3
    return torch.stack(per_layer, dim=1)


def clip_statistics(layers: list[CoST]) -> torch.Tensor:
    """clips x L x 2: each layer's STAT_NAMES of the last forward (sharpness, branch magnitude)."""
    per_layer = []
    for layer in layers:
        a = layer.coefficients.detach().float()
        sharp = a.amax(dim=2).mean(dim=1)
        mag = layer.branch_magnitude
        mag = torch.full_like(sharp, float("nan")) if mag is None else mag.detach().float().to(sharp.device)
        per_layer.append(torch.stack([sharp, mag], dim=1))
    return torch.stack(per_layer, dim=1)


def clip_independent(layers: list[CoST]) -> bool:
    """True for CoST(a): learned coefficients, the same for every clip, so they cannot rank classes."""
    return bool(layers) and all(layer.mode == "a" for layer in layers)


def video_coefficients(clip_coef: torch.Tensor, num_videos: int, num_views: int) -> torch.Tensor:
    """N x L x 3 from clips x L x 3 laid out video-major (video 0's views first): the mean over views."""
    return clip_coef.view(num_videos, num_views, *clip_coef.shape[1:]).mean(dim=1)


def batch_coefficients(layers: list[CoST], num_videos: int, num_views: int) -> torch.Tensor:
    """N x L x 3: each layer's coefficients of the last forward, averaged over channels and views."""
    if not layers:
        return torch.zeros(num_videos, 0, 3)
    return video_coefficients(clip_coefficients(layers), num_videos, num_views)


def layer_rows(layers: list[CoST], coef: torch.Tensor) -> list[dict]:
    """Rows of coefficients.csv from per-video coefficients (num_videos x L x 3); for CoST(a)
    also each view's ``init`` (softmax of the layer's coef_init) and ``drift`` (mean - init)."""
    if not layers or coef.numel() == 0:
        return []
    mean = coef.mean(dim=0)
    rows = []
    for i, layer in enumerate(layers):
        init = torch.softmax(torch.tensor(layer.coef_init, dtype=torch.float64), dim=0)
        for j, view in enumerate(VIEWS):
            row = {"layer": layer.layer_index, "stage": layer.stage, "unit": layer.unit, "view": view}
            row["mean"] = float(mean[i, j])
            if layer.mode == "a":
                row.update(init=float(init[j]), drift=float(mean[i, j]) - float(init[j]))
            rows.append(row)
    return rows


def layer_columns(rows: list[dict]) -> list[str]:
    """coefficients.csv's columns: DRIFT_COLUMNS too when the rows have them (CoST(a))."""
    return LAYER_COLUMNS + (DRIFT_COLUMNS if rows and "drift" in rows[0] else [])


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


def class_layer_rows(
    coef: torch.Tensor, stats: torch.Tensor, labels: torch.Tensor, class_names: list[str]
) -> list[dict]:
    """Rows of class_layer_coefficients.csv: per class (with videos) and layer, the mean
    coefficients and STAT_NAMES over the class's videos (``coef`` N x L x 3, ``stats`` N x L x 2)."""
    rows = []
    for c, name in enumerate(class_names):
        mask = labels == c
        if not bool(mask.any()) or coef.shape[1] == 0:
            continue
        m, s = coef[mask].mean(dim=0), stats[mask].mean(dim=0)
        for i in range(coef.shape[1]):
            rows.append(
                {
                    "class": name,
                    "layer": i + 1,
                    "hw": float(m[i, 0]),
                    "tw": float(m[i, 1]),
                    "th": float(m[i, 2]),
                    "temporal": float(m[i, 1] + m[i, 2]),
                    **{k: float(s[i, j]) for j, k in enumerate(STAT_NAMES)},
                }
            )
    return rows


def _ranks(values: list[float]) -> list[float]:
    """Ranks from 1, equal values sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i : j + 1]:
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (ties share ranks); NaN when either side is constant."""
    rx, ry = _ranks(x), _ranks(y)
    n = len(rx)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx, vy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return cov / (vx * vy) ** 0.5 if vx > 0 and vy > 0 else float("nan")


def magnitude_correlation(class_layer: list[dict]) -> float:
    """Spearman over classes between temporal importance and branch magnitude, each the
    class's mean over layers (what the Fig. 7 ranking sorts by, and its softmax temperature)."""
    per_class: dict[str, list[tuple[float, float]]] = {}
    for r in class_layer:
        per_class.setdefault(r["class"], []).append((r["temporal"], r["magnitude"]))
    if len(per_class) < 3:
        return float("nan")
    temporal = [sum(t for t, _ in v) / len(v) for v in per_class.values()]
    magnitude = [sum(m for _, m in v) / len(v) for v in per_class.values()]
    if any(m != m for m in magnitude):
        return float("nan")
    return spearman(temporal, magnitude)


def magnitude_warning(rho: float) -> str | None:
    """The warning printed and put in the Fig. 7 caption when |rho| > MAGNITUDE_WARN_RHO."""
    if rho != rho or abs(rho) <= MAGNITUDE_WARN_RHO:
        return None
    return (
        f"Warning: the class ranking follows the coefficient branch's input magnitude "
        f"(Spearman {rho:+.2f}, |rho| > {MAGNITUDE_WARN_RHO}): it may reflect feature scale, not "
        f"temporal reliance; check with python -m cost.analysis views"
    )


def rank_key(key: str, digits: int = 3):
    """Sort key for a ranking by ``key`` (largest first): values equal at the ``digits``
    decimals the console shows are ties, broken by class name, so differences too small to
    show (float noise, or CoST(a)'s equal coefficients) never order classes."""
    return lambda r: (-round(r[key], digits), r["class"])


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
    """A coefficient CSV (coefficients.csv, class_coefficients.csv, class_layer_coefficients.csv,
    coefficient_curves.csv, analysis/view_reliance.csv) as
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
