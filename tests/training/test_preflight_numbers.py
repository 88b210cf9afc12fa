"""The numeric keys that let a run start but make it fail late or mean nothing are named
(``cost.training.preflight_numbers``); eval.py checks only its views."""

from __future__ import annotations

import pytest

from cost.training.preflight_numbers import _numeric_problems
from tests.helpers.training import compose_cfg


def _cfg(*overrides: str):
    return compose_cfg(["paths.output_dir=x", *overrides])


@pytest.mark.parametrize(
    "override,message",
    [
        ("data.test_clips=0", "data.test_clips=0 must be a whole number >= 1"),
        ("data.test_crops=0", "data.test_crops=0 must be a whole number >= 1"),
        ("frames.num_frames=0", "frames.num_frames=0 must be a whole number >= 1"),
        ("data.frame_stride=0", "data.frame_stride=0 gives stride 0: a stride must be >= 1"),
        ("data.frame_stride={8:0}", "data.frame_stride={8: 0, 32: 1} gives stride 0"),
        ("data.frame_stride={32:1,8:null}", "data.frame_stride"),
        ("optim.lr=nan", "optim.lr=nan must be a finite number > 0"),
        ("optim.lr=inf", "optim.lr=inf must be a finite number > 0"),
        ("optim.lr=0", "optim.lr=0 must be a finite number > 0"),
        ("optim.lr=-0.1", "optim.lr=-0.1 must be a finite number > 0"),
        ("optim.base_batch_size=0", "optim.base_batch_size=0 must be a whole number >= 1"),
        ("trainer.val_check_interval=0", "trainer.val_check_interval=0 must be a whole number of steps >= 1"),
        ("trainer.val_check_interval=0.0", "trainer.val_check_interval=0.0 must be"),
        ("trainer.val_check_interval=1.5", "trainer.val_check_interval=1.5 must be"),
        ("trainer.val_check_interval=-3", "trainer.val_check_interval=-3 must be"),
        ("trainer.max_steps=0", "trainer.max_steps=0 must be a whole number >= 1"),
        ("trainer.max_steps=-2", "trainer.max_steps=-2 must be"),
        ("trainer.max_steps=-1", "trainer.max_steps=-1 must be"),  # and max_epochs=-1: endless
    ],
)
def test_each_numeric_key_that_makes_a_run_meaningless_is_named(override, message):
    problems = _numeric_problems(_cfg(override))
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["trainer.val_check_interval=1"],
        ["trainer.val_check_interval=0.5"],
        ["trainer.val_check_interval=1.0"],
        ["trainer.val_check_interval=null"],
        ["trainer.max_steps=-1", "trainer.max_epochs=3"],  # Lightning's "train by epochs"
        ["trainer.max_steps=0", "trainer.fast_dev_run=true"],  # fast_dev_run ignores the length
        ["frames=32"],
        ["data=kinetics", "frames=32"],
    ],
)
def test_valid_numeric_settings_pass(overrides):
    assert _numeric_problems(_cfg(*overrides)) == []


def test_eval_checks_the_views_but_not_the_training_keys():
    """eval.py trains nothing: the optimizer and the run's length do not stop it; its views do."""
    cfg = _cfg("optim.lr=nan", "trainer.max_steps=0", "trainer.val_check_interval=0", "data.test_clips=0")
    assert _numeric_problems(cfg, training=False) == ["data.test_clips=0 must be a whole number >= 1"]
