# One virtual environment, pinned dependencies, every command through it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test demo summary bench clean

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

## summary: parameters and GMACs of every arch x depth x 8/32 frames at 224x224
summary: setup
	$(PY) -m cost.models.summary

## bench: CoST op, model and loader benchmarks (tables printed, JSON in bench_results/)
bench: setup
	$(PY) -m cost.bench

clean:
	rm -rf $(VENV) outputs .pytest_cache
