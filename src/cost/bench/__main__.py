"""``python -m cost.bench ops|model|data|feed [--rounds N] [--out DIR]``: print tables, write JSON.

``feed`` runs only when named (it generates videos and trains): ``python -m cost.bench feed
[--quick] [--workers N]`` writes bench_results/feed.json.
"""

from __future__ import annotations

import argparse
import importlib

from cost.bench import write_json

SUITES = ("ops", "model", "data", "feed")
DEFAULT_SUITES = ("ops", "model", "data")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cost.bench", description=__doc__)
    parser.add_argument(
        "suites",
        nargs="*",
        choices=SUITES,
        default=list(DEFAULT_SUITES),
        help="which benchmarks (default: ops model data)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per candidate (median reported)")
    parser.add_argument("--out", default="bench_results", help="directory for the JSON files")
    parser.add_argument("--compile", action="store_true", help="model: also time torch.compile (slow to compile)")
    parser.add_argument("--quick", action="store_true", help="feed: the small CPU preset (a few minutes)")
    parser.add_argument("--workers", type=int, default=None, help="feed: loader workers (default: cores - 1)")
    parser.add_argument(
        "--no-extras",
        action="store_true",
        help="feed: on a GPU, time only the eager model (skip fp32, channels_last_3d, compile)",
    )
    parser.add_argument(
        "--keyints",
        default="250,16,1",
        help="feed: keyframe intervals of the generated videos (comma-separated; 250 required)",
    )
    args = parser.parse_args(argv)
    for suite in args.suites:
        module = importlib.import_module(f"cost.bench.{suite}")
        kwargs = {} if args.rounds is None else {"rounds": args.rounds}
        if suite == "model":
            kwargs["compile"] = args.compile
        if suite == "feed":
            results = module.run(
                quick=args.quick,
                workers=args.workers,
                gpu_extras=not args.no_extras,
                keyints=args.keyints.split(","),
                **kwargs,
            )
            write_json(f"{args.out}/feed.json", {"suite": suite, **results})
            continue
        results = module.run(**kwargs)
        write_json(f"{args.out}/{suite}.json", {"suite": suite, "results": results})


if __name__ == "__main__":
    main()
