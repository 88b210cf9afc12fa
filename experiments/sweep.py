"""Run a sweep locally, one job after another: ``python -m cost.sweep`` (cost/sweep.py).

python experiments/sweep.py experiment=table4_moments trainer.devices=8
python experiments/sweep.py experiment=mini_reproduction --dry-run
python experiments/sweep.py experiment=table5_kinetics --estimate      # GPU-hours, runs nothing
"""

import sys

from cost.sweep import main

if __name__ == "__main__":
    sys.exit(main())
