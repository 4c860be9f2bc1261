# bc2people — one-command setup, tests, demo, lint and benchmarks.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test lint demo bench soak clean

setup: $(STAMP)

# Re-install only when the project's metadata changes (fast when nothing changed).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy pipelines sources destinations sandbox answers

demo: setup
	$(VENV)/bin/bc2people demo

bench: setup
	$(PY) -m benchmarks.run

soak: setup
	$(PY) -m benchmarks.soak

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache bc2people.duckdb bc2people.dlt
