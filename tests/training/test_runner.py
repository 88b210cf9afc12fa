"""train() and run.py stop on bad settings with the key named, before anything is built or
written and before any DDP process starts."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import torch

from cost.training.runner import train
from tests.helpers.training import PYTHON, RUN_PY, subprocess_env, train_cfg


@pytest.mark.parametrize(
    "override,key",
    [
        ("data.batch_size=-1", "data.batch_size=-1"),
        ("data.test_batch_size=0", "data.test_batch_size=0"),
        ("data.num_workers=-2", "data.num_workers=-2"),
        ("data=moments", "data.root="),
    ],
)
def test_bad_settings_fail_before_anything_is_built(data_dir, tmp_path, override, key):
    # (trainer.devices is checked through run.py below: in this process a DDP start would re-run pytest)
    with pytest.raises(ValueError, match=key.replace("[", r"\[").replace(".", r"\.")):
        train(train_cfg(data_dir, tmp_path, override, "trainer.accelerator=auto"))
    assert not (tmp_path / "run").exists()  # nothing written, nothing built


def test_more_devices_than_gpus_is_named(data_dir, tmp_path):
    from cost.training.preflight import preflight

    if torch.cuda.device_count() >= 8:
        pytest.skip("this machine has 8 GPUs")
    with pytest.raises(ValueError, match=r"trainer\.devices=8 .*trainer\.accelerator=cpu"):
        preflight(train_cfg(data_dir, tmp_path, "trainer.devices=8", "trainer.accelerator=auto"), ("train",))
    preflight(train_cfg(data_dir, tmp_path, "trainer.devices=2", "trainer.accelerator=cpu"), ("train",))  # asked for


def test_missing_annotation_file_is_named(data_dir, tmp_path):
    root = tmp_path / "moments"
    root.mkdir()
    (root / "moments_categories.txt").write_text("a,0\n")
    with pytest.raises(ValueError, match=r"data\.train_split=trainingSet\.csv"):
        train(train_cfg(data_dir, tmp_path, "data=moments", f"data.root={root}"))
    assert not (tmp_path / "run").exists()  # before the run started


@pytest.mark.slow
def test_eight_devices_without_gpus_fail_once_before_any_process_starts(tmp_path):
    if torch.cuda.device_count() >= 8:
        pytest.skip("this machine has 8 GPUs")
    t0 = time.time()
    p = subprocess.Popen(
        [
            PYTHON,
            str(RUN_PY),
            "model=cost_b",
            "data=moments",
            "trainer.devices=8",
            f"paths.data_dir={tmp_path / 'nowhere'}",
            f"paths.log_dir={tmp_path}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        start_new_session=True,
    )
    try:
        _, err = p.communicate(timeout=240)
    finally:
        if p.poll() is None:  # it started the processes after all: stop all of them
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    took = time.time() - t0
    assert p.returncode != 0
    # Both problems, each once (not once per started process).
    assert err.count("trainer.devices=8 but this machine has no GPU") == 1, err[-3000:]
    assert err.count("does not exist: set data.root") == 1, err[-3000:]
    print(f"run.py refused in {took:.1f} s (interpreter start and imports included)")
