"""Classify one video with a checkpoint: ``python -m cost.predict`` (cost/predict.py).

python src/predict.py outputs/runs/cost_b_rtiny_synthetic_f8/checkpoints/best.ckpt VIDEO [--clips 10]
"""

from cost.predict import main

if __name__ == "__main__":
    main()
