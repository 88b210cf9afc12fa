"""Session fixture: one synthetic dataset for all training tests (under tmp)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.training import compose_cfg


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """The synthetic dataset generated once (same parameters as conf/data/synthetic.yaml)."""
    from hydra.utils import instantiate

    root = tmp_path_factory.mktemp("data")
    cfg = compose_cfg([f"paths.data_dir={root}", "paths.output_dir=/unused"])
    instantiate(cfg.data).prepare_data()
    return root
