"""Library errors name the library's own argument; on the config path (the model config is
``build_model``'s arguments, the data config the DataModule's) the message names the key."""

from __future__ import annotations

import numpy as np
import pytest

from cost.data import VideoDataModule
from cost.data.sampling import train_indices
from cost.models import build_model
from cost.models.cost_op import CoST


def test_cost_impl_library_argument_and_config_key():
    with pytest.raises(ValueError, match=r"^impl='cuda': choose one of"):
        CoST(4, 4, impl="cuda")
    with pytest.raises(ValueError, match=r"^model\.cost_impl='cuda' is not supported"):
        build_model("cost_a", "tiny", num_classes=3, cost_impl="cuda")


def test_short_video_library_argument_and_config_key():
    with pytest.raises(ValueError, match=r"^short_video must be one of \('loop', 'repeat'\), got 'bounce'"):
        train_indices(20, 8, 8, np.random.default_rng(0), short_video="bounce")
    with pytest.raises(ValueError, match=r"^data\.short_video must be one of"):
        VideoDataModule(short_video="bounce")


def test_run_dir_outside_the_runs_library_argument_and_config_key(tmp_path):
    """rundir names the directory it was given; the run's own check names ``name``."""
    from cost.training.preflight import check_name
    from cost.training.rundir import RunDirectoryOutside, move_aside

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "results.json").write_text("{}")
    (tmp_path / "runs").mkdir()
    with pytest.raises(RunDirectoryOutside, match=r"^run directory \S+ is \S+, not inside the runs directory"):
        move_aside(tmp_path / "runs" / ".." / "elsewhere", tmp_path / "runs")
    with pytest.raises(ValueError, match=r"^name='\.\./elsewhere' holds a path separator"):
        check_name("../elsewhere")
    assert (elsewhere / "results.json").read_text() == "{}"
