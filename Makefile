# One virtual environment, pinned dependencies, every command through it.
# PYTHON picks the interpreter that creates the venv (3.11, 3.12 or 3.13), e.g. `make test PYTHON=python3.12`.
# A target documents itself with a `## target: text` line above it; `make help` lists those lines.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup lint format test test-fast check-gpu demo mini notebooks summary bench mutate clean clean-outputs

## help: list the targets, one line each
help:
	@sed -n 's/^## \([^:]*\): */\1\t/p' $(MAKEFILE_LIST) | awk -F'\t' '{printf "  %-14s %s\n", $$1, $$2}'

## setup: create .venv with $PYTHON (Python 3.11-3.13) and install the pinned dependencies
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

## lint: ruff's linter and format check over the repository (CI runs it before the tests)
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## format: rewrite the code in ruff's format and apply ruff's safe fixes
format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## test: install everything and run the whole test suite (what CI runs)
test: setup
	$(PY) -m pytest -q

## test-fast: the test suite without the slow tests (real training, DDP, installs)
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

## check-gpu: print torch, CUDA, GPUs, bf16, video decoders, data root and W&B mode
check-gpu: setup
	$(PY) -m cost.env

## demo: train and test the default model (CoST(b), tiny preset, synthetic data, CPU)
demo: setup
	$(PY) src/run.py

## mini: miniature reproduction on the synthetic set (C2D, C3D, CoST(a), CoST(b), CoST(b) unshared)
mini: setup
	$(PY) experiments/sweep.py experiment=mini_reproduction
	$(PY) src/run.py experiment=mini_reproduction model=cost_b model.share_weights=false
	$(PY) -m cost.analysis table outputs/runs --out outputs/tables

## notebooks: execute notebooks/*.ipynb on $COST_RUNS (default outputs/runs) into outputs/notebooks/
notebooks: setup
	$(PY) -m cost.analysis notebooks

## summary: parameters and GMACs of every arch x depth x 8/32 frames at 224x224
summary: setup
	$(PY) -m cost.models.summary

## bench: CoST op, model and loader benchmarks (tables printed, JSON in bench_results/)
bench: setup
	$(PY) -m cost.bench

## mutate: mutation testing (mutmut) of the CoST op, sampling, transforms, metrics, coefficients (not in CI)
# Runs them with their fast tests; score and survivors in docs/testing.md.
mutate: $(VENV)/.mutate-installed
	rm -rf mutants
	env -u PYTHONPATH $(PY) -m mutmut run --max-children $${MUTATE_JOBS:-2}
	$(PY) -m mutmut results

$(VENV)/.mutate-installed: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev,mutate]"
	touch $@

## clean: remove the virtual environment and caches (keeps outputs/, data/ and bench_results/)
clean:
	rm -rf $(VENV) .pytest_cache mutants
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

## clean-outputs: DELETE outputs/ with every run, checkpoint and result in it
clean-outputs:
	rm -rf outputs
