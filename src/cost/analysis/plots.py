"""Coefficient figures in the style of the paper (Sec. 4.5, Figures 7 and 8): the ones a test
writes (``cost.results.figures``, re-exported here) and the analysis' own (view reliance,
overall view importance next to the paper, coefficients during training).

Every function takes rows as ``cost.results.coefficients.read_csv`` reads them from the run
directory's CSV files (docs/run-directory.md), draws one figure and returns it, saved as PNG
when given a path (``cost.results.figures`` says why the figures stay outside pyplot).
"""

from __future__ import annotations

from matplotlib import colormaps

from cost.models.cost_op import VIEWS
from cost.results.coefficients import view_means
from cost.results.figures import (
    VIEW_COLORS,
    VIEW_LABELS,
    new_figure,
    plot_class_layer_heatmap,
    plot_class_ranking,
    plot_confusion,
    plot_layer_coefficients,
    save_figure,
)

from .paper import PAPER_VIEW_MEANS


def plot_view_reliance(rows: list[dict], path=None, title: str = "Top-1 per class under each condition"):
    """view_reliance.csv: each class's top-1 under every condition, classes in the given order."""
    classes = list(dict.fromkeys(r["class"] for r in rows))
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    top1 = {(r["class"], r["condition"]): r["top1"] for r in rows}
    fig, ax = new_figure(0.45 * len(classes) * max(1, len(conditions) / 3) + 2.5, 3.8)
    width = 0.8 / len(conditions)
    cmap = colormaps["tab10"]
    for k, cond in enumerate(conditions):
        xs = [i + (k - (len(conditions) - 1) / 2) * width for i in range(len(classes))]
        ax.bar(xs, [top1.get((c, cond), float("nan")) for c in classes], width, color=cmap(k), label=cond)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("top-1 %")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title)
    return save_figure(fig, path)


def plot_view_means(
    datasets: dict[str, list[dict]], path=None, title: str = "Overall view importance", runs: dict | None = None
):
    """Our mean importance of each view per dataset next to the paper's (Sec. 4.5); ``runs``
    names, per dataset, the model and run of our bar (below its label)."""
    entries = []
    for name, rows in datasets.items():
        shown = f"\n{runs[name]}" if runs and name in runs else ""
        entries.append((f"{name} (ours){shown}", view_means(rows)))
        if name in PAPER_VIEW_MEANS:
            entries.append((f"{name} (paper)", dict(zip(VIEWS, PAPER_VIEW_MEANS[name]))))
    fig, ax = new_figure(1.3 * len(entries) + 2, 3.4)
    width = 0.8 / 3
    for j, view in enumerate(VIEWS):
        xs = [i + (j - 1) * width for i in range(len(entries))]
        ax.bar(xs, [e[1][view] for e in entries], width, color=VIEW_COLORS[view], label=VIEW_LABELS[view])
    ax.set_xticks(range(len(entries)), [e[0] for e in entries], fontsize=8)
    ax.set_ylabel("mean coefficient")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return save_figure(fig, path)


def plot_coefficient_curves(rows: list[dict], path=None, title: str = "Coefficients during training"):
    """coefficient_curves.csv: each view's mean per layer against the training step."""
    layers = sorted({r["layer"] for r in rows})
    fig, axes = new_figure(11, 3.4, ncols=3, sharey=True)
    cmap = colormaps["viridis"].resampled(max(len(layers), 2))
    for ax, view in zip(axes, VIEWS):
        for k, layer in enumerate(layers):
            points = sorted((r["step"], r["mean"]) for r in rows if r["layer"] == layer and r["view"] == view)
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            ax.plot(xs, ys, color=cmap(k), marker="o", markersize=3, label=f"layer {layer}")
        ax.set_title(VIEW_LABELS[view])
        ax.set_xlabel("step")
    axes[0].set_ylabel("mean coefficient")
    axes[-1].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    return save_figure(fig, path)


__all__ = [
    "VIEW_COLORS",
    "VIEW_LABELS",
    "plot_class_layer_heatmap",
    "plot_class_ranking",
    "plot_coefficient_curves",
    "plot_confusion",
    "plot_layer_coefficients",
    "plot_view_means",
    "plot_view_reliance",
]
