"""Per-video predictions and per-class accuracy of a test: error analysis and the paper's
Fig. 7 discussion (which classes gain from temporal views), class by class between runs.

``predictions.csv``: one row per evaluated video: its path, label, the top-5 classes with
their (view-averaged) scores and its number of views, then the names of the label and of the
top-5 classes (added after the index columns, which readers rely on). ``class_accuracy.csv``:
per class, the number of videos, top-1 and top-5 accuracy (%), and for CoST models the class's
mean coefficients (the same numbers as class_coefficients.csv). ``confusion.csv``: videos per
true class (rows) and top-1 class (columns), by name; its figure is ``figures/confusion.png``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from cost.analysis import plots

from . import coefficients as coefs

CONFUSION_FIGURE = "confusion.png"

CLASS_ACCURACY_COLUMNS = ["class", "videos", "top1", "top5"]
COEF_COLUMNS = ["hw", "tw", "th", "temporal"]


def prediction_columns(k: int) -> list[str]:
    return [
        "video",
        "label",
        *(f"class_{i}" for i in range(1, k + 1)),
        *(f"score_{i}" for i in range(1, k + 1)),
        "views",
        "label_name",
        *(f"name_{i}" for i in range(1, k + 1)),
    ]


def prediction_rows(
    probs: torch.Tensor, labels: torch.Tensor, views: torch.Tensor, paths: list[str], class_names: list[str]
) -> list[dict]:
    k = min(5, probs.shape[1])
    scores, classes = probs.topk(k, dim=1)
    names = _names(class_names, probs.shape[1])
    rows = []
    for i, path in enumerate(paths):
        row = {"video": path, "label": int(labels[i]), "views": int(views[i]), "label_name": names[int(labels[i])]}
        row.update({f"class_{j + 1}": int(classes[i, j]) for j in range(k)})
        row.update({f"score_{j + 1}": float(scores[i, j]) for j in range(k)})
        row.update({f"name_{j + 1}": names[int(classes[i, j])] for j in range(k)})
        rows.append(row)
    return rows


def _names(class_names: list[str], num_classes: int) -> list[str]:
    return list(class_names) if len(class_names or []) == num_classes else [str(c) for c in range(num_classes)]


def confusion_matrix(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """classes x classes: videos of true class i (row) whose top-1 class (``class_1``) is j (column)."""
    return multiclass_confusion_matrix(probs.topk(1, dim=1).indices[:, 0], labels, num_classes=probs.shape[1])


def confusion_rows(matrix: torch.Tensor, class_names: list[str]) -> tuple[list[str], list[dict]]:
    """confusion.csv: one row per true class, one column per predicted class, by name."""
    names = _names(class_names, matrix.shape[0])
    columns = ["true", *names]
    rows = [{columns[0]: name, **dict(zip(names, map(int, matrix[i])))} for i, name in enumerate(names)]
    return columns, rows


def confused_pairs(matrix: torch.Tensor, class_names: list[str]) -> list[dict]:
    """The non-zero cells (true, predicted, videos), most videos first: a compact W&B table."""
    names = _names(class_names, matrix.shape[0])
    cells = [(int(matrix[i, j]), i, j) for i, j in matrix.nonzero().tolist()]
    return [{"true": names[i], "predicted": names[j], "videos": n} for n, i, j in sorted(cells, key=lambda c: -c[0])]


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
    """predictions.csv, class_accuracy.csv, confusion.csv and figures/confusion.png from
    VideoMetrics.compute()'s output; returns the W&B tables."""
    out_dir = Path(out_dir)
    # torchmetrics squeezes the states of a single video: back to one row per video
    labels = res["label"].cpu().reshape(-1)
    probs, views = res["probs"].cpu().float().reshape(labels.numel(), -1), res["views"].cpu().reshape(-1)
    k = min(5, probs.shape[1])
    preds = prediction_rows(probs, labels, views, paths, class_names)
    coefs.write_csv(out_dir / "predictions.csv", preds, prediction_columns(k))
    classes = class_accuracy_rows(probs, labels, class_names, class_coef_rows)
    columns = CLASS_ACCURACY_COLUMNS + (COEF_COLUMNS if class_coef_rows else [])
    coefs.write_csv(out_dir / "class_accuracy.csv", classes, columns)
    matrix = confusion_matrix(probs, labels)
    coefs.write_csv(out_dir / "confusion.csv", *reversed(confusion_rows(matrix, class_names)))
    plots.plot_confusion(
        matrix.tolist(), _names(class_names, matrix.shape[0]), out_dir / "figures" / CONFUSION_FIGURE, run=out_dir.name
    )
    pairs = confused_pairs(matrix, class_names)
    return {
        "predictions": (prediction_columns(k), preds),
        "class_accuracy": (columns, classes),
        "confusion": (["true", "predicted", "videos"], pairs),
    }


def ends_of_ranking(rows: list[dict], key: str, n: int = 10, limit: int = 30) -> tuple[list[dict], list[dict]]:
    """Rows sorted by ``key`` (largest first, ties by name) for the console: all of them up to ``limit``,
    else the ``n`` largest and the ``n`` smallest (the CSV files keep every row)."""
    ranked = sorted(rows, key=coefs.rank_key(key))  # ties (at 6 decimals) by class name
    if len(ranked) <= limit:
        return ranked, []
    return ranked[:n], ranked[-n:]


def log_tables(loggers: list, tables: dict, figure: Path | None = None, prefix: str = "test") -> None:
    """The tables as W&B tables (``test/predictions``, ``test/class_accuracy``, ``test/confusion``)
    and the confusion figure as an image (``test/confusion_matrix``)."""
    from pytorch_lightning.loggers import WandbLogger
    from pytorch_lightning.utilities import rank_zero_warn

    for logger in loggers:
        if isinstance(logger, WandbLogger):
            try:
                for name, (columns, rows) in tables.items():
                    logger.log_table(
                        f"{prefix}/{name}", columns=columns, data=[[r.get(c) for c in columns] for r in rows]
                    )
                if figure is not None and Path(figure).is_file():
                    logger.log_image(f"{prefix}/confusion_matrix", images=[str(figure)])
            except Exception as err:  # noqa: BLE001 - the CSV files are written; W&B trouble must not fail the run
                rank_zero_warn(f"could not log the prediction tables to W&B: {err}")
