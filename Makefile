# One virtual environment, pinned dependencies, every command through it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test demo mini summary bench mutate clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

## test: install everything and run the whole test suite
test: setup
	$(PY) -m pytest -q

## demo: train and test the default model (CoST(b), tiny preset, synthetic data, CPU)
demo: setup
	$(PY) src/run.py

## mini: miniature reproduction on the synthetic set (C2D, C3D, CoST(a), CoST(b), CoST(b) unshared)
mini: setup
	$(PY) experiments/sweep.py experiment=mini_reproduction
	$(PY) src/run.py experiment=mini_reproduction model=cost_b model.share_weights=false
	$(PY) -m cost.analysis table outputs/runs --out outputs/tables

## summary: parameters and GMACs of every arch x depth x 8/32 frames at 224x224
summary: setup
	$(PY) -m cost.models.summary

## bench: CoST op, model and loader benchmarks (tables printed, JSON in bench_results/)
bench: setup
	$(PY) -m cost.bench

## mutate: mutation testing (mutmut) of the CoST op, sampling, transforms, metrics and coefficient
## statistics with their fast tests; not part of CI; score and survivors in docs/testing.md
mutate: $(VENV)/.mutate-installed
	rm -rf mutants
	env -u PYTHONPATH $(PY) -m mutmut run --max-children $${MUTATE_JOBS:-2}
	$(PY) -m mutmut results

$(VENV)/.mutate-installed: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev,mutate]"
	touch $@

clean:
	rm -rf $(VENV) outputs .pytest_cache mutants
