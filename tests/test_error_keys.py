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
