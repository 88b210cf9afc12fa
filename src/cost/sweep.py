"""Run a sweep locally, one job after another, each job its own process (and DDP tree).

Hydra's ``-m`` with its basic launcher runs every job inside one process, which Lightning's
DDP cannot do (each rank would re-run the sweep). This driver expands the same sweep, the
``hydra.sweeper.params`` of an experiment plus any ``key=a,b`` overrides, and starts
``python -m cost.run`` once per combination.

A job is done when it exits 0 and its run directory holds a finished training run (a
results.json it wrote, at trainer.max_steps; ``cost.results``). The first job that is not done
stops the sweep (``--keep-going``: only the jobs that fine-tune from it are skipped); a
32-frame job starts only from a finished 8-frame run. The sweep ends with one line per job
(done / failed / skipped, and why) and exits 1 unless every job is done.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from omegaconf import OmegaConf

from cost.results import stamp, steps_to_finish, unfinished
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
    fixed = [cast(str, o.input_line) for o in parsed if not o.is_sweep_override()]  # parsed from strings
    swept = {o.get_key_element(): o for o in parsed if o.is_sweep_override()}

    cfg = compose_config(fixed, return_hydra_config=True)
    params = dict(cfg.hydra.sweeper.get("params") or {})
    for key, value in params.items():  # the experiment's sweep, unless the command line sweeps the key
        if key not in swept and not any(o.get_key_element() == key for o in parsed):
            swept[key] = parser.parse_overrides(quote_numeric_choices([f"{key}={value}"]))[0]

    axes = []
    for key, override in swept.items():
        values: list[Any] = (
            list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        )
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


@dataclass
class Job:
    """One job of the sweep: its overrides, the run directory it writes, the run directory it
    fine-tunes from (``frames.init_checkpoint``), and how it went."""

    overrides: list[str]
    name: str
    run_dir: Path
    init_dir: Path | None  # frames.init_checkpoint=auto: the 8-frame run (frames.init_run)
    init_auto: bool
    max_steps: int | None
    status: str = "pending"  # then done, failed or skipped
    why: str = ""


def _path(value) -> Path:
    """A config path as the job (cwd: the repository) reads it."""
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def describe(overrides: list[str]) -> Job:
    """The job's run directory and fine-tune source, from its composed config."""
    cfg = compose_config(quote_numeric_choices(overrides), return_hydra_config=True)
    raw_output_dir = str(cast(dict, OmegaConf.to_container(cfg.paths, resolve=False))["output_dir"])
    run_dir = _path(cfg.hydra.run.dir if "${hydra:" in raw_output_dir else cfg.paths.output_dir)
    init = cfg.frames.get("init_checkpoint")
    init_dir = None
    if init == "auto":
        init_dir = _path(cfg.paths.log_dir) / "runs" / str(cfg.frames.init_run)
    elif init:  # a checkpoint path: a dependency when it lies in another job's run directory
        init_dir = _path(init).parent.parent
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    return Job(overrides, str(cfg.name), run_dir, init_dir, init == "auto", steps_to_finish(trainer))


def run_job(job: Job) -> None:
    """Run the job as its own process; done only with exit code 0 and a finished run
    (``cost.results.unfinished``): a job stopped by a signal may still exit 0."""
    before = stamp(job.run_dir)
    code = subprocess.call([sys.executable, "-m", "cost.run", *job.overrides], cwd=REPO_ROOT)
    why = unfinished(job.run_dir, before, job.max_steps)
    if code != 0:
        job.status, job.why = "failed", f"exit code {code}" + (f"; {why}" if why else "")
    elif why:
        job.status, job.why = "failed", f"exit code 0 but {why}"
    else:
        job.status = "done"


def blocked(job: Job, earlier: list[Job]) -> str | None:
    """Why the job must not start: the run it fine-tunes did not finish."""
    if job.init_dir is None:
        return None
    source = next((j for j in earlier if j.run_dir == job.init_dir), None)
    if source is not None and source.status != "done":
        return f"fine-tunes {source.name}, which {'was ' if source.status == 'skipped' else ''}{source.status}"
    if job.init_auto or source is not None:
        why = unfinished(job.init_dir)
        if why:
            return f"fine-tunes {job.init_dir.name}, which has not finished: {why}"
    return None


def print_summary(jobs: list[Job]) -> None:
    counts = {s: sum(j.status == s for j in jobs) for s in ("done", "failed", "skipped")}
    print("sweep: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n), flush=True)
    for job in jobs:
        print(f"  {job.status:8} {job.name}" + (f": {job.why}" if job.why else ""), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides; key=a,b sweeps")
    ap.add_argument("--dry-run", action="store_true", help="print the jobs and exit")
    ap.add_argument("--keep-going", action="store_true", help="after a failure, run the jobs that do not depend on it")
    ap.add_argument(
        "--estimate",
        nargs="?",
        type=float,
        const=10.0,
        metavar="TFLOPS",
        help="print each job's training compute and GPU-hours at this sustained rate "
        "per GPU (default 10 TFLOP/s) and exit",
    )
    args = ap.parse_intermixed_args(argv)

    expanded = expand(args.overrides)
    if args.estimate is not None:
        print_estimates(expanded, args.estimate)
        return 0
    jobs = [describe(overrides) for overrides in expanded]
    print(f"{len(jobs)} job(s)")
    for i, job in enumerate(jobs, 1):
        command = f"python -m cost.run {shlex.join(job.overrides)}"
        if args.dry_run:
            print(f"[{i}/{len(jobs)}] {command}", flush=True)
            continue
        stop = next((j for j in jobs[: i - 1] if j.status != "done"), None)
        why = blocked(job, jobs[: i - 1])
        if why is None and stop is not None and not args.keep_going:
            why = f"not started: {stop.name} {stop.status} (--keep-going runs the jobs that do not depend on it)"
        if why:
            job.status, job.why = "skipped", why
            print(f"[{i}/{len(jobs)}] {job.name} skipped: {why}", flush=True)
            continue
        print(f"[{i}/{len(jobs)}] {command}", flush=True)
        start = time.time()
        run_job(job)
        why = f": {job.why}" if job.why else ""
        print(f"[{i}/{len(jobs)}] {job.status} after {time.time() - start:.0f} s{why}", flush=True)
    if args.dry_run:
        return 0
    print_summary(jobs)
    if any(j.status != "done" for j in jobs):
        print("sweep failed: see the jobs above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
