"""Multi-view test of one checkpoint with any test-view setting (see conf/eval.yaml).

    python src/eval.py ckpt_path=outputs/runs/<name>/checkpoints/best.ckpt \
        model=cost_b data=moments data.test_clips=10 data.test_crops=3
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from cost.training.config import CONFIG_DIR, quote_numeric_choices, register_resolvers  # noqa: E402

register_resolvers()
sys.argv[1:] = quote_numeric_choices(sys.argv[1:])  # frames=32 is a group choice, not an int


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def main(cfg: DictConfig) -> None:
    from cost.training.runner import evaluate

    evaluate(cfg)


if __name__ == "__main__":
    main()
