"""The Trainer's parts: checkpoints written atomically (a full disk or a failed rename leaves no
temporary file and the old checkpoint intact, on a real tmpfs), and Lightning's global rank
computed before the Trainer exists, for every launcher (issue 21)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from cost.training.trainer import global_rank, processes_per_node
from tests.helpers.training import compose_cfg


def _ckpt_step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MiB file system (tmpfs) for the run directory; /tmp, where Lightning writes a
    checkpoint first, is another one, as on a cluster. Needs the right to mount (root)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_a_checkpoint_write_on_a_full_disk_leaves_no_temporary_and_the_old_file_intact(small_disk):
    from cost.training.trainer import AtomicCheckpointIO

    path = small_disk / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 4}, path)
    with pytest.raises(OSError, match="No space left on device"):
        io.save_checkpoint({"global_step": 8, "weights": torch.zeros(1 << 22)}, path)  # 16 MiB
    assert _ckpt_step(path) == 4
    assert sorted(p.name for p in small_disk.iterdir()) == ["last.ckpt"]  # no .last.ckpt.<pid>.tmp


def test_a_failed_checkpoint_rename_leaves_no_temporary(tmp_path):
    from cost.training.trainer import AtomicCheckpointIO

    (tmp_path / "last.ckpt").mkdir()  # a directory in the way: the rename fails
    (tmp_path / "last.ckpt" / "kept").write_text("x")
    with pytest.raises(IsADirectoryError):
        AtomicCheckpointIO().save_checkpoint({"global_step": 8}, tmp_path / "last.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert (tmp_path / "last.ckpt" / "kept").read_text() == "x"


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
    assert processes_per_node(four.trainer) == 4 and global_rank(four.trainer) == 0
    monkeypatch.setenv("NODE_RANK", "1")
    assert global_rank(four.trainer) == 4  # node 1's first process: not rank zero
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert global_rank(four.trainer) == 7
    monkeypatch.setenv("RANK", "7")
    monkeypatch.setenv("GROUP_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert global_rank(four.trainer) == 7  # torchrun: TorchElasticEnvironment reads RANK
    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "TORCHELASTIC_RUN_ID", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "4")
    monkeypatch.setenv("SLURM_PROCID", "5")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_NODEID", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    assert global_rank(four.trainer) == 5  # srun: SLURMEnvironment reads SLURM_PROCID
