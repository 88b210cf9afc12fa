"""Train a model, test its best checkpoint, write results.json (see conf/config.yaml).

    python -m cost.run                                 # the CPU demo (CoST(b), synthetic data)
    python -m cost.run model=cost_b data=moments trainer.devices=8
    python -m cost.run name=my_run                     # rerun the same name to resume it

``python src/run.py`` is the same command.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from cost.cli import hydra_main


def train_job(cfg: DictConfig) -> None:
    from cost.training.preflight import unswept_experiment
    from cost.training.runner import train

    if reason := unswept_experiment():
        sys.exit(reason)
    train(cfg)


def main() -> None:
    hydra_main(train_job, "config")


if __name__ == "__main__":
    main()
