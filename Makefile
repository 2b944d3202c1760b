# The two set-up commands: `make train` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: test test-floors train bench bench-w1 lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# the older h5py versions files must read back under (tests/test_h5py_versions.py), each
# in a folder of its own that the test puts first on PYTHONPATH
H5PY_OLDER := 3.11.0 3.14.0

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e ".[test]"
	for v in $(H5PY_OLDER); do \
	  $(PIP) install --quiet --no-deps --upgrade --target $(VENV)/h5py-versions/$$v h5py==$$v \
	    || exit 1; done
	touch $@

$(VENV)/.installed-datasets: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e ".[datasets,fast]"
	touch $@

test: $(VENV)/.installed-test
	MPLBACKEND=Agg $(BIN)/python -m pytest
	$(BIN)/ruff check mlp preprocess scripts tests

# The suite again at the declared floors: the minimum Python (requires-python) and every
# dependency at its lower bound in pyproject.toml (scripts/floors.py derives the pins)
FLOORS := .venv-floors
$(FLOORS)/.installed: pyproject.toml scripts/floors.py
	rm -rf $(FLOORS)
	"$${PYTHON_FLOOR:-$$($(PYTHON) scripts/floors.py --python)}" -m venv $(FLOORS)
	$(FLOORS)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) scripts/floors.py test > $(FLOORS)/constraints.txt
	$(FLOORS)/bin/python -m pip install --quiet -c $(FLOORS)/constraints.txt -e ".[test]"
	touch $@

test-floors: $(FLOORS)/.installed
	MPLBACKEND=Agg $(FLOORS)/bin/python -m pytest

# --overwrite: a second `make train` starts ckpt/digits over instead of refusing it
train: $(VENV)/.installed-datasets
	$(BIN)/mlp train scripts/configs/digits.json --overwrite

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e ".[test,bench]"
	touch $@

# bench_data.py --big 1,4 adds the multi-GB memory figures (writes 5 GB under $TMPDIR);
# bench_versions.py compares this checkout with the revision before the module protocol
bench: $(VENV)/.installed-test $(VENV)/.installed-bench
	$(BIN)/python scripts/bench.py
	$(BIN)/python scripts/bench_sklearn.py
	$(BIN)/python scripts/bench_data.py
	$(BIN)/python scripts/bench_versions.py

# W1 alone: its spread over 20 fresh processes, then against JAX, Keras, PyTorch and the GEMM
# bound in alternating rounds (a quiet machine: load average under 1)
bench-w1: $(VENV)/.installed-test $(VENV)/.installed-bench
	$(BIN)/python scripts/bench.py --w1-processes 20 --peers --rounds 4

lint: $(VENV)/.installed-test
	$(BIN)/ruff check mlp preprocess scripts tests

clean:
	rm -rf $(VENV) $(FLOORS) build *.egg-info .pytest_cache .ruff_cache
