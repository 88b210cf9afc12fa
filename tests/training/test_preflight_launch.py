"""``trainer.devices`` is read as Lightning reads it, and GPU index lists are checked against
the GPUs present (``cost.training.preflight_launch``)."""

from __future__ import annotations

import pytest
import torch

from cost.training.preflight_launch import _device_problems, _devices_asked
from tests.helpers.training import compose_cfg


def _cfg(*overrides: str):
    return compose_cfg(["paths.output_dir=x", *overrides])


@pytest.mark.parametrize(
    "devices,asked",
    [
        (1, ("count", 1)),
        (8, ("count", 8)),
        (-1, ("all", None)),
        ("auto", ("all", None)),
        ("-1", ("all", None)),
        ("2", ("count", 2)),
        ("0,3", ("indices", 4)),
        ("0, 3", ("indices", 4)),
        ("3,", ("indices", 4)),
        ("[0,3]", ("indices", 4)),
        ([0, 3], ("indices", 4)),
        ([2], ("indices", 3)),
        ("gpu0", ("invalid", None)),
        (True, ("invalid", None)),
        (0, ("invalid", None)),
        ("0", ("invalid", None)),
        (-2, ("invalid", None)),
        ([-2, 1], ("invalid", None)),
    ],
)
def test_gpu_index_lists_are_counted_by_their_highest_index(devices, asked):
    assert _devices_asked(devices) == asked


def test_an_index_list_beyond_the_gpus_names_the_index():
    present = torch.cuda.device_count()
    cfg = _cfg(f"trainer.devices='0,{present + 1}'", "trainer.accelerator=gpu").trainer
    assert _device_problems(cfg) == [
        f"trainer.devices=0,{present + 1} uses GPU index {present + 1}, so it needs {present + 2} GPUs "
        f"(trainer.accelerator=gpu), but this machine has {present}: "
        + (f"use indices below {present}" if present else "set trainer.accelerator=cpu")
    ]
    assert "not a device count" in _device_problems(_cfg("trainer.devices=gpu0").trainer)[0]
