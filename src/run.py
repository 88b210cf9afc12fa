"""Train a model, test its best checkpoint, write results.json: ``python -m cost.run`` (cost/run.py).

python src/run.py                                  # the CPU demo (CoST(b), synthetic data)
python src/run.py model=cost_b data=moments trainer.devices=8
python src/run.py name=my_run                      # rerun the same name to resume it
"""

from cost.run import main

if __name__ == "__main__":
    main()
