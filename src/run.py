"""Train a model, test its best checkpoint, write results.json (see conf/config.yaml).

    python src/run.py                                  # the CPU demo (CoST(b), synthetic data)
    python src/run.py model=cost_b data=moments trainer.devices=8
    python src/run.py name=my_run                      # rerun the same name to resume it
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the package, whatever the cwd

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from cost.training.config import CONFIG_DIR, quote_numeric_choices, register_resolvers  # noqa: E402

register_resolvers()
sys.argv[1:] = quote_numeric_choices(sys.argv[1:])  # frames=32 is a group choice, not an int


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    from cost.training.config import unswept_experiment
    from cost.training.runner import train

    if reason := unswept_experiment():
        sys.exit(reason)
    train(cfg)


if __name__ == "__main__":
    main()
