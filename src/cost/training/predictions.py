"""Per-video predictions and per-class accuracy of a test: error analysis and the paper's
Fig. 7 discussion (which classes gain from temporal views), class by class between runs.

``predictions.csv``: one row per evaluated video: its path, label, the top-5 classes with
their (view-averaged) scores and its number of views. ``class_accuracy.csv``: per class, the
number of videos, top-1 and top-5 accuracy (%), and for CoST models the class's mean
coefficients (the same numbers as class_coefficients.csv).
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import coefficients as coefs

CLASS_ACCURACY_COLUMNS = ["class", "videos", "top1", "top5"]
COEF_COLUMNS = ["hw", "tw", "th", "temporal"]


def prediction_columns(k: int) -> list[str]:
    return [
        "video",
        "label",
        *(f"class_{i}" for i in range(1, k + 1)),
        *(f"score_{i}" for i in range(1, k + 1)),
        "views",
    ]


def prediction_rows(probs: torch.Tensor, labels: torch.Tensor, views: torch.Tensor, paths: list[str]) -> list[dict]:
    k = min(5, probs.shape[1])
    scores, classes = probs.topk(k, dim=1)
    rows = []
    for i, path in enumerate(paths):
        row = {"video": path, "label": int(labels[i]), "views": int(views[i])}
        row.update({f"class_{j + 1}": int(classes[i, j]) for j in range(k)})
        row.update({f"score_{j + 1}": float(scores[i, j]) for j in range(k)})
        rows.append(row)
    return rows


def class_accuracy_rows(
    probs: torch.Tensor, labels: torch.Tensor, class_names: list[str], class_coef_rows: list[dict] | None = None
) -> list[dict]:
    """Per class with test videos: count, top-1 and top-5 (%), and its coefficient means."""
    k = min(5, probs.shape[1])
    top = probs.topk(k, dim=1).indices
    hit1 = top[:, 0] == labels
    hit5 = (top == labels[:, None]).any(dim=1)
    coef_by_class = {r["class"]: r for r in class_coef_rows or []}
    rows = []
    for c, name in enumerate(class_names):
        mask = labels == c
        n = int(mask.sum())
        if not n:
            continue
        row = {
            "class": name,
            "videos": n,
            "top1": 100 * float(hit1[mask].float().mean()),
            "top5": 100 * float(hit5[mask].float().mean()),
        }
        if name in coef_by_class:
            row.update({key: coef_by_class[name][key] for key in COEF_COLUMNS})
        rows.append(row)
    return rows


def write_test_files(
    out_dir: Path, res: dict, paths: list[str], class_names: list[str], class_coef_rows: list[dict] | None
) -> dict:
    """predictions.csv and class_accuracy.csv from VideoMetrics.compute()'s output."""
    out_dir = Path(out_dir)
    # torchmetrics squeezes the states of a single video: back to one row per video
    labels = res["label"].cpu().reshape(-1)
    probs, views = res["probs"].cpu().float().reshape(labels.numel(), -1), res["views"].cpu().reshape(-1)
    k = min(5, probs.shape[1])
    preds = prediction_rows(probs, labels, views, paths)
    coefs.write_csv(out_dir / "predictions.csv", preds, prediction_columns(k))
    classes = class_accuracy_rows(probs, labels, class_names, class_coef_rows)
    columns = CLASS_ACCURACY_COLUMNS + (COEF_COLUMNS if class_coef_rows else [])
    coefs.write_csv(out_dir / "class_accuracy.csv", classes, columns)
    return {"predictions": (prediction_columns(k), preds), "class_accuracy": (columns, classes)}


def ends_of_ranking(rows: list[dict], key: str, n: int = 10, limit: int = 30) -> tuple[list[dict], list[dict]]:
    """Rows sorted by ``key`` (largest first, ties by name) for the console: all of them up to ``limit``,
    else the ``n`` largest and the ``n`` smallest (the CSV files keep every row)."""
    ranked = sorted(rows, key=coefs.rank_key(key))  # ties (at 6 decimals) by class name
    if len(ranked) <= limit:
        return ranked, []
    return ranked[:n], ranked[-n:]


def log_tables(loggers: list, tables: dict, prefix: str = "test") -> None:
    """Both files as W&B tables (``test/predictions``, ``test/class_accuracy``)."""
    from pytorch_lightning.loggers import WandbLogger
    from pytorch_lightning.utilities import rank_zero_warn

    for logger in loggers:
        if isinstance(logger, WandbLogger):
            try:
                for name, (columns, rows) in tables.items():
                    logger.log_table(
                        f"{prefix}/{name}", columns=columns, data=[[r.get(c) for c in columns] for r in rows]
                    )
            except Exception as err:  # noqa: BLE001 - the CSV files are written; W&B trouble must not fail the run
                rank_zero_warn(f"could not log the prediction tables to W&B: {err}")
