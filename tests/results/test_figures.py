"""The figures a test writes to figures/ (cost.results.figures), from rows in the run-directory CSV schemas."""

from __future__ import annotations

import pytest

from cost.results import figures

from .test_coefficients import layer_rows


def test_layer_figure_stacks_the_three_views(tmp_path):
    fig = figures.plot_layer_coefficients(layer_rows(4), tmp_path / "fig8.png")
    bars = fig.axes[0].patches
    assert len(bars) == 12
    tops = {}
    for bar in bars:
        x = round(bar.get_x() + bar.get_width() / 2)
        tops[x] = max(tops.get(x, 0), bar.get_y() + bar.get_height())
    assert tops == {1: pytest.approx(1), 2: pytest.approx(1), 3: pytest.approx(1), 4: pytest.approx(1)}
    assert (tmp_path / "fig8.png").stat().st_size > 1000


def test_class_ranking_shows_top_and_bottom(tmp_path):
    rows = [{"class": f"c{i}", "hw": 1 - i / 40, "tw": i / 80, "th": i / 80, "temporal": i / 40} for i in range(30)]
    fig = figures.plot_class_ranking(rows, tmp_path / "fig7.png", count=5)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 10
    assert labels[-1] == "c29" and labels[0] == "c0"  # most temporal drawn at the top, least at the bottom
    assert set(labels) == {f"c{i}" for i in (0, 1, 2, 3, 4, 25, 26, 27, 28, 29)}


def test_confusion_figure_shows_the_classes_with_most_errors(tmp_path):
    """40 classes: only the 30 with the most errors are drawn, in class order, named."""
    n = 40
    matrix = [[10 if i == j else 0 for j in range(n)] for i in range(n)]
    for i in range(10, n, 2):  # classes 10..39 confused in pairs (10 with 11, ...), 0..9 never
        matrix[i][i + 1] = matrix[i + 1][i] = 1
    names = [f"class {i}" for i in range(n)]
    fig = figures.plot_confusion(matrix, names, tmp_path / "confusion.png", run="cost_b_run")
    ax = fig.axes[0]
    shown = [t.get_text() for t in ax.get_yticklabels()]
    assert len(shown) == 30 and shown == [t.get_text() for t in ax.get_xticklabels()]
    assert shown == [f"class {i}" for i in range(10, 40)]
    assert ax.get_title() == "Confusion matrix: cost_b_run (30 of 40 classes, most errors)"
    assert (tmp_path / "confusion.png").stat().st_size > 1000
