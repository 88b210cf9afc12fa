"""Multi-view test of one checkpoint: ``python -m cost.eval`` (cost/eval.py).

    python src/eval.py ckpt_path=outputs/runs/<name>/checkpoints/best.ckpt \
        model=cost_b data=moments data.test_clips=10 data.test_crops=3
"""

from cost.eval import main

if __name__ == "__main__":
    main()
