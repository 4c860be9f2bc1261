# bc2people — one-command setup, tests, demo, lint and benchmarks.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test lint demo bench bench-scale soak mutate clean

RUN_STAMP := $(VENV)/.installed-run

VIEW   := .typecheck/bc2people/__init__.py

setup: $(STAMP) $(VIEW)

# Static tools (mypy, editors through [tool.pyright]) read the folders under their installed
# names (bc2people.*) through a tree of links in .typecheck/; Python itself needs none of it.
$(VIEW):
	@rm -rf .typecheck && mkdir -p .typecheck/bc2people
	@ln -s ../../bc2people/__init__.py $(VIEW)
	@for d in sources destinations pipelines answers sandbox mappings; do ln -s ../../$$d .typecheck/bc2people/$$d; done

# Re-install only when the project's metadata changes (fast when nothing changed). `setup` is
# the development install (tests, lint, benchmarks); the demo needs only the project itself.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP) $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $(RUN_STAMP)

# Tests run in random order (pytest-randomly) with a fixed seed, so CI is reproducible and
# order dependence shows up; run `pytest -p randomly --randomly-seed=N` locally to try another.
TEST_SEED ?= 12345
# Two workers (pytest-xdist): most tests wait on sandboxes and subprocesses, so two workers on two
# cores finish in about 60% of the time; every test owns its ports, files and sandboxes. Work
# stealing: a worker that runs out takes the other's queued tests, so a long crash test near the
# end does not leave a core idle. (Three workers were ~10% faster but tighter on timing.)
TEST_WORKERS ?= 2

test: setup
	$(PY) -m pytest -q -p randomly --randomly-seed=$(TEST_SEED) -n $(TEST_WORKERS) --dist worksteal

lint: setup
	$(VENV)/bin/ruff check .
	MYPYPATH=.typecheck $(VENV)/bin/mypy -p bc2people

demo: $(RUN_STAMP)
	$(VENV)/bin/bc2people demo

bench: setup
	$(PY) -m benchmarks.run

# Issue 16's store-scale figures (100k, 300k, 1M customers; BENCH_SCALE_SIZES=100000 for one size).
bench-scale: setup
	$(PY) -m benchmarks.bench_scale

soak: setup
	$(PY) -m benchmarks.soak

# On demand, not in CI: each named mutation (tests/mutations/mutations.toml) on a copy of the
# tree; fails when one survives or a snippet went stale. `make mutate NAMES="a b"` for a few.
mutate: setup
	$(PY) -m tests.mutations.run $(NAMES)

clean:
	rm -rf $(VENV) build .typecheck *.egg-info .pytest_cache .mypy_cache .ruff_cache bc2people.duckdb bc2people.dlt
