"""Multi-view test of one checkpoint with any test-view setting (see conf/eval.yaml).

    python -m cost.eval ckpt_path=outputs/runs/<name>/checkpoints/best.ckpt \
        model=cost_b data=moments data.test_clips=10 data.test_crops=3

``python src/eval.py`` is the same command.
"""

from __future__ import annotations

from omegaconf import DictConfig

from cost.cli import hydra_main


def eval_job(cfg: DictConfig) -> None:
    from cost.training.runner import evaluate

    evaluate(cfg)


def main() -> None:
    hydra_main(eval_job, "eval")


if __name__ == "__main__":
    main()
