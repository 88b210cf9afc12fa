"""A key added with ``+key=value`` passes only when something reads it
(``cost.training.preflight_keys``)."""

from __future__ import annotations

import pytest

from cost.training.preflight_keys import _added_key_problems
from tests.helpers.training import compose_cfg


def _cfg(*overrides: str):
    return compose_cfg(["paths.output_dir=x", *overrides])


@pytest.mark.parametrize(
    "override",
    [
        "+trainer.profiler=simple",  # a pl.Trainer argument
        "+trainer.detect_anomaly=true",
        "+data.class_names=classes.txt",  # a VideoDataModule argument that no data config sets
        "+logger.wandb.settings=null",  # a wandb.init argument
        "+logger.csv.flush_logs_every_n_steps=5",  # CSVLogger's, through ResumableCSVLogger's **kwargs
        "+logger.tb._target_=pytorch_lightning.loggers.TensorBoardLogger",  # a whole new logger
        "+experiment=table2",  # a config group choice
        "hydra/launcher=basic",
        "+hydra.job.env_set.X=1",
        "name=x",  # not added
        "++seed=3",  # force-add of a key that exists
    ],
)
def test_added_keys_that_something_reads_pass(override):
    assert _added_key_problems([override], _cfg("logger=wandb")) == []


@pytest.mark.parametrize(
    "override",
    [
        "+foo=bar",
        "+paths.scratch=/tmp",
        "+model.dropuot=0.1",
        "+frames.freeze=true",
        "+data.bogus=1",
        "+data.synthetic.num_trian=5",
        "+trainer.max_step=5",
        "+trainer.logger=false",  # set by the run itself: it would be overridden silently
        "+logger.wandb.projcet=typo",
        "+logger.csv.nope=1",
        "++data.bogus=1",
    ],
)
def test_an_added_key_that_nothing_reads_is_named(override):
    key = override.lstrip("+").split("=")[0]
    assert _added_key_problems([override], _cfg("logger=wandb")) == [
        f"+{key}: no config file has this key and nothing reads it (a typo?); see `python src/run.py --cfg job` "
        "for the keys, and conf/README.md (Added keys)"
    ]
