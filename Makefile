# The two set-up commands: `make train` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: test train bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-datasets: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e ".[datasets,fast]"
	touch $@

test: $(VENV)/.installed-test
	MPLBACKEND=Agg $(BIN)/python -m pytest
	$(BIN)/ruff check mlp preprocess scripts tests

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

lint: $(VENV)/.installed-test
	$(BIN)/ruff check mlp preprocess scripts tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
