"""A tiny real sweep through the local driver, the aggregated table, the notebooks, SLURM config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cost.analysis import load_runs, results_table
from training_helpers import PYTHON, REPO_ROOT, compose_cfg, subprocess_env

SWEEP = REPO_ROOT / "experiments" / "sweep.py"


def test_driver_expands_the_cartesian_product():
    from cost.sweep import expand

    jobs = expand(["model=c2d,cost_b", "frames=8,32", "data=synthetic"])
    assert jobs == [
        ["data=synthetic", "model=c2d", "frames=8"],
        ["data=synthetic", "model=c2d", "frames=32"],
        ["data=synthetic", "model=cost_b", "frames=8"],
        ["data=synthetic", "model=cost_b", "frames=32"],
    ]


@pytest.fixture(scope="module")
def tiny_sweep(data_dir, tmp_path_factory):
    """Two real jobs (C2D, CoST(b)), each a separate run.py process, a few steps each."""
    out = tmp_path_factory.mktemp("sweep")
    args = [
        # debug=short's settings, but a real run: debug runs are left out of the tables
        "model=c2d,cost_b",
        "trainer.max_steps=4",
        "trainer.val_check_interval=2",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        "callbacks.checkpoint_every_n_steps=2",
        "logger=csv",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "callbacks.rich_progress=false",
        "print_tables=false",
        "data.test_clips=2",
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={out}",
    ]
    proc = subprocess.run(
        [PYTHON, str(SWEEP), *args], env=subprocess_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 job(s)" in proc.stdout
    assert "sweep: 2 done\n  done     c2d_rtiny_synthetic_f8\n  done     cost_b_rtiny_synthetic_f8\n" in proc.stdout
    return out / "runs"


@pytest.mark.slow
def test_tiny_sweep_gives_an_aggregated_table(tiny_sweep):
    runs = load_runs([tiny_sweep])
    assert sorted(r["arch"] for r in runs) == ["c2d", "cost_b"]
    rows = results_table(runs)
    assert [r["model"] for r in rows] == ["tiny C2D 8f", "tiny CoST(b) 8f"]
    assert all(0 <= r["ours_top1"] <= 100 and r["paper_top1"] is None for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["coefficients", "results"])
def test_notebooks_execute_on_the_sweep(tiny_sweep, name, monkeypatch):
    monkeypatch.setenv("COST_RUNS", str(tiny_sweep))
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    nb = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), (
        "store notebooks without outputs"
    )
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT / "notebooks")}}
    ).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if name == "coefficients":
        assert "cost_b" in text and "hw" in text  # one CoST run found, its view means printed
        # the view-importance figure says which model and run it shows: CoST(b) only
        assert "synthetic: tiny CoST(b) 8f, cost_b_rtiny_synthetic_f8 (step 4)" in text
        images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 4  # per layer, overall, per class, during training: one CoST(b) run
    else:
        markdown = [
            o["data"]["text/markdown"]
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.outputs
            if "text/markdown" in o.get("data", {})
        ]
        assert any("tiny CoST(b) 8f" in m for m in markdown)


@pytest.mark.slow
def test_make_notebooks_executes_both_into_outputs(tiny_sweep, tmp_path):
    """`make notebooks` runs `python -m cost.analysis notebooks`: COST_RUNS in, executed copies out."""
    assert "$(PY) -m cost.analysis notebooks" in (REPO_ROOT / "Makefile").read_text()
    env = {**subprocess_env(), "COST_RUNS": str(tiny_sweep)}
    env.pop("WANDB_PROJECT", None)
    out = tmp_path / "notebooks"
    p = subprocess.run(
        [PYTHON, "-m", "cost.analysis", "notebooks", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert sorted(f.name for f in out.iterdir()) == ["coefficients.ipynb", "results.ipynb"]
    outputs = {}
    for name in ("coefficients", "results"):
        assert f"notebooks/{name}.ipynb -> {out / name}.ipynb" in p.stdout
        nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        outputs[name] = [kind for c in cells for o in c.outputs for kind in o.get("data", {})]
    assert outputs["coefficients"].count("image/png") == 4 and "text/markdown" in outputs["results"]
    missing = subprocess.run(
        [PYTHON, "-m", "cost.analysis", "notebooks", "--runs", str(tmp_path / "nope")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert missing.returncode != 0 and "no run or sweep directory at" in missing.stderr


# ---------------------------------------------------------------- a sweep stops on failure
F8, F32 = "cost_b_rtiny_synthetic_f8", "cost_b_rtiny_synthetic_f32"


def frames_sweep(data_dir, out, *extra) -> list[str]:
    """The Table 6/7 pattern at the tiny scale: an 8-frame job, then the 32-frame job that
    fine-tunes it (frames.init_checkpoint=auto)."""
    return [
        "frames=8,32",
        "logger=csv",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "callbacks.rich_progress=false",
        "print_tables=false",
        "data.test_clips=1",
        "trainer.limit_test_batches=1",
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={out}",
        *extra,
    ]


def write_results(run_dir, max_steps=None, **fields):
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"top1": 50.0, "top5": 100.0, "num_videos": 4, "global_step": 40, "recipe": {}, **fields}
    (run_dir / "results.json").write_text(json.dumps(record))
    if max_steps is not None:
        (run_dir / ".hydra").mkdir(exist_ok=True)
        (run_dir / ".hydra" / "config.yaml").write_text(f"trainer:\n  max_steps: {max_steps}\n  max_epochs: -1\n")


def test_a_finished_run_is_a_complete_training_results_json_at_its_max_steps(tmp_path):
    from cost.results import stamp, unfinished

    run = tmp_path / "run"
    assert unfinished(run) == f"no {run / 'results.json'}"
    write_results(run, max_steps=40)
    assert unfinished(run) is None
    write_results(run, max_steps=40, global_step=20)  # a killed rerun left the earlier session's file
    assert unfinished(run) == f"{run / 'results.json'}: training stopped at step 20 of 40"
    assert unfinished(run, max_steps=10) is None  # the job's own config wins over the saved one
    before = stamp(run)
    assert "the one from before this job" in unfinished(run, before, max_steps=10)
    write_results(run, max_steps=40)  # rewritten (atomically, as report.py writes it)
    assert unfinished(run, before) is None
    (run / "results.json").write_text('{"top1": 50.0, "top5": ')
    assert "cannot be read" in unfinished(run)
    write_results(run, max_steps=40, num_videos=0, top1=None)
    assert "no test video was scored" in unfinished(run)
    write_results(run, max_steps=40, run_type="retest")
    assert "re-test, not a training run" in unfinished(run)
    (run / "results.json").write_text(json.dumps({"top1": 1.0, "top5": 2.0}))
    assert unfinished(run).endswith("lacks num_videos")


def test_sweep_does_not_start_a_fine_tune_from_an_unfinished_run(tmp_path, capsys):
    """The 8-frame run (outside this sweep) stopped at step 20 of 40: the 32-frame job is
    skipped before it starts, the sweep names it and exits 1."""
    from cost.sweep import main

    write_results(tmp_path / "runs" / F8, max_steps=40, global_step=20)
    (tmp_path / "runs" / F8 / "checkpoints").mkdir()
    (tmp_path / "runs" / F8 / "checkpoints" / "best.ckpt").write_bytes(b"step 20")  # what auto would pick
    code = main([arg for arg in frames_sweep(tmp_path / "data", tmp_path) if arg != "frames=8,32"] + ["frames=32"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"  skipped  {F32}: fine-tunes {F8}, which has not finished: " in out
    assert "training stopped at step 20 of 40" in out
    assert not (tmp_path / "runs" / F32).exists()


@pytest.mark.slow
def test_sweep_skips_the_fine_tune_of_a_failed_job(data_dir, tmp_path):
    """Job 1 fails for real (its run directory is locked by another process: it exits 1 at
    once); with --keep-going too, the 32-frame job that fine-tunes it is skipped and named,
    and the sweep exits 1."""
    from cost.training.rundir import RunLock

    lock = RunLock(tmp_path / "runs" / F8).acquire()
    try:
        proc = subprocess.run(
            [PYTHON, str(SWEEP), "--keep-going", *frames_sweep(data_dir, tmp_path)],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        lock.release()
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "is in use by pid" in proc.stderr  # the job's own error
    summary = proc.stdout[proc.stdout.index("sweep: ") :]
    assert summary.startswith("sweep: 1 failed, 1 skipped\n")
    assert f"  failed   {F8}: exit code 1; no {tmp_path / 'runs' / F8 / 'results.json'}\n" in summary
    assert f"  skipped  {F32}: fine-tunes {F8}, which failed\n" in summary
    assert not (tmp_path / "runs" / F32).exists()  # never started
    assert "sweep failed" in proc.stderr


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
def test_sweep_fails_a_job_stopped_by_sigterm(data_dir, tmp_path):
    """The issue's case: SIGTERM (what SLURM sends) stops the 8-frame job after its first
    checkpoint. Whatever its exit code, it wrote no results.json of its own: the job failed,
    the 32-frame fine-tune is skipped and never starts, the sweep exits 1."""
    f8_dir = tmp_path / "runs" / F8
    args = frames_sweep(
        data_dir,
        tmp_path,
        "trainer.max_steps=400",
        "callbacks.checkpoint_every_n_steps=2",
        "trainer.val_check_interval=200",
        "trainer.limit_val_batches=1",
    )
    sweep = subprocess.Popen(
        [PYTHON, str(SWEEP), *args], env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.time() + 300
        while not (f8_dir / "checkpoints" / "last.ckpt").exists():
            assert sweep.poll() is None and time.time() < deadline, sweep.communicate()
            time.sleep(0.2)
        (job,) = _children(sweep.pid)
        os.kill(job, signal.SIGTERM)
        stdout, stderr = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 1, stdout[-3000:] + stderr[-3000:]
    summary = stdout[stdout.index("sweep: ") :]
    assert summary.startswith("sweep: 1 failed, 1 skipped\n")
    assert f"  failed   {F8}: exit code " in summary and f"no {f8_dir / 'results.json'}" in summary
    assert f"  skipped  {F32}: fine-tunes {F8}, which failed\n" in summary
    assert not (tmp_path / "runs" / F32).exists()


def test_slurm_launcher_config_composes():
    cfg = compose_cfg(["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=8"])
    assert cfg.trainer.devices == 8
    with pytest.raises(Exception):  # noqa: B017 - hydra config is only resolvable inside a run
        compose_cfg(["hydra/launcher=nonexistent"])


def test_slurm_launcher_plugin_resolves():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from cost.training.config import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "config", overrides=["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4"], return_hydra_config=True
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.tasks_per_node == 4 and launcher.gpus_per_node == 4 and launcher.max_num_timeout == 20


@pytest.mark.parametrize(
    "experiment,jobs",
    [
        ("table2", 4),
        ("table3", 4),
        ("table4_moments", 6),
        ("table5_kinetics", 6),
        ("table6_kinetics", 2),
        ("table7_moments", 2),
    ],
)
def test_every_paper_table_expands_into_composable_jobs(experiment, jobs):
    """Each job of each table's sweep composes to a valid config of the paper's scale."""
    from cost.sweep import expand
    from cost.training.preflight import check_config

    expanded = expand([f"experiment={experiment}"])
    assert len(expanded) == jobs
    names = set()
    for job in expanded:
        cfg = compose_cfg(job + ["paths.output_dir=x"])
        check_config(cfg)
        assert cfg.trainer.strategy == "ddp" and cfg.trainer.max_steps == 600_000
        names.add(cfg.name)
    assert len(names) == jobs  # every job writes its own run directory
    if experiment.startswith(("table6", "table7")):  # 8 frames first, then the 32-frame fine-tune from it
        first, second = (compose_cfg(j + ["paths.output_dir=x"]) for j in expanded)
        assert first.frames.num_frames == 8 and second.frames.num_frames == 32
        assert second.frames.init_checkpoint == "auto" and second.frames.init_run == first.name


def test_lightning_requeue_is_off_only_under_submitit_slurm(monkeypatch):
    """Under submitit's SLURM executor submitit requeues; Lightning must not requeue again."""
    from pytorch_lightning.plugins.environments import SLURMEnvironment

    from cost.training.trainer import cluster_plugins

    assert cluster_plugins() == []  # not in a SLURM job
    for key, value in {
        "SLURM_NTASKS": "1",
        "SLURM_JOB_NAME": "table2",
        "SLURM_JOB_ID": "42",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
    }.items():
        monkeypatch.setenv(key, value)
    assert cluster_plugins() == []  # plain sbatch: Lightning's own requeue stays on
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    (env,) = cluster_plugins()
    assert isinstance(env, SLURMEnvironment) and env.auto_requeue is False


@pytest.mark.slow
def test_submitit_local_multirun(data_dir, tmp_path):
    """hydra -m through hydra-submitit-launcher's local executor (the SLURM launcher's code
    path without SLURM): two jobs, each in its own process, each writes its results."""
    args = [
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=20",
        "model=c2d,cost_a",
        "trainer.fast_dev_run=true",
        "logger=csv",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "callbacks.rich_progress=false",
        "print_tables=false",
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path}",
    ]
    proc = subprocess.run(
        [PYTHON, str(REPO_ROOT / "src" / "run.py"), *args],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    logs = (
        "\n".join(p.read_text()[-2000:] for p in (tmp_path / "runs" / ".submitit").rglob("*.err"))
        if (tmp_path / "runs" / ".submitit").exists()
        else ""
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:] + logs
    runs = load_runs([tmp_path / "runs"])
    assert sorted(r["arch"] for r in runs) == ["c2d", "cost_a"]
    jobs = [d for d in (tmp_path / "runs" / ".submitit").iterdir() if d.name.isdigit()]
    assert len(jobs) == 2 and all((d / f"{d.name}_0_result.pkl").is_file() for d in jobs)  # one submitit job each


def test_estimate_of_a_table_sweep():
    """--estimate composes every job: 32 frames cost 4x the 8-frame MACs (fully convolutional
    up to the classifier), and the rate only rescales the hours."""
    from cost.sweep import expand, training_cost

    jobs = expand(["experiment=table6_kinetics"])
    eight, thirty_two = (training_cost(job, tflops=10.0) for job in jobs)
    assert (eight["name"], thirty_two["name"]) == ("cost_b_r101_kinetics_f8", "cost_b_r101_kinetics_f32")
    assert 3.99 < thirty_two["GMAC"] / eight["GMAC"] < 4.01
    assert eight["steps"] == 600_000 and eight["clips_per_step"] == 64  # 8 GPUs x 8 clips
    assert training_cost(jobs[0], tflops=20.0)["gpu_hours"] == pytest.approx(eight["gpu_hours"] / 2)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(p.stem for p in (REPO_ROOT / "conf" / "experiment").glob("*.yaml")))
def test_every_experiment_job_runs_a_fast_dev_run_step(experiment, data_dir, tmp_path):
    """Each job of each experiment, with its real network (R50/R101, 8/32 frames), runs one
    train/val/test step of Lightning's fast_dev_run on the synthetic set with small crops,
    on one CPU process instead of 8-GPU DDP."""
    from cost.sweep import expand
    from cost.training.runner import train
    from training_helpers import run_overrides

    jobs = {}  # the job without its dataset (not here) -> the job's real config
    for job in expand([f"experiment={experiment}"]):
        real = compose_cfg(job + ["paths.output_dir=x"])
        jobs.setdefault(tuple(o for o in job if not o.startswith(("data=", "trainer="))), real)
    small = [
        "data=synthetic",
        "trainer=cpu",
        "debug=fast",
        "data.batch_size=2",
        "data.test_batch_size=1",
        "data.test_clips=1",
        "data.train_short_side=[32,40]",
        "data.train_crop=32",
        "frames.init_checkpoint=null",
    ]
    for i, (job, real) in enumerate(jobs.items()):
        out = tmp_path / str(i)
        cfg = compose_cfg(
            list(job)
            + small
            + run_overrides(data_dir, out, f"paths.output_dir={out}")
            + [f"model.depth={real.model.depth}"]
        )  # not the synthetic preset's tiny net
        record = train(cfg)
        assert (record["arch"], str(record["depth"]), record["frames"], record["share_weights"]) == (
            real.model.arch,
            str(real.model.depth),
            real.frames.num_frames,
            real.model.share_weights,
        )
