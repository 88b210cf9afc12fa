"""Coefficient figures in the style of the paper (Sec. 4.5, Figures 7 and 8).

Every function takes rows as ``cost.training.coefficients.read_csv`` reads them from the run
directory's CSV files (docs/run-directory.md), draws one figure and returns it, saved as PNG
when given a path. The figures are plain ``matplotlib.figure.Figure`` objects that pyplot never
holds, so any number of them leaves no figure open ("More than 20 figures opened"); a notebook
shows one with ``display(fig)``. Constrained layout keeps titles clear of each other.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure

from cost.models.cost_op import VIEWS
from cost.training.coefficients import layer_means, rank_key, view_means

from .paper import PAPER_VIEW_MEANS

VIEW_LABELS = {"hw": "H-W (spatial)", "tw": "T-W", "th": "T-H"}
VIEW_COLORS = {"hw": "#4c72b0", "tw": "#dd8452", "th": "#55a868"}


def _figure(width: float, height: float, **subplots):
    """A figure outside pyplot (nothing to close) and its axes."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(**subplots)


def _save(fig, path):
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def plot_layer_coefficients(rows: list[dict], path=None, title: str = "View importance per CoST layer"):
    """Figure 8: per layer (network depth), the three views' mean coefficients, stacked."""
    layers = layer_means(rows)
    fig, ax = _figure(6.5, 3.6)
    xs = list(layers)
    bottom = [0.0] * len(xs)
    for view in VIEWS:
        values = [layers[layer][view] for layer in xs]
        ax.bar(xs, values, bottom=bottom, color=VIEW_COLORS[view], label=VIEW_LABELS[view])
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(xs)
    ax.set_xlabel("CoST layer (shallow to deep)")
    ax.set_ylabel("mean coefficient")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def plot_class_ranking(
    rows: list[dict], path=None, count: int = 10, title: str = "Temporal importance per class", note: str | None = None
):
    """Figure 7: classes ranked by T-W + T-H importance, the top and the bottom ``count``.
    Equal values (at 6 decimals) are ties, shown in name order; ``note`` goes under the plot."""
    ranked = sorted(rows, key=rank_key("temporal"))
    shown = ranked if len(ranked) <= 2 * count else ranked[:count] + ranked[-count:]
    fig, ax = _figure(6.5, 0.28 * len(shown) + 1.2)
    names = [r["class"] for r in shown][::-1]
    values = [r["temporal"] for r in shown][::-1]
    colors = ["#c44e52" if r in ranked[:count] else "#8172b2" for r in shown][::-1]
    ax.barh(range(len(shown)), values, color=colors)
    ax.set_yticks(range(len(shown)), names, fontsize=8)
    ax.set_xlabel("temporal importance (T-W + T-H mean coefficient)")
    ax.set_title(title)
    if note:
        fig.text(0.0, -0.02, note, ha="left", va="top", fontsize=7, color="#c44e52", wrap=True)
    return _save(fig, path)


def plot_class_layer_heatmap(rows: list[dict], path=None, key: str = "temporal", title: str | None = None):
    """class_layer_coefficients.csv as a classes x layers heatmap of ``key`` (T-W + T-H by
    default). Classes in name order: the row order carries no ranking. Values are coloured as
    shown, at 3 decimals, on a scale at least 0.01 wide, so equal-looking cells look equal."""
    classes = sorted({r["class"] for r in rows})
    layers = sorted({r["layer"] for r in rows})
    value = {(r["class"], r["layer"]): round(r[key], 3) for r in rows}
    grid = [[value.get((c, la), float("nan")) for la in layers] for c in classes]
    lo, hi = min(value.values()), max(value.values())
    if hi - lo < 0.01:
        lo, hi = (lo + hi) / 2 - 0.005, (lo + hi) / 2 + 0.005
    fig, ax = _figure(1.0 * len(layers) + 3, 0.3 * len(classes) + 1.4)
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=lo, vmax=hi)
    if len(classes) * len(layers) <= 400:
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=6, color="white")
    ax.set_xticks(range(len(layers)), [str(la) for la in layers])
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("CoST layer (shallow to deep)")
    fig.colorbar(im, ax=ax, label=f"mean {key} coefficient")
    ax.set_title(title or f"{key} coefficient per class and layer")
    return _save(fig, path)


def plot_view_reliance(rows: list[dict], path=None, title: str = "Top-1 per class under each condition"):
    """view_reliance.csv: each class's top-1 under every condition, classes in the given order."""
    classes = list(dict.fromkeys(r["class"] for r in rows))
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    top1 = {(r["class"], r["condition"]): r["top1"] for r in rows}
    fig, ax = _figure(0.45 * len(classes) * max(1, len(conditions) / 3) + 2.5, 3.8)
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
    return _save(fig, path)


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
    fig, ax = _figure(1.3 * len(entries) + 2, 3.4)
    width = 0.8 / 3
    for j, view in enumerate(VIEWS):
        xs = [i + (j - 1) * width for i in range(len(entries))]
        ax.bar(xs, [e[1][view] for e in entries], width, color=VIEW_COLORS[view], label=VIEW_LABELS[view])
    ax.set_xticks(range(len(entries)), [e[0] for e in entries], fontsize=8)
    ax.set_ylabel("mean coefficient")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def plot_coefficient_curves(rows: list[dict], path=None, title: str = "Coefficients during training"):
    """coefficient_curves.csv: each view's mean per layer against the training step."""
    layers = sorted({r["layer"] for r in rows})
    fig, axes = _figure(11, 3.4, ncols=3, sharey=True)
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
    return _save(fig, path)


def plot_confusion(matrix: list[list[int]], names: list[str], path=None, run: str = "", top: int = 30):
    """confusion.csv as a heat map, true class down, top-1 class across. With more than ``top``
    classes only the ``top`` with the most errors (missed plus wrongly predicted videos; then the
    most videos) are drawn, in class order; the title says how many of how many."""
    n = len(names)
    errors = [sum(matrix[i]) + sum(row[i] for row in matrix) - 2 * matrix[i][i] for i in range(n)]
    shown = sorted(sorted(range(n), key=lambda i: (-errors[i], -sum(matrix[i]), i))[:top]) if n > top else range(n)
    shown = list(shown)
    sub = [[matrix[i][j] for j in shown] for i in shown]
    size = 0.28 * len(shown) + 2.5
    fig, ax = _figure(size + 1.0, size)
    image = ax.imshow(sub, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8, label="videos")
    labels = [names[i] for i in shown]
    ax.set_xticks(range(len(shown)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(shown)), labels, fontsize=7)
    ax.set_xlabel("predicted (top-1)")
    ax.set_ylabel("true class")
    which = f"{len(shown)} of {n} classes, most errors" if len(shown) < n else f"{n} classes"
    ax.set_title(f"Confusion matrix: {run} ({which})" if run else f"Confusion matrix ({which})", fontsize=9)
    return _save(fig, path)
