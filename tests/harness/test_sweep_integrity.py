"""Sweep integrity and process hygiene: one network and one sweep per results directory,
honest exit codes, and no process that outlives the sweep or the unit that started it."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.results import load_rows
from benchmarks.sweep import exclusive_lock

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.serial(reason="kills sweeps and waits on deadlines for their processes to go")


def _run(out: Path, cache: Path, network: str, *extra: str, timeout: float = 600):
    cmd = [sys.executable, "-m", "benchmarks.cli", "run", network, "--backends", "spark",
           "--timesteps", "10", "--runs", "1", "--duration", "10", "--no-cold", "--no-fidelity",
           "--cache-dir", str(cache), "--out", str(out), *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _tiny_file(path: Path, exc_size: int | None = None) -> Path:
    doc = json.loads(subprocess.run([sys.executable, "-m", "benchmarks.cli", "spec", "export",
                                     "tiny", "--format", "json"], cwd=ROOT, capture_output=True,
                                    text=True, check=True).stdout)
    if exc_size is not None:
        doc["populations"][0]["size"] = exc_size
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.slow(reason="three or more whole sweeps in subprocesses (~30 s)")
def test_an_edited_spec_is_not_resumed_into_the_same_directory(tmp_path, cache):
    spec = _tiny_file(tmp_path / "net.json")
    out = tmp_path / "res"
    first = _run(out, cache, str(spec))
    assert first.returncode == 0, first.stderr[-2000:]
    again = _run(out, cache, str(spec))
    assert again.returncode == 0 and "resuming" in again.stderr, again.stderr[-2000:]
    _tiny_file(spec, exc_size=10 * json.loads(spec.read_text())["populations"][0]["size"])
    edited = _run(out, cache, str(spec))
    assert edited.returncode == 2, edited.stderr[-2000:]
    message = edited.stderr.strip().splitlines()[-1]
    # the refusal names the field that changed (not two digests)
    assert "spec fields populations[a].size: 40 there, 400 now" in message
    assert "another --out" in message
    assert "Traceback" not in edited.stderr
    assert set(load_rows(out).sweep_id) == {json.loads((out / "provenance.json").read_text())["sweep_id"]}


@pytest.mark.slow(reason="three or more whole sweeps in subprocesses (~30 s)")
def test_a_second_sweep_on_a_locked_directory_is_refused(tmp_path, cache):
    out = tmp_path / "res"
    with exclusive_lock(out):
        proc = _run(out, cache, "tiny")
    assert proc.returncode == 2
    assert f"another sweep is writing here (pid {os.getpid()}" in proc.stderr
    assert not (out / "cells").exists() and not (out / "provenance.json").exists()
    after = _run(out, cache, "tiny")  # the lock is gone with its holder
    assert after.returncode == 0, after.stderr[-2000:]


@pytest.mark.slow(reason="three or more whole sweeps in subprocesses (~30 s)")
def test_failed_cells_exit_1_and_a_rerun_tries_them_again(tmp_path, cache):
    out = tmp_path / "res"
    failed = _run(out, cache, "tiny", "--unit-timeout", "0.01")
    assert failed.returncode == 1, failed.stderr[-2000:]
    assert "failed cell(s)" in failed.stderr and "tiny-i1-spark-float64-t1-k10" in failed.stderr
    assert set(load_rows(out).status) == {"failed"}
    assert list((cache / "tmp").glob("worker-*")) == []  # the killed worker's TMPDIR is gone
    retried = _run(out, cache, "tiny")  # a longer timeout is not another sweep
    assert retried.returncode == 0, retried.stderr[-2000:]
    rows = load_rows(out)
    assert set(rows.status) == {"ok"} and (rows.phase == "loop").any()


def _gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie waiting for init to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc")
def test_ending_a_unit_ends_every_process_it_started():
    from benchmarks.unit_process import end_process_group

    worker = subprocess.Popen(["sh", "-c", "sleep 300 & echo $!; wait"], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    grandchild = int(worker.stdout.readline())
    end_process_group(worker)
    assert _wait_gone(grandchild), "the worker's own child outlived the unit"
    with pytest.raises(ProcessLookupError):
        os.killpg(worker.pid, 0)


WORKER_LIKE = """
import subprocess, sys
from benchmarks.worker import end_with_parent
end_with_parent()
child = subprocess.Popen(["sleep", "300"])
print(child.pid, flush=True)
child.wait()
"""

SWEEP_LIKE = """
import os, subprocess, sys, time
from benchmarks.worker import SWEEP_PID_ENV
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True,
                          start_new_session=True, env={**os.environ, SWEEP_PID_ENV: str(os.getpid())})
print(worker.pid, worker.stdout.readline().strip(), flush=True)
time.sleep(300)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_sweep_takes_its_workers_and_their_children_with_it():
    sweep = subprocess.Popen([sys.executable, "-c", SWEEP_LIKE, WORKER_LIKE], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    worker, grandchild = (int(v) for v in sweep.stdout.readline().split())
    assert not _gone(grandchild)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    # 30 s, not 10: once, in a clean-clone run of the whole suite beside a learning run on
    # the other core, the worker was still there after 10 s (cause not found; alone and
    # with tests/harness it ends well within 10 s). A worker that outlives its sweep for
    # good still fails here.
    assert _wait_gone(worker, 30.0), "the worker outlived its sweep"
    assert _wait_gone(grandchild, 30.0), "the worker's child outlived the sweep"


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                 (signal.SIGINT, 130, "interrupted")])
def test_an_interrupt_ends_the_sweep_and_its_worker(tmp_path, cache, signum, code, word):
    """SIGTERM (what CI or a batch system sends) or SIGINT (Ctrl-C) to ``spark-bench run``:
    exit 143 or 130 with how to resume, the worker's process group is gone, the results lock
    is free and no cell is half-written."""
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "benchmarks.cli", "run", "tiny", "--backends", "spark",
           "--timesteps", "1", "--runs", "3", "--duration", "2000", "--no-cold", "--no-fidelity",
           "--cache-dir", str(cache), "--out", str(out)]
    sweep = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 300
    worker = None
    while worker is None and time.monotonic() < deadline:
        children = Path(f"/proc/{sweep.pid}/task/{sweep.pid}/children")
        pids = children.read_text().split() if children.exists() else []
        worker = int(pids[0]) if pids else None
        time.sleep(0.1)
    assert worker is not None, "no worker started"
    time.sleep(3)  # well inside the unit: compiling or looping
    sweep.send_signal(signum)
    _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == code, err[-2000:]
    assert word in err and "run the same command again to resume" in err
    assert "Traceback" not in err
    assert _wait_gone(worker)
    with exclusive_lock(out):  # free again
        pass
    for cell in (out / "cells").glob("*.csv") if (out / "cells").exists() else ():
        assert cell.read_text().startswith("sweep_id,")


class _FullDisk:
    """A file whose writes fail as on a full disk."""

    def __init__(self, fh):
        self._fh = fh

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path, monkeypatch, capsys):
    import adapters.files
    from benchmarks.cli import main

    real_fdopen = os.fdopen
    monkeypatch.setattr(adapters.files.os, "fdopen",
                        lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k)))
    out = tmp_path / "res"
    assert main(["run", "tiny", "--backends", "spark", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot write results" in err and "No space left on device" in err
    assert len(err.strip().splitlines()) == 1, err
    assert [p.name for p in out.iterdir() if p.name != ".sweep.lock"] == []  # no temp files


def test_the_same_spec_by_any_path_is_the_same_sweep(tmp_path, monkeypatch):
    """Resume is keyed on the spec's content: the built-in name, a file of the same network by
    relative or absolute path, or a copy, are one sweep; an edit of the file is another."""
    from dataclasses import replace

    from adapters.spec.codec import write_spec_file
    from adapters.spec.networks import tiny
    from benchmarks.sweep import SweepConfig

    write_spec_file(tiny(), tmp_path / "tiny.toml")
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "mine.toml").write_text((tmp_path / "tiny.toml").read_text())
    monkeypatch.chdir(tmp_path)
    base = SweepConfig(network="tiny", backends=("spark",), timesteps=(10,), instances=1, runs=1,
                       dtype="float64", threads=1, duration_ms=50.0, cell_budget_s=10.0,
                       unit_timeout_s=60.0, profile="full")
    ids = {replace(base, network=n).sweep_id()
           for n in ("tiny", "tiny.toml", str(tmp_path / "tiny.toml"), "copy/mine.toml")}
    assert len(ids) == 1
    edited = (tmp_path / "tiny.toml").read_text().replace("seed = ", "seed = 1", 1)
    assert edited != (tmp_path / "tiny.toml").read_text()
    (tmp_path / "edited.toml").write_text(edited)
    assert replace(base, network="edited.toml").sweep_id() not in ids
