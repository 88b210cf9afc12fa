"""Two nodes launched the general-cluster way (Lightning's docs: MASTER_ADDR, MASTER_PORT,
WORLD_SIZE and NODE_RANK on each node, no RANK): here two local "nodes" of one CPU process
each, gloo. The run lock and every rank-zero file follow Lightning's global rank from the start
(docs/multinode.md)."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from cost.training.trainer import global_rank, processes_per_node
from training_helpers import EVAL_PY, FAST, PYTHON, RUN_PY, compose_cfg, subprocess_env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nodes(args: list, env: dict, timeout: int = 480) -> list[subprocess.CompletedProcess]:
    """Start one process per node (NODE_RANK 0 and 1) and wait for both. Once one node fails,
    the other, left waiting for it, is killed at once (as at the timeout)."""
    port = str(_free_port())
    procs = []
    with tempfile.TemporaryDirectory() as logs:
        for rank in (0, 1):
            out = open(Path(logs) / f"node{rank}.out", "w+")  # noqa: SIM115 - closed below
            node_env = dict(env, MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE="2", NODE_RANK=str(rank))
            procs.append((subprocess.Popen([PYTHON, *map(str, args)], env=node_env, stdout=out, stderr=out), out))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(p.poll() for p, _ in procs):  # poll(): None or the exit code
            if all(p.poll() == 0 for p, _ in procs):
                break
            time.sleep(1)
        done = []
        for p, out in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            out.seek(0)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out.read()))
            out.close()
    return done


def _coefficient_means(path) -> list[float]:
    with open(path, newline="") as f:
        return [float(r["mean"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_two_nodes_by_node_rank_train_one_run_and_test_like_one_process(data_dir, tmp_path):
    root = data_dir / "synthetic"
    (root / "multinode_test5.txt").write_text("\n".join((root / "test.txt").read_text().splitlines()[:5]) + "\n")
    env = subprocess_env()
    args = [
        RUN_PY,
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path}",
        "name=two_nodes",
        *FAST,
        "trainer.strategy=ddp",
        "trainer.num_nodes=2",
        "trainer.devices=1",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "trainer.limit_val_batches=2",
        "callbacks.checkpoint_every_n_steps=2",
        "logger=csv",
        "data.test_split=multinode_test5.txt",  # odd: node 0 tests 3 videos, node 1 tests 2
        "data.test_clips=2",
        "data.test_batch_size=2",
    ]
    nodes = _nodes(args, env)
    assert [p.returncode for p in nodes] == [0, 0], "\n".join(
        f"node {rank} (exit {p.returncode}): {p.stdout[-2000:]}" for rank, p in enumerate(nodes)
    )
    assert all("RunDirectoryInUse" not in p.stdout for p in nodes)
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in nodes[1].stdout  # two processes, one per node
    run = tmp_path / "runs" / "two_nodes"
    record = json.loads((run / "results.json").read_text())
    assert record["num_videos"] == 5 and record["num_views"] == 10
    assert not (run / "previous-1").exists()  # one run, started once

    # the same checkpoint tested by one process (eval.py takes the run's data from its config.yaml)
    p = subprocess.run(
        [PYTHON, str(EVAL_PY), f"ckpt_path={record['checkpoint']}", f"paths.log_dir={tmp_path}", "data.test_clips=2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=480,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    one_dir = tmp_path / "runs" / f"eval_two_nodes_{Path(record['checkpoint']).stem}_2x1"
    one = json.loads((one_dir / "results.json").read_text())
    for key in ("num_videos", "num_views", "top1", "top5", "average"):
        assert one[key] == record[key], (key, one, record)
    assert _coefficient_means(one_dir / "coefficients.csv") == pytest.approx(
        _coefficient_means(run / "coefficients.csv"), abs=1e-5
    )


def test_global_rank_follows_the_launcher(monkeypatch):
    """Lightning's global rank, computed before the Trainer: NODE_RANK * processes per node +
    LOCAL_RANK on a general cluster; RANK under torchrun; SLURM_PROCID under srun."""
    for var in (
        "RANK",
        "LOCAL_RANK",
        "NODE_RANK",
        "GROUP_RANK",
        "SLURM_NTASKS",
        "SLURM_PROCID",
        "SLURM_JOB_NAME",
        "TORCHELASTIC_RUN_ID",
        "LOCAL_WORLD_SIZE",
        "WORLD_SIZE",
    ):
        monkeypatch.delenv(var, raising=False)
    four = compose_cfg(["trainer=cpu", "trainer.devices=4", "trainer.num_nodes=2", "paths.output_dir=x"])
    assert processes_per_node(four) == 4 and global_rank(four) == 0
    monkeypatch.setenv("NODE_RANK", "1")
    assert global_rank(four) == 4  # node 1's first process: not rank zero
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert global_rank(four) == 7
    monkeypatch.setenv("RANK", "7")
    monkeypatch.setenv("GROUP_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert global_rank(four) == 7  # torchrun: TorchElasticEnvironment reads RANK
    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "TORCHELASTIC_RUN_ID", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "4")
    monkeypatch.setenv("SLURM_PROCID", "5")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_NODEID", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    assert global_rank(four) == 5  # srun: SLURMEnvironment reads SLURM_PROCID
