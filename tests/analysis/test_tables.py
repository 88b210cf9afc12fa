"""The results aggregator on run directories laid out as src/run.py writes them."""

import csv
import json

import pytest

from cost.analysis import PAPER, load_runs, results_table, to_markdown
from cost.analysis.__main__ import main


def write_run(root, name, **fields):
    run = root / name
    run.mkdir(parents=True)
    record = {"top1": 0.0, "top5": 0.0, "average": 0.0, "num_videos": 10, "num_views": 100, "skipped_videos": []}
    record.update(fields)
    record["average"] = (record["top1"] + record["top5"]) / 2
    (run / "results.json").write_text(json.dumps(record))
    return run


@pytest.fixture
def sweep(tmp_path):
    common = dict(dataset="moments", depth=50, frames=8, share_weights=True)
    write_run(tmp_path, "c2d", arch="c2d", top1=28.9, top5=55.6, **common)
    write_run(tmp_path, "cost_b_s0", arch="cost_b", top1=31.0, top5=58.0, **common)
    write_run(tmp_path, "cost_b_s1", arch="cost_b", top1=30.0, top5=57.0, **common)
    return tmp_path


def test_paper_averages_match_the_published_ones():
    by = {(p.table, p.dataset, p.arch): p for p in PAPER}
    # Table 2 prints averages rounded half up to one decimal: 42.6 and 82.7
    assert by["2", "moments", "cost_a"].average == pytest.approx(42.55)
    assert by["2", "kinetics", "cost_b"].average == pytest.approx(82.65)


def test_table4_layout_differences_and_seed_averaging(sweep):
    rows = results_table(load_runs([sweep]), "4")
    assert [r["model"] for r in rows] == [
        "R50 C2D 8f",
        "R50 C3D 8f",
        "R50 CoST(b) 8f",
        "R101 C2D 8f",
        "R101 C3D 8f",
        "R101 CoST(b) 8f",
    ]
    c2d, c3d, cost = rows[0], rows[1], rows[2]
    assert c2d["diff_top1"] == pytest.approx(28.9 - 27.9)
    assert c2d["diff_authors_top1"] == pytest.approx(28.9 - 30.17)
    assert cost["runs"] == 2 and cost["ours_top1"] == pytest.approx(30.5)
    assert cost["diff_average"] == pytest.approx((30.5 + 57.5) / 2 - (30.1 + 57.2) / 2)
    assert c3d["runs"] == 0 and c3d["ours_top1"] is None and c3d["paper_top1"] == 29.0
    md = to_markdown(rows)
    assert "| moments | R50 CoST(b) 8f | 2 | 30.5 | 30.1 | +0.4 |" in md


def test_cli_writes_markdown_and_csv(sweep, tmp_path, capsys):
    out = tmp_path / "tables"
    main(["table", str(sweep), "--table", "4", "--out", str(out)])
    assert "Table 4" in capsys.readouterr().out
    with open(out / "table4.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and rows[0]["model"] == "R50 C2D 8f"


def test_incomplete_results_name_the_file(tmp_path):
    bad = tmp_path / "run"
    bad.mkdir()
    (bad / "results.json").write_text(json.dumps({"top1": 1.0}))
    with pytest.raises(ValueError, match=r"results.json lacks top5"):
        load_runs([tmp_path])
    with pytest.raises(FileNotFoundError, match="no run or sweep directory"):
        load_runs([tmp_path / "missing"])
