"""Sweeps through a real local Ray cluster (a head and worker nodes on the loopback address,
started and killed by these tests): the same rows as the local executor, and the faults a
cluster has - a worker killed mid-unit, a node that disappears, an interrupted driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.results import load_rows

if os.environ.get("SPARK_BENCH_REQUIRE_RAY") != "1":
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'spark-bench[ray]')")

from .local_ray import LocalCluster, new_cluster  # noqa: E402

pytestmark = [
    pytest.mark.slow(reason="starts a local Ray cluster and whole sweeps on it (~25 s a test)"),
    pytest.mark.serial(reason="kills nodes and workers and waits on Ray's deadlines"),
]

ROOT = Path(__file__).resolve().parents[2]
TIMING_COLUMNS = ("seconds", "rtf", "peak_rss_mb", "latency_p50_s", "latency_p90_s",
                  "latency_p99_s", "latency_max_s", "simulator_loop_s")
LONG_UNIT = ("--backends", "spark", "--instances", "1", "--timesteps", "1,2,4,5,10,20,25,50,100", "--runs", "2",
             "--duration", "500", "--no-cold", "--no-fidelity")
"""One unit of ~10 s: long enough to be hit mid-way after its first cells."""


@pytest.fixture
def cluster():
    """A head that admits no timing unit and one worker node ``a`` that does."""
    c = new_cluster()
    try:
        c.start_head(slot=False)
        c.add_node("a")
        c.wait_for(1)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _argv(out: Path, cache: Path, *extra: str, network: str = "tiny") -> list[str]:
    return [sys.executable, "-m", "benchmarks.cli", "run", network, "--cache-dir", str(cache),
            "--out", str(out), *extra]


def _run(out: Path, cache: Path, *extra: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(_argv(out, cache, *extra), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _ray(c: LocalCluster, *extra: str) -> tuple[str, ...]:
    return ("--executor", "ray", "--address", c.address, *extra)


def _comparable(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows without their timings (columns, and the compile seconds a reason quotes)."""
    keep = [c for c in rows.columns if c not in TIMING_COLUMNS]
    rows = rows[keep].assign(reason=rows.reason.str.replace(r"\d+\.\d+ s\b", "T s", regex=True))
    return rows.sort_values(["backend", "k", "phase", "run"]).reset_index(drop=True)


def _wait_for_cells(out: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cells = sorted((out / "cells").glob("*-k[0-9]*.csv"))
        if len(cells) >= n:
            return cells
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.1)
    raise TimeoutError(f"{out}: fewer than {n} timed cells after {timeout} s")


def _workers(marker: str) -> list[int]:
    """pids of benchmark worker processes whose command line holds ``marker``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "benchmarks.worker" in text and marker in text:
            found.append(int(cmdline.parent.name))
    return found


def _said(stderr: str) -> str:
    """The console output with rich's line wrapping undone."""
    return " ".join(stderr.split())


def _cell_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out / "cells").glob("*.csv")}


def test_a_sweep_through_ray_has_the_local_sweeps_rows(cluster, tmp_path, cache):
    args = ("--backends", "spark,spark-native", "--instances", "1", "--timesteps", "10,100", "--runs", "1",
            "--duration", "20", "--no-cold")
    local = _run(tmp_path / "local", cache, *args)
    assert local.returncode == 0, local.stderr[-3000:]
    remote = _run(tmp_path / "ray", cache, *args, *_ray(cluster))
    assert remote.returncode == 0, remote.stderr[-3000:]
    a, b = load_rows(tmp_path / "local"), load_rows(tmp_path / "ray")
    assert len(a) == len(b) > 0
    assert sorted(p.name for p in (tmp_path / "local" / "cells").glob("*.csv")) == \
        sorted(p.name for p in (tmp_path / "ray" / "cells").glob("*.csv"))
    pd.testing.assert_frame_equal(_comparable(a), _comparable(b))  # sweep id, counts, fidelity, ...
    assert (b.loc[b.backend == "spark-native", "fidelity_identical_fraction"] == 1.0).all()
    units = pd.read_csv(tmp_path / "ray" / "logs" / "ray_units.csv")
    assert list(units.outcome) == ["ok", "ok"] and units.unit.iloc[0].startswith("tiny-i1-spark-float64")
    assert (units.task_s >= units.worker_s).all()
    machine = b.machine.iloc[0]
    assert set(b.machine) == {machine} and (tmp_path / "ray" / "machines" / f"{machine}.json").exists()
    said = _said(remote.stderr)
    assert "executor ray at" in said and "node-side overhead per unit" in said


def test_a_worker_killed_mid_unit_keeps_its_finished_cells_and_a_rerun_finishes(cluster, tmp_path, cache):
    out = tmp_path / "res"
    sweep = subprocess.Popen(_argv(out, cache, *LONG_UNIT, *_ray(cluster)), cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_cells(out, 2, sweep)
    workers = _workers(str(cache))
    assert len(workers) == 1, workers
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 1, stderr[-3000:]
    rows = load_rows(out)
    failed = rows[rows.status == "failed"]
    assert len(failed) > 0 and failed.reason.str.contains("worker exited with code -9").all()
    kept = {name: data for name, data in _cell_files(out).items() if b"failed" not in data}
    assert len(kept) >= 3  # the build cell and the cells finished before the kill

    again = _run(out, cache, *LONG_UNIT, *_ray(cluster))
    assert again.returncode == 0, again.stderr[-3000:]
    after = _cell_files(out)
    assert len(after) == 1 + 9 and set(load_rows(out).status) == {"ok"}
    assert all(after[name] == data for name, data in kept.items() if "kbuild" not in name)


def _kill_the_units_node_midway(cluster: LocalCluster, out: Path, cache: Path,
                                retries: int) -> tuple[subprocess.Popen, dict[str, bytes]]:
    """With a second node up, start a one-unit sweep, and once 2 cells are back kill the
    node running it (raylet, Ray workers, the unit's worker: all gone at once); the sweep
    and the timed cells it had written before."""
    cluster.add_node("b")
    cluster.wait_for(2)
    sweep = subprocess.Popen(_argv(out, cache, *LONG_UNIT, *_ray(cluster, "--retries", str(retries))),
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_cells(out, 2, sweep)
    workers = _workers(str(cache))
    assert len(workers) == 1, workers
    node = cluster.node_of(workers[0])
    before = {name: data for name, data in _cell_files(out).items() if "kbuild" not in name}
    cluster.kill_node(node)
    return sweep, before


def test_a_node_that_disappears_mid_unit_is_retried_on_another(cluster, tmp_path, cache):
    out = tmp_path / "res"
    sweep, before = _kill_the_units_node_midway(cluster, out, cache, retries=1)
    _, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, stderr[-3000:]
    assert "lost on the cluster" in _said(stderr) and "trying again (attempt 2)" in _said(stderr)
    after = _cell_files(out)
    assert len(after) == 1 + 9 and set(load_rows(out).status) == {"ok"}
    assert all(after[name] == data for name, data in before.items())  # kept, not measured twice
    units = pd.read_csv(out / "logs" / "ray_units.csv")
    assert list(units.attempt) == [1, 2]
    assert units.outcome.iloc[0].startswith("lost: ") and units.outcome.iloc[1] == "ok"
    again = _run(out, cache, *LONG_UNIT, *_ray(cluster))
    assert again.returncode == 0 and "resuming: 10 of 10 cells already done" in _said(again.stderr), \
        again.stderr[-3000:]
    assert _cell_files(out) == after


def test_an_interrupted_driver_ends_its_tasks_and_a_rerun_finishes(cluster, tmp_path, cache):
    out = tmp_path / "res"
    sweep = subprocess.Popen(_argv(out, cache, *LONG_UNIT, *_ray(cluster)), cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_cells(out, 2, sweep)
    sweep.send_signal(signal.SIGINT)
    _, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, stderr[-3000:]
    assert "every finished cell is kept" in _said(stderr)
    deadline = time.monotonic() + 30
    while _workers(str(cache)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _workers(str(cache)) == [], "the cancelled unit's worker outlived the driver"
    kept = {name: data for name, data in _cell_files(out).items() if "kbuild" not in name}
    assert kept and all(b"failed" not in data for data in kept.values())

    again = _run(out, cache, *LONG_UNIT, *_ray(cluster))
    assert again.returncode == 0, again.stderr[-3000:]
    after = _cell_files(out)
    assert len(after) == 1 + 9 and set(load_rows(out).status) == {"ok"}
    assert all(after[name] == data for name, data in kept.items())


def test_a_unit_lost_with_its_node_and_no_retries_left_fails_with_the_reason(cluster, tmp_path, cache):
    out = tmp_path / "res"
    sweep, _ = _kill_the_units_node_midway(cluster, out, cache, retries=0)
    _, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 1, stderr[-3000:]
    rows = load_rows(out)
    failed = rows[rows.status == "failed"]
    assert len(failed) and failed.reason.str.startswith("lost on the Ray cluster after 1 attempt(s): ").all()
    assert (rows.status == "ok").any()  # the cells streamed back before the node went
    again = _run(out, cache, *LONG_UNIT, *_ray(cluster))
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(_cell_files(out)) == 1 + 9 and set(load_rows(out).status) == {"ok"}


def test_a_cluster_left_without_any_node_fails_what_is_left_instead_of_waiting(cluster, tmp_path, cache):
    out = tmp_path / "res"
    sweep = subprocess.Popen(_argv(out, cache, *LONG_UNIT, *_ray(cluster)), cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "SPARK_BENCH_RAY_NO_NODE_GRACE_S": "5"})
    _wait_for_cells(out, 2, sweep)
    cluster.kill_node("a")  # the only node with a slot; the retry has nowhere to go
    _, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 1, stderr[-3000:]
    rows = load_rows(out)
    failed = rows[rows.status == "failed"]
    assert len(failed) and failed.reason.str.contains("no node of the Ray cluster has offered").all()
    assert (rows.status == "ok").any()
