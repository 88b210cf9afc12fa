"""Coefficient figures from rows in the run-directory CSV schemas."""

from cost.analysis import plots
from tests.helpers.results import layer_rows


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
