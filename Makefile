# The two quick-start commands are `make bench` and `make test` (see README.md).
# Both create .venv from scratch when it is missing or pyproject.toml changed.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= results/quick

.PHONY: setup bench test clean

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

clean:
	rm -rf $(VENV) .cache results
