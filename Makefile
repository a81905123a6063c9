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
	$(PY) -m pip install --quiet -e ".[test,nest,cuda]"
	# brian2cuda 1.0a7 declares brian2==2.8.0, but generates and compiles fine with the
	# brian2 2.9.0 we need for numpy 2.3 (1.0b1 does not import with 2.9.0): so no deps.
	$(PY) -m pip install --quiet --no-deps brian2cuda==1.0a7
	touch $@

# The main job: a quick benchmark sweep on the default network, then the report.
bench: setup
	$(VENV)/bin/spark-bench run --quick --out $(OUT)
	$(VENV)/bin/spark-bench report $(OUT)

# SPARK_BENCH_CUDA_COMPILE=1: also generate + nvcc-compile the CUDA project of `tiny`
# (a few minutes on 2 cores; skipped with the reason when nvcc or brian2cuda is missing).
# SPARK_BENCH_REQUIRE_NATIVE=1: the native kernels must build (g++), else the tests fail.
test: setup
	SPARK_BENCH_CUDA_COMPILE=1 SPARK_BENCH_REQUIRE_NATIVE=1 $(PY) -m pytest

# CI's asv smoke run: every benchmark once (--quick) in this environment, so a broken
# benchmark fails CI. Timings from it are not tracked (shared runners are noisy).
asv-smoke: setup
	$(VENV)/bin/asv machine --yes --machine ci-smoke >/dev/null
	$(VENV)/bin/asv run --python=same --quick --machine ci-smoke --show-stderr \
		--set-commit-hash $$(git rev-parse HEAD) --bench 'time_closed_loop|track_speedup|track_latency'

clean:
	rm -rf $(VENV) .cache results
