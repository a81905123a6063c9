# The two quick-start commands are `make bench` and `make test` (see README.md).
# Both create .venv from scratch when it is missing or pyproject.toml changed.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= results/quick

.PHONY: setup bench test asv-smoke clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,nest]"
	touch $@

# The main job: a quick benchmark sweep on the default network, then the report.
bench: setup
	$(VENV)/bin/spark-bench run --quick --out $(OUT)
	$(VENV)/bin/spark-bench report $(OUT)

test: setup
	$(PY) -m pytest

# CI's asv smoke run: every benchmark once (--quick) in this environment, so a broken
# benchmark fails CI. Timings from it are not tracked (shared runners are noisy).
asv-smoke: setup
	$(VENV)/bin/asv machine --yes --machine ci-smoke >/dev/null
	$(VENV)/bin/asv run --python=same --quick --machine ci-smoke --show-stderr \
		--set-commit-hash $$(git rev-parse HEAD) --bench 'ClosedLoop|Speedup'

clean:
	rm -rf $(VENV) .cache results
