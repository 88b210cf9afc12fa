"""Run a sweep locally, one job after another, each job its own process (and DDP tree).

Hydra's ``-m`` with its basic launcher runs every job inside one process, which Lightning's
DDP cannot do (each rank would re-run the sweep). This driver expands the same sweep, the
``hydra.sweeper.params`` of an experiment plus any ``key=a,b`` overrides, and starts
``python -m cost.run`` once per combination.

    python -m cost.sweep experiment=table4_moments trainer.devices=8
    python -m cost.sweep experiment=mini_reproduction --dry-run
    python -m cost.sweep experiment=table5_kinetics --estimate      # GPU-hours, runs nothing

(``python experiments/sweep.py`` is the same command.)
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import subprocess
import sys
import time

from cost.training.config import CONFIG_DIR, NUMERIC_GROUPS, REPO_ROOT, quote_numeric_choices, register_resolvers


def compose_config(overrides: list[str], return_hydra_config: bool = False):
    """The ``cost.run`` config for these (already quoted) overrides, composed outside a Hydra run."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=return_hydra_config)


def expand(overrides: list[str]) -> list[list[str]]:
    """Every job's override list: fixed overrides + one value of each swept key."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    register_resolvers()
    parser = OverridesParser.create()
    parsed = parser.parse_overrides(quote_numeric_choices(overrides))
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    swept = {o.get_key_element(): o for o in parsed if o.is_sweep_override()}

    cfg = compose_config(fixed, return_hydra_config=True)
    params = dict(cfg.hydra.sweeper.get("params") or {})
    for key, value in params.items():  # the experiment's sweep, unless the command line sweeps the key
        if key not in swept and not any(o.get_key_element() == key for o in parsed):
            swept[key] = parser.parse_overrides(quote_numeric_choices([f"{key}={value}"]))[0]

    axes = []
    for key, override in swept.items():
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        if key in NUMERIC_GROUPS:  # cost.run quotes frames=32 itself
            values = [v.strip("'") for v in values]
        axes.append([f"{key}={v}" for v in values])
    return [fixed + list(combo) for combo in itertools.product(*axes)] if axes else [fixed]


def training_cost(job: list[str], tflops: float) -> dict:
    """A job's training compute, estimated from its config: forward MACs per clip (torch's
    counter, meta device) x 3 for forward and backward x clips per step x max_steps.
    Data loading, evaluation and communication are not included."""
    import torch

    from cost.models.factory import build_net
    from cost.models.summary import count_macs

    cfg = compose_config(quote_numeric_choices(job))
    model_cfg = {**cfg.model, "pretrained": None, "compile": False}
    with torch.device("meta"):
        net = build_net(model_cfg, num_classes=400)  # the classifier is < 0.01 % of the MACs
    macs = count_macs(net, int(cfg.data.num_frames), int(cfg.data.train_crop))
    devices = cfg.trainer.devices if isinstance(cfg.trainer.devices, int) else 1
    clips = int(cfg.data.batch_size) * devices * int(cfg.trainer.num_nodes) * int(cfg.trainer.accumulate_grad_batches)
    flops = 3 * 2 * macs * clips * int(cfg.trainer.max_steps)
    return {
        "name": cfg.name,
        "GMAC": macs / 1e9,
        "clips_per_step": clips,
        "steps": int(cfg.trainer.max_steps),
        "EFLOP": flops / 1e18,
        "gpu_hours": flops / (tflops * 1e12) / 3600,
    }


def print_estimates(jobs: list[list[str]], tflops: float) -> None:
    rows = [training_cost(job, tflops) for job in jobs]
    print(f"| run | GMAC/clip | clips/step | steps | training EFLOP | GPU-hours at {tflops:g} TFLOP/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['name']} | {r['GMAC']:.1f} | {r['clips_per_step']} | {r['steps']:,} | {r['EFLOP']:.2f} "
            f"| {r['gpu_hours']:,.0f} |"
        )
    print(f"| total | | | | {sum(r['EFLOP'] for r in rows):.2f} | {sum(r['gpu_hours'] for r in rows):,.0f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides; key=a,b sweeps")
    ap.add_argument("--dry-run", action="store_true", help="print the jobs and exit")
    ap.add_argument("--keep-going", action="store_true", help="run the remaining jobs after a failure")
    ap.add_argument(
        "--estimate",
        nargs="?",
        type=float,
        const=10.0,
        metavar="TFLOPS",
        help="print each job's training compute and GPU-hours at this sustained rate "
        "per GPU (default 10 TFLOP/s) and exit",
    )
    args = ap.parse_args(argv)

    jobs = expand(args.overrides)
    if args.estimate is not None:
        print_estimates(jobs, args.estimate)
        return 0
    print(f"{len(jobs)} job(s)")
    failed = []
    for i, job in enumerate(jobs, 1):
        command = [sys.executable, "-m", "cost.run", *job]
        print(f"[{i}/{len(jobs)}] python {shlex.join(command[1:])}", flush=True)
        if args.dry_run:
            continue
        start = time.time()
        code = subprocess.call(command, cwd=REPO_ROOT)
        print(f"[{i}/{len(jobs)}] exit {code} after {time.time() - start:.0f} s", flush=True)
        if code != 0:
            failed.append(job)
            if not args.keep_going:
                break
    if failed:
        print("failed jobs:\n" + "\n".join("  " + shlex.join(j) for j in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
