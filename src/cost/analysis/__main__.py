"""``python -m cost.analysis table RUN_OR_SWEEP_DIR... [--table N] [--out DIR]``
``python -m cost.analysis compare RUN_A RUN_B [--top N] [--metric top1|top5]``
``python -m cost.analysis notebooks [--runs DIR...] [--out DIR]``

``table`` prints a markdown table of our training runs next to the paper's and the authors'
numbers (one row per configuration and test views, seeds averaged), then eval.py re-tests
apart and the results.json files that matched no row, and writes it (and a CSV) to ``--out``.
``compare`` lists the classes whose test accuracy differs most between two runs (their
class_accuracy.csv). ``notebooks`` executes notebooks/coefficients.ipynb and results.ipynb
on the runs (default: COST_RUNS, else outputs/runs) into ``--out`` (default outputs/notebooks).
``views RUN_DIR [--ckpt best|last|PATH] [--ablate hw_only,temporal_only] [--layers all|1,2,...]
[--controls reversed,static]`` re-tests a CoST run with views zeroed or the clips' motion
removed, and writes RUN_DIR/analysis/view_reliance.csv (docs/method.md#what-the-coefficients-mean).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .paper import TABLES
from .tables import (
    load_runs,
    results_table,
    retest_rows,
    retests_markdown,
    table_title,
    to_csv,
    to_markdown,
    unmatched,
)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cost.analysis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    table = sub.add_parser("table", help="aggregate results.json files into a paper-style table")
    table.add_argument("runs", nargs="+", help="run directories, sweep directories or results.json files")
    table.add_argument("--table", choices=sorted(TABLES), default=None, help="lay out as this paper table")
    table.add_argument("--out", default=None, help="directory for results_table.md and results_table.csv")
    compare = sub.add_parser("compare", help="classes whose accuracy differs most between two runs")
    compare.add_argument("run_a", help="run directory (or its class_accuracy.csv), e.g. the C2D run")
    compare.add_argument("run_b", help="run directory to compare with it, e.g. the CoST(b) run")
    compare.add_argument("--top", type=int, default=10, help="classes shown each way")
    compare.add_argument("--metric", choices=("top1", "top5"), default="top1")
    notebooks = sub.add_parser("notebooks", help="execute the analysis notebooks on finished runs")
    default_runs = os.environ.get("COST_RUNS", "outputs/runs").split(os.pathsep)
    notebooks.add_argument("--runs", nargs="+", default=default_runs, help="run or sweep directories")
    notebooks.add_argument("--out", default="outputs/notebooks", help="directory for the executed notebooks")
    views = sub.add_parser("views", help="per-class top-1 with views zeroed and motion removed (a CoST run)")
    views.add_argument("run_dir", help="a finished run directory (its config.yaml, results.json, checkpoints/)")
    views.add_argument("--ckpt", default=None, help="best, last or a path (default: the one results.json tested)")
    views.add_argument("--ablate", default="hw_only,temporal_only", help="hw_only,temporal_only or none")
    views.add_argument("--layers", default="all", help="the CoST layers an ablation zeroes: all or e.g. 1,2")
    views.add_argument("--controls", default="reversed,static", help="reversed,static or none")
    views.add_argument("--accelerator", default=None, help="cpu, gpu or auto (default: the run's)")
    args = parser.parse_args(argv)
    if args.command == "notebooks":
        from .notebooks import execute

        execute([Path(p) for p in args.runs], Path(args.out))
        return
    if args.command == "views":
        from . import views as view_analysis

        try:
            ablate = view_analysis.parse_names(args.ablate, view_analysis.ABLATIONS, "--ablate")
            controls = view_analysis.parse_names(args.controls, view_analysis.CONTROLS, "--controls")
            view_analysis.run(args.run_dir, args.ckpt, ablate, controls, args.layers, args.accelerator)
        except (ValueError, FileNotFoundError) as err:
            parser.exit(2, f"python -m cost.analysis views: {err}\n")
        return
    if args.command == "compare":
        from .compare import class_differences
        from .compare import to_markdown as compare_markdown

        rows = class_differences(args.run_a, args.run_b, args.metric)
        print(compare_markdown(rows, args.run_a, args.run_b, args.top, args.metric))
        return

    runs = load_runs(args.runs)
    if not runs:
        parser.error(f"no results.json under {', '.join(args.runs)}: have the runs finished?")
    rows = results_table(runs, args.table)
    markdown = to_markdown(rows, table_title(args.table))
    retests = retest_rows(runs, args.table)
    if retests:
        markdown += "\n\n" + retests_markdown(retests)
    left_out = unmatched(runs, args.table)
    markdown += f"\n\n{len(left_out)} results.json file(s) matched no row" + (":" if left_out else ".")
    markdown += "".join(f"\n- {path}" for path in left_out)
    print(markdown)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"table{args.table}" if args.table else "results_table"
        (out / f"{stem}.md").write_text(markdown + "\n")
        to_csv(rows, out / f"{stem}.csv")
        print(f"\nwrote {out / stem}.md and .csv")


if __name__ == "__main__":
    main()
