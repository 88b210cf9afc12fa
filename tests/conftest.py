"""Session fixtures of the training, checkpoint and predict tests: one synthetic dataset and one
tiny trained run (under tmp)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cost.training.runner import train
from tests.helpers.training import TRAINED_WITH, compose_cfg, run_overrides, small_split


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """The synthetic dataset generated once (same parameters as conf/data/synthetic.yaml)."""
    from hydra.utils import instantiate

    root = tmp_path_factory.mktemp("data")
    cfg = compose_cfg([f"paths.data_dir={root}", "paths.output_dir=/unused"])
    instantiate(cfg.data).prepare_data()
    return root


@pytest.fixture(scope="session")
def tiny_run(data_dir, tmp_path_factory):
    """Two real optimizer steps; the run dir holds best.ckpt, last.ckpt, results.json."""
    logs = tmp_path_factory.mktemp("tiny")
    out = logs / "runs" / "tiny"
    split = small_split(data_dir, "state_test6.txt", 6)
    rec = train(
        compose_cfg(
            run_overrides(
                data_dir,
                logs,
                f"paths.output_dir={out}",
                "name=tiny",
                "logger=csv",
                *TRAINED_WITH,
                "trainer.max_steps=2",
                "trainer.val_check_interval=2",
                "callbacks.checkpoint_every_n_steps=2",
                "trainer.limit_val_batches=1",
                "data.test_clips=2",
                f"data.test_split={split}",
            )
        )
    )
    return out, rec, split
