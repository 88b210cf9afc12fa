"""The results aggregator on run directories laid out as src/run.py writes them."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cost.analysis import PAPER, load_runs, results_table, to_markdown
from cost.analysis.__main__ import main
from cost.analysis.tables import retest_rows
from cost.results import run_type

SRC = Path(__file__).resolve().parents[2] / "src"


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
    assert "| moments | R50 CoST(b) 8f | 10 | 2 | 30.5 | 30.1 | +0.4 |" in md


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


MOMENTS_R50_COST = dict(dataset="moments", depth=50, arch="cost_b", frames=8, share_weights=True)


def test_a_retest_is_listed_apart_never_averaged_as_a_seed(tmp_path):
    """Two seeds and two eval.py re-tests of the same configuration and views: the row is
    the mean of the two training runs; the re-tests (one with run_type, one older file
    without it) are listed apart."""
    ckpt = str(tmp_path / "s0" / "checkpoints" / "best.ckpt")
    write_run(tmp_path, "s0", top1=31.0, top5=58.0, run_type="train", checkpoint=ckpt, **MOMENTS_R50_COST)
    # before run_type: a training run records its global_step and recipe
    write_run(tmp_path, "s1", top1=30.0, top5=57.0, checkpoint=ckpt, global_step=40, recipe={}, **MOMENTS_R50_COST)
    write_run(tmp_path, "eval_s0_10x1", top1=20.0, top5=40.0, checkpoint=ckpt, **MOMENTS_R50_COST)
    write_run(tmp_path, "retest_last", top1=10.0, top5=30.0, run_type="retest", checkpoint=ckpt, **MOMENTS_R50_COST)
    runs = load_runs([tmp_path])
    (row,) = [r for r in results_table(runs, "4") if r["runs"]]
    assert (row["model"], row["views"], row["runs"]) == ("R50 CoST(b) 8f", 10, 2)
    assert row["ours_top1"] == pytest.approx(30.5) and row["ours_top5"] == pytest.approx(57.5)
    retests = retest_rows(runs, "4")
    assert [(Path(r["run_dir"]).name, r["top1"]) for r in retests] == [("eval_s0_10x1", 20.0), ("retest_last", 10.0)]
    assert all(r["checkpoint"] == ckpt for r in retests)
    (ours,) = results_table(runs)  # without --table too
    assert ours["runs"] == 2 and ours["ours_top1"] == pytest.approx(30.5)


def test_run_type_of_files_without_the_field():
    assert run_type({"checkpoint": "x.ckpt"}, "/r/cost_b_r50_moments_f8") == "retest"
    assert run_type({"checkpoint": "x.ckpt", "global_step": 4}, "/r/eval_cost_b_r50_moments_f8_10x3") == "retest"
    assert run_type({"checkpoint": "x.ckpt", "global_step": 4}, "/r/cost_b_r50_moments_f8") == "train"
    assert run_type({"checkpoint": None, "recipe": {}}, "/r/run") == "train"
    assert run_type({"run_type": "train"}, "/r/eval_named_by_hand") == "train"


def test_test_views_are_separate_rows(tmp_path):
    """10 clips x 1 crop and 4 clips x 3 crops of the same model are two rows, not two seeds."""
    write_run(tmp_path, "v10", top1=31.0, top5=58.0, views_per_video=10, num_views=100, **MOMENTS_R50_COST)
    write_run(tmp_path, "v12", top1=33.0, top5=60.0, views_per_video=12, num_views=120, **MOMENTS_R50_COST)
    rows = [r for r in results_table(load_runs([tmp_path]), "4") if r["model"] == "R50 CoST(b) 8f"]
    assert [(r["views"], r["runs"], r["ours_top1"]) for r in rows] == [(10, 1, 31.0), (12, 1, 33.0)]
    assert all(r["paper_top1"] == 30.1 for r in rows)
    ours = results_table(load_runs([tmp_path]))
    assert [(r["views"], r["runs"]) for r in ours] == [(10, 1), (12, 1)]


def test_cli_lists_the_runs_that_match_no_row(sweep):
    """A Kinetics run has no row in Table 4 (Moments): the command says so and names its file."""
    kinetics = write_run(
        sweep, "kinetics_run", arch="cost_b", dataset="kinetics", depth=50, frames=8, share_weights=True
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    p = subprocess.run(
        [sys.executable, "-m", "cost.analysis", "table", str(sweep), "--table", "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert "1 results.json file(s) matched no row:" in p.stdout
    assert f"- {kinetics / 'results.json'}" in p.stdout
    assert "| moments | R50 CoST(b) 8f | 10 | 2 | 30.5 |" in p.stdout
    p = subprocess.run(
        [sys.executable, "-m", "cost.analysis", "table", str(sweep)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "0 results.json file(s) matched no row." in p.stdout and "kinetics" in p.stdout


def test_view_importance_takes_the_longest_trained_cost_b_run_per_dataset():
    """The overall view-importance plot stands for CoST(b): a CoST(a) or C2D run listed first, or
    a re-test, never takes its place; the figure names model and run."""
    from cost.analysis.tables import run_title, view_importance_runs

    def rec(arch, dataset, step, name, run_type="train"):
        return {
            "arch": arch,
            "dataset": dataset,
            "depth": "tiny",
            "share_weights": True,
            "frames": 8,
            "global_step": step,
            "run_dir": f"/runs/{name}",
            "run_type": run_type,
        }

    runs = [
        rec("cost_a", "moments", 900, "a_moments"),
        rec("c2d", "moments", 900, "c2d_moments"),
        rec("cost_b", "moments", 100, "b_short"),
        rec("cost_b", "moments", 300, "b_long"),
        rec("cost_b", "moments", 900, "eval_b_long_best_1x1", "retest"),
        rec("cost_a", "kinetics", 900, "a_kinetics"),
    ]
    chosen = view_importance_runs(runs)
    assert {d: r["run_dir"] for d, r in chosen.items()} == {"moments": "/runs/b_long"}
    assert run_title(chosen["moments"]) == "tiny CoST(b) 8f, b_long (step 300)"
