"""Coefficient figures from rows in the run-directory CSV schemas."""

import csv

import pytest

from cost.analysis import plots
from cost.training.coefficients import CLASS_COLUMNS, CURVE_COLUMNS, LAYER_COLUMNS, read_csv, view_means, write_csv


def layer_rows(num_layers=4):
    rows = []
    for layer in range(1, num_layers + 1):
        hw = 0.8 - 0.1 * layer  # spatial importance falls with depth, as in the paper's Fig. 8
        tw = (1 - hw) * 0.4
        for view, mean in (("hw", hw), ("tw", tw), ("th", 1 - hw - tw)):
            rows.append({"layer": layer, "stage": layer + 1, "unit": 0, "view": view, "mean": mean})
    return rows


def test_read_csv_converts_numbers(tmp_path):
    path = tmp_path / "coefficients.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["layer", "stage", "unit", "view", "mean"])
        writer.writeheader()
        writer.writerows(layer_rows(2))
    rows = read_csv(path)
    assert rows[0] == {"layer": 1, "stage": 2, "unit": 0, "view": "hw", "mean": pytest.approx(0.7)}
    with pytest.raises(FileNotFoundError, match="CoST run directory"):
        read_csv(tmp_path / "nope.csv")


def test_the_writer_and_the_reader_round_trip_every_coefficient_file(tmp_path):
    """What write_csv writes, read_csv gives back typed: ints, strings, floats to 6 decimals."""
    files = {
        "coefficients.csv": (LAYER_COLUMNS, layer_rows(2)),
        "class_coefficients.csv": (
            CLASS_COLUMNS,
            [
                {"class": "12", "hw": 0.5, "tw": 0.25, "th": 0.25, "temporal": 0.5},
                {"class": "b c", "hw": 1 / 3, "tw": 0.6, "th": 0.0, "temporal": 0.6},
            ],
        ),
        "coefficient_curves.csv": (CURVE_COLUMNS, [{"step": 40, "layer": 3, "view": "th", "mean": 0.1234567}]),
    }
    for name, (columns, rows) in files.items():
        write_csv(tmp_path / name, rows, columns)
        back = read_csv(tmp_path / name)
        assert [list(r) for r in back] == [columns] * len(rows)
        for got, want in zip(back, rows, strict=True):
            for key in columns:
                assert type(got[key]) is type(want[key]), (name, key)  # "12" stays a class name
                assert got[key] == (round(want[key], 6) if isinstance(want[key], float) else want[key])


def test_a_csv_of_other_columns_is_refused_with_its_path(tmp_path):
    path = tmp_path / "predictions.csv"
    path.write_text("video,label\na.mp4,3\n")
    with pytest.raises(ValueError, match="predictions.csv"):
        read_csv(path)


def test_view_means_average_over_layers():
    means = view_means(layer_rows(4))
    assert means["hw"] == pytest.approx((0.7 + 0.6 + 0.5 + 0.4) / 4)
    assert sum(means.values()) == pytest.approx(1.0)


def test_layer_figure_stacks_the_three_views(tmp_path):
    fig = plots.plot_layer_coefficients(layer_rows(4), tmp_path / "fig8.png")
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
    fig = plots.plot_class_ranking(rows, tmp_path / "fig7.png", count=5)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 10
    assert labels[-1] == "c29" and labels[0] == "c0"  # most temporal drawn at the top, least at the bottom
    assert set(labels) == {f"c{i}" for i in (0, 1, 2, 3, 4, 25, 26, 27, 28, 29)}


def test_view_means_next_to_the_paper(tmp_path):
    fig = plots.plot_view_means({"moments": layer_rows(4), "synthetic": layer_rows(2)}, tmp_path / "views.png")
    names = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert names == ["moments (ours)", "moments (paper)", "synthetic (ours)"]
    heights = sorted(round(p.get_height(), 2) for p in fig.axes[0].patches)
    assert 0.67 in heights and 0.14 in heights and 0.19 in heights


def test_coefficient_curves(tmp_path):
    rows = [
        {"step": step, "layer": layer, "view": view, "mean": 1 / 3}
        for step in (10, 20, 30)
        for layer in (1, 2)
        for view in ("hw", "tw", "th")
    ]
    fig = plots.plot_coefficient_curves(rows, tmp_path / "curves.png")
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 2]
    assert list(fig.axes[0].lines[0].get_xdata()) == [10, 20, 30]


def test_twenty_five_figures_leave_none_open(tmp_path):
    """A notebook loop over many runs: no pyplot figure stays open (no "More than 20 figures")."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    for i in range(25):
        plots.plot_layer_coefficients(layer_rows(4), title=f"run {i}")  # no path: the notebook case
    plots.plot_view_means({"moments": layer_rows(4)}, tmp_path / "views.png")
    assert plt.get_fignums() == before == []


def test_the_curve_title_clears_the_panel_titles(tmp_path):
    rows = [{"step": s, "layer": 1, "view": v, "mean": 1 / 3} for s in (10, 20) for v in ("hw", "tw", "th")]
    fig = plots.plot_coefficient_curves(rows, tmp_path / "curves.png", title="cost_b_rtiny_synthetic_f8")
    fig.draw_without_rendering()  # the layout, as savefig computed it
    top = fig.texts[0].get_window_extent() if fig.texts else fig._suptitle.get_window_extent()
    for ax in fig.axes:
        panel = ax.title.get_window_extent()
        assert not top.overlaps(panel), (top, panel)


def test_confusion_figure_shows_the_classes_with_most_errors(tmp_path):
    """40 classes: only the 30 with the most errors are drawn, in class order, named."""
    n = 40
    matrix = [[10 if i == j else 0 for j in range(n)] for i in range(n)]
    for i in range(10, n, 2):  # classes 10..39 confused in pairs (10 with 11, ...), 0..9 never
        matrix[i][i + 1] = matrix[i + 1][i] = 1
    names = [f"class {i}" for i in range(n)]
    fig = plots.plot_confusion(matrix, names, tmp_path / "confusion.png", run="cost_b_run")
    ax = fig.axes[0]
    shown = [t.get_text() for t in ax.get_yticklabels()]
    assert len(shown) == 30 and shown == [t.get_text() for t in ax.get_xticklabels()]
    assert shown == [f"class {i}" for i in range(10, 40)]
    assert ax.get_title() == "Confusion matrix: cost_b_run (30 of 40 classes, most errors)"
    assert (tmp_path / "confusion.png").stat().st_size > 1000
