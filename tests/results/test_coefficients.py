"""The coefficient statistics and the typed CSV files of a run directory (cost.results.coefficients)."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from cost.results import coefficients as coefs
from cost.results import figures
from cost.results.coefficients import CLASS_COLUMNS, CURVE_COLUMNS, LAYER_COLUMNS, read_csv, view_means, write_csv
from tests.helpers.results import layer_rows


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


def test_spearman_and_the_magnitude_warning():
    assert coefs.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert coefs.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties share their mean rank: ranks (1.5, 1.5, 3) against (1, 2, 3)
    assert coefs.spearman([5, 5, 7], [1, 2, 3]) == pytest.approx(0.8660254, abs=1e-6)
    assert math.isnan(coefs.spearman([1, 1, 1], [1, 2, 3]))
    rows = [
        {"class": c, "layer": la, "temporal": t, "magnitude": m}
        for c, t, m in (("a", 0.5, 1.0), ("b", 0.6, 2.0), ("c", 0.7, 3.0), ("d", 0.4, 0.5))
        for la in (1, 2)
    ]
    rho = coefs.magnitude_correlation(rows)
    assert rho == pytest.approx(1.0)
    warning = coefs.magnitude_warning(rho)
    assert warning and "Spearman +1.00" in warning and "|rho| > 0.7" in warning
    assert coefs.magnitude_warning(0.7) is None and coefs.magnitude_warning(-0.71) is not None
    assert coefs.magnitude_warning(float("nan")) is None
    fig = figures.plot_class_ranking([{"class": "a", "temporal": 0.5}], note=warning)
    assert warning in [t.get_text() for t in fig.texts]  # the Fig. 7 caption


def test_class_rows_of_a_single_layer():
    coef = torch.tensor([[[0.5, 0.25, 0.25]], [[0.25, 0.5, 0.25]], [[0.0, 0.0, 1.0]]])  # 3 videos x 1 layer
    rows = coefs.class_rows(coef, torch.tensor([1, 0, 1]), ["a", "b"])
    assert rows == [
        {"class": "a", "hw": 0.25, "tw": 0.5, "th": 0.25, "temporal": 0.75},
        {"class": "b", "hw": 0.25, "tw": 0.125, "th": 0.625, "temporal": 0.75},
    ]


def test_write_csv_formats_replaces_appends_and_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "new" / "dir" / "t.csv"  # parents are created
    coefs.write_csv(path, [{"step": 1, "mean": 1 / 3}], ["step", "mean"])
    assert path.read_bytes() == b"step,mean\r\n1,0.333333\r\n"  # csv's line ends, floats with 6 decimals
    coefs.write_csv(path, [{"step": 2, "mean": 0.5}], ["step", "mean"])  # not append: replaces
    assert coefs.read_csv(path) == [{"step": 2, "mean": 0.5}]
    coefs.write_csv(path, [{"step": 3, "mean": 0.25}], ["step", "mean"], append=True)
    assert coefs.read_csv(path) == [{"step": 2, "mean": 0.5}, {"step": 3, "mean": 0.25}]
    (path.parent / ".t.csv.tmp").write_text("stale,rows\r\nof,a killed writer\r\n")
    with pytest.raises(KeyError):  # the second row misses a column: the old file must survive
        coefs.write_csv(path, [{"step": 4, "mean": 0.0}, {"step": 5}], ["step", "mean"])
    assert coefs.read_csv(path) == [{"step": 2, "mean": 0.5}, {"step": 3, "mean": 0.25}]
    coefs.write_csv(path, [{"step": 6, "mean": 0.0}], ["step", "mean"])  # a stale temporary file is not reused
    assert path.read_bytes() == b"step,mean\r\n6,0.000000\r\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.csv"]


def test_a_class_name_with_a_line_break_reads_back_unchanged(tmp_path):
    """csv quotes a field holding "\\r\\n"; the reader must not turn it into "\\n" (universal newlines)."""
    path = tmp_path / "class_coefficients.csv"
    row = {"class": "two\r\nlines", "hw": 0.5, "tw": 0.25, "th": 0.25, "temporal": 0.5}
    coefs.write_csv(path, [row], coefs.CLASS_COLUMNS)
    assert coefs.read_csv(path) == [row]
