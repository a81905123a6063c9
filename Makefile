# The two quick-start commands are `make bench` and `make test` (see README.md).
# Both create .venv from scratch when it is missing or pyproject.toml changed.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= results/quick

.PHONY: setup bench test test-slow test-all docs asv-smoke gate asv-history clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,nest,cuda,ray,brainpy,docs]"
	# brian2cuda 1.0a7 declares brian2==2.8.0, but generates and compiles fine with the
	# brian2 2.9.0 we need for numpy 2.3 (1.0b1 does not import with 2.9.0): so no deps.
	$(PY) -m pip install --quiet --no-deps brian2cuda==1.0a7
	touch $@

# The main job: a quick benchmark sweep on the default network, then the report.
bench: setup
	$(VENV)/bin/spark-bench run --quick --out $(OUT)
	$(VENV)/bin/spark-bench report $(OUT)

# The tests, in two tiers (tests/conftest.py): `make test` is the fast tier a contributor
# runs before every commit (every package's unit tests, bit-identity on small networks, the
# spec, the harness with fakes; under 10 min on 2 cores); `make test-all` adds the slow
# tier (cold builds, nvcc, the CUDA emulation, the Ray cluster, bigger networks). CI runs
# both. Each tier is two passes: its tests spread over JOBS pytest-xdist workers, then its
# `serial` tests (timings, kills on deadlines) alone. A pass that collects nothing fails.
# SPARK_BENCH_CUDA_COMPILE=1: generate + nvcc-compile the CUDA projects of `tiny`;
# SPARK_BENCH_REQUIRE_NATIVE=1: the native kernels must build (g++), else the tests fail;
# SPARK_BENCH_REQUIRE_RAY=1: the Ray executor's cluster tests must run.
JOBS       ?= 2
TEST_ENV   := SPARK_BENCH_CUDA_COMPILE=1 SPARK_BENCH_REQUIRE_NATIVE=1 SPARK_BENCH_REQUIRE_RAY=1
PYTEST     := $(TEST_ENV) $(PY) -m pytest
PARALLEL   := -n $(JOBS) --dist loadgroup
DURATIONS  ?= --durations=15

test: setup
	$(PYTEST) -m "not slow and not serial" $(PARALLEL) $(DURATIONS)
	$(PYTEST) -m "not slow and serial" $(DURATIONS)

test-slow: setup
	$(PYTEST) -m "slow and not serial" $(PARALLEL) $(DURATIONS)
	$(PYTEST) -m "slow and serial" $(DURATIONS)

test-all: test test-slow

# The documentation site (MkDocs, strict: a broken link or a page left out of the navigation
# fails): reports/docs/pages plus pages generated from the code (reports/docs/build.py).
docs: setup
	$(PY) -m reports.docs.build

# CI's asv smoke run: every benchmark once (--quick) in this environment, on every backend
# at k = 10 only (SPARK_BENCH_ASV_SMOKE, benchmarks/suite/common.py), so a broken benchmark
# fails CI. Timings from it are not tracked (shared runners are noisy).
# The CI smoke run: every benchmark class at k = 10 (benchmarks/suite/common.py), Latency's
# p50 only (its p99 twin has the same setup and pass; tests/asv calls it directly).
asv-smoke: setup
	$(VENV)/bin/asv machine --yes --machine ci-smoke >/dev/null
	SPARK_BENCH_ASV_SMOKE=1 $(VENV)/bin/asv run --python=same --quick --machine ci-smoke --show-stderr \
		--set-commit-hash $$(git rev-parse HEAD) --bench 'time_closed_loop|track_speedup|track_latency_p50'

# asv history across runs: this commit's results added to the asv-results branch, then
# `asv publish` (static pages in .asv/html). ASV_ARGS='--quick' for a smoke-sized run.
asv-history: setup
	ASV=$(VENV)/bin/asv benchmarks/asv_history.sh $(ASV_ARGS)

# The CI regression gate: this commit against its parent (GATE_BASE=REV for another),
# noise-free figures (spike digests, compile-cache counts, instruction counts) and
# interleaved wall-clock A/B rounds; exit 1 with a table on a regression. See README.
gate: setup
	$(PY) -m benchmarks.gate

clean:
	rm -rf $(VENV) .cache results
