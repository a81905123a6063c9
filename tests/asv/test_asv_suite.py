"""The asv suite is well-formed, and the regression gate flags a real slowdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _asv(*args: str, cwd: Path, home: Path | None = None) -> subprocess.CompletedProcess:
    """asv in a subprocess; ``home`` keeps its machine file out of the user's home."""
    env = {**os.environ, "HOME": str(home)} if home else None
    return subprocess.run([sys.executable, "-m", "asv", *args], cwd=cwd, capture_output=True,
                          text=True, check=False, timeout=600, env=env)


def test_asv_check_passes():
    proc = _asv("check", "--python=same", cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout + proc.stderr


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env=env).stdout.strip()


@pytest.fixture(scope="module")
def two_commits(tmp_path_factory) -> tuple[Path, str, str]:
    """A scratch repo whose second commit injects a 10x slower benchmark, both measured
    with real `asv run --python=same`."""
    repo = tmp_path_factory.mktemp("asvrepo")
    conf = json.loads("\n".join(line for line in (ROOT / "asv.conf.json").read_text().splitlines()
                                if not line.strip().startswith("//")))
    conf.update(benchmark_dir="bench", repo=".")
    (repo / "asv.conf.json").write_text(json.dumps(conf))
    (repo / "bench").mkdir()
    (repo / "bench" / "__init__.py").write_text("")
    # The benchmark stays the same (asv versions benchmarks by their source); the code it
    # measures gets slower in the second commit.
    (repo / "bench" / "bench_sleep.py").write_text(
        "from .work import run\n\ndef time_work():\n    run()\n")
    _git("init", "-q", "-b", "main", cwd=repo)
    hashes = []
    for seconds in (0.002, 0.02):
        (repo / "bench" / "work.py").write_text(f"import time\n\ndef run():\n    time.sleep({seconds})\n")
        _git("add", "-A", cwd=repo)
        _git("commit", "-qm", f"sleep {seconds}", cwd=repo)
        commit = _git("rev-parse", "HEAD", cwd=repo)
        hashes.append(commit)
        proc = _asv("run", "--python=same", "--quick", "--set-commit-hash", commit,
                    "--machine", "ci-test", "--show-stderr", cwd=repo, home=repo)
        if "machine" in proc.stdout + proc.stderr and proc.returncode != 0:
            _asv("machine", "--yes", "--machine", "ci-test", cwd=repo, home=repo)
            proc = _asv("run", "--python=same", "--quick", "--set-commit-hash", commit,
                        "--machine", "ci-test", cwd=repo, home=repo)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return repo, hashes[0], hashes[1]


@pytest.mark.serial(reason="times an injected 10x slowdown with asv")
def test_gate_flags_injected_slowdown(two_commits):
    repo, base, head = two_commits
    proc = subprocess.run([sys.executable, "-m", "benchmarks.asv_gate", base, head,
                           "--config", str(repo / "asv.conf.json")],
                          capture_output=True, text=True, check=False, cwd=repo,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "PERFORMANCE DECREASED" in proc.stdout


@pytest.mark.serial(reason="times an injected 10x slowdown with asv")
def test_gate_passes_the_other_way_round(two_commits):
    repo, base, head = two_commits
    proc = subprocess.run([sys.executable, "-m", "benchmarks.asv_gate", head, base,
                           "--config", str(repo / "asv.conf.json")],
                          capture_output=True, text=True, check=False, cwd=repo,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PERFORMANCE DECREASED" not in proc.stdout


@pytest.mark.parametrize("backend", ["spark", "brian2-cpp"])
def test_benchmark_functions_run_directly(backend, tmp_path, monkeypatch):
    """setup + body of the asv benchmarks, called the way asv calls them."""
    from benchmarks.suite import common
    from benchmarks.suite.bench_closed_loop import ClosedLoop, Compile, Latency

    monkeypatch.setattr(common, "CACHE", tmp_path / "cache")
    bench = ClosedLoop()
    bench.setup(backend, 10)
    try:
        bench.time_closed_loop(backend, 10)
        per_sim_s = bench.track_loop_seconds_per_simulated_second(backend, 10)
    finally:
        bench.teardown(backend, 10)
    assert per_sim_s > 0
    warm = Compile().track_compile_seconds_warm(backend)
    assert warm >= 0
    # the p99 figure (the CI smoke run, make asv-smoke, runs only its p50 twin: same setup)
    latency = Latency()
    latency.setup(backend)
    try:
        assert latency.track_latency_p50_k1(backend) > 0 and latency.track_latency_p99_k1(backend) > 0
    finally:
        latency.teardown(backend)


def test_too_slow_combination_is_skipped_not_failed():
    from benchmarks.suite.bench_closed_loop import ClosedLoop

    bench = ClosedLoop()
    with pytest.raises(NotImplementedError, match="timeout"):
        bench.setup("brian2-runtime-run-per-chunk", 1)
    bench.teardown("brian2-runtime-run-per-chunk", 1)  # asv tears down after a skipped setup too


def test_the_ci_smoke_grid_runs_every_benchmark_on_fewer_cells():
    """SPARK_BENCH_ASV_SMOKE=1 (make asv-smoke): k = 10 only and Speedup on two backends;
    every benchmark class is still there, and the tracked grid is unchanged without it."""
    code = ("import json; from benchmarks.suite import bench_closed_loop as b; "
            "print(json.dumps([b.ClosedLoop.params, b.Speedup.params, b.Latency.params]))")
    grids = {}
    for smoke in ("1", ""):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=ROOT, env={**os.environ, "SPARK_BENCH_ASV_SMOKE": smoke})
        grids[smoke] = json.loads(out.stdout)
    closed, speedup, latency = grids["1"]
    assert closed[1] == speedup[1] == [10] and speedup[0] == ["spark", "brian2-cpp"]
    assert set(closed[0]) == set(grids[""][0][0]) and latency == grids[""][2]
    assert grids[""][0][1] == [1, 10, 100] and grids[""][1][0] == grids[""][0][0]
