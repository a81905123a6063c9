"""`spark-bench run` end to end in subprocesses: rows, provenance, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.results import load_rows

ROOT = Path(__file__).resolve().parents[2]


def _cmd(out: Path, cache: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.cli", "run", "tiny", "--timesteps", "10,100",
            "--runs", "2", "--duration", "20", "--no-cold", "--cache-dir", str(cache),
            "--out", str(out), *extra]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_sweep_rows_and_provenance(tmp_path: Path, cache: Path):
    out = tmp_path / "res"
    proc = subprocess.run(_cmd(out, cache, "--backends", "spark,ghost-free"), cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "ghost-free" in proc.stderr  # unknown backend: usage error
    proc = subprocess.run(_cmd(out, cache, "--backends", "spark", "--instances", "2"), cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = load_rows(out)
    loops = rows[rows.phase == "loop"]
    assert set(loops.backend) == {"spark"}
    assert sorted(loops.instance.unique()) == [1, 2]
    assert sorted(loops.k.unique()) == [10, 100]
    assert len(loops) == 2 * 2 * 2 and set(loops.status) == {"ok"}
    assert (loops.seconds > 0).all() and np.allclose(loops.sim_seconds, 0.02)
    prov = json.loads((out / "provenance.json").read_text())
    for key in ("cpu_model", "cores", "python", "versions", "git_commit", "command", "sweep_id"):
        assert prov[key] not in (None, ""), key
    assert prov["versions"]["jax"] and prov["versions"]["numpy"]
    assert prov["neurons"] == 70 and prov["synapses_expected"] > 0  # tiny: 40 + 30
    for key in ("gpu", "gpu_driver", "cuda_version"):
        assert key in prov
    # every row says where its backend ran: spark is a CPU backend, its worker ran JAX
    assert set(rows.device) == {"cpu"}
    assert set(rows.gpu_model) == set(rows.gpu_driver) == set(rows.cuda_version) == {""}
    assert all("cpu" in d.lower() for d in loops.jax_device), set(loops.jax_device)
    assert set(rows.sweep_id) == {prov["sweep_id"]}
    assert "s per simulated second" in proc.stderr  # live summary lines


def _cells(out: Path) -> dict[str, tuple[int, str]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in (out / "cells").glob("*.csv")}


@pytest.mark.serial(reason="kills a sweep mid-run on a deadline")
def test_killed_sweep_resumes_without_losing_or_duplicating_rows(tmp_path: Path, cache: Path):
    out = tmp_path / "res"
    cmd = _cmd(out, cache, "--backends", "spark", "--instances", "3")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        done = list((out / "cells").glob("*-k*.csv")) if (out / "cells").exists() else []
        if len([p for p in done if not p.name.endswith("-kbuild.csv")]) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail("the sweep finished before it could be killed")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _cells(out)
    assert before, "no cell was finished before the kill"
    resumed = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stderr
    after = _cells(out)
    for name, (mtime, text) in before.items():
        assert after[name] == (mtime, text), f"{name} was rewritten"
    rows = load_rows(out)
    keys = rows[["instance", "backend", "k", "run", "phase"]]
    assert not keys.duplicated().any()
    loops = rows[rows.phase == "loop"]
    assert len(loops) == 3 * 2 * 2 and set(loops.status) == {"ok"}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity control here")
def test_worker_pins_itself_to_the_stated_thread_count():
    """"1 thread" means one core for every backend (XLA's pool and Brian2's binary included):
    checked in a child process, so that this test process stays unpinned."""
    code = ("import json, os; from benchmarks.worker import pin_to_cores; "
            "print(json.dumps([pin_to_cores(1), sorted(os.sched_getaffinity(0))]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    cores, affinity = json.loads(out)
    assert len(cores) == 1 and affinity == cores


def test_unsupported_cells_are_refused_before_any_worker_starts(tmp_path: Path, cache: Path):
    """NEST is float64-only and spark-native single-threaded: a float32 sweep at 2 threads
    records both as skipped, with the reason, and starts no worker for them (no unit log)."""
    out = tmp_path / "res"
    proc = subprocess.run(_cmd(out, cache, "--backends", "nest,spark-native", "--dtype", "float32",
                               "--threads", "2", "--instances", "1"),
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = load_rows(out)
    assert set(rows.status) == {"skipped"}
    assert set(rows.phase) == {"compile_warm", "loop"}  # nothing materialised or built
    nest = rows[rows.backend == "nest"]
    assert all("float64 only" in r for r in nest.reason)
    native = rows[rows.backend == "spark-native"]
    assert all("one thread only" in r for r in native.reason)
    assert sorted(native[native.phase == "loop"].k) == [10, 100]
    assert list((out / "logs").glob("*.log")) == []
