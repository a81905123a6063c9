"""The node's half of the Ray executor without Ray (a plain generator), what a node may write
back, and the command line around ``--executor``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from benchmarks import provenance
from benchmarks.cli import main
from benchmarks.remote_unit import Seed, mismatch, result_path, run_on_node, seed_for
from benchmarks.sweep import SweepConfig, plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("good", ["cells/tiny-i1-spark-float64-t1-k10.csv",
                                  "spikes/tiny-i1-spark-float64.npz"])
def test_a_node_may_send_back_cells_and_spikes(good):
    assert str(result_path(good)) == good


@pytest.mark.parametrize("bad", ["../x.csv", "cells/../../x.csv", "/etc/passwd", "cells/x.txt",
                                 "spikes/x.csv", "logs/x.csv", "cells/.x.csv", "cells/a/b.csv",
                                 "provenance.json", "cells\\x.csv"])
def test_nothing_else_is_written_from_a_node(bad):
    with pytest.raises(ValueError, match="not a results file"):
        result_path(bad)


def test_a_node_with_other_code_is_named_with_what_differs():
    here = {"git_commit": "abc", "versions": {"jax": "0.10.2", "brian2": "2.9.0"}}
    assert mismatch({"git_commit": "abc", "versions": {"jax": "0.10.2"}}, here) is None
    said = mismatch({"git_commit": "def", "versions": {"jax": "0.10.2", "brian2": "2.8.0"}}, here)
    assert said == "commit abc here, def in the sweep; brian2 2.9.0 here, 2.8.0 in the sweep"


def _unit(tmp_path: Path, network: str = "tiny"):
    config = SweepConfig(network=network, backends=("spark",), timesteps=(10, 100), instances=1,
                         runs=1, dtype="float64", threads=1, duration_ms=20.0, cell_budget_s=20.0,
                         unit_timeout_s=300.0, profile="quick", cache_dir=str(tmp_path / "cache"),
                         measure_cold=False, fidelity=False)
    return plan(config)[0]


def test_a_node_running_other_code_refuses_before_starting_anything(tmp_path):
    unit = _unit(tmp_path)
    messages = list(run_on_node(Seed(unit=asdict(unit), expected={"git_commit": "0" * 40}), 60))
    assert len(messages) == 1 and messages[0]["kind"] == "end"
    assert "commit" in messages[0]["refused"] and "0" * 40 in messages[0]["refused"]
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("remote-unit-*"))


def test_a_unit_runs_on_a_node_from_a_spec_files_text_and_streams_its_cells(tmp_path):
    spec = tmp_path / "elsewhere" / "net.json"
    spec.parent.mkdir()
    spec.write_text(subprocess.run([sys.executable, "-m", "benchmarks.cli", "spec", "export", "tiny",
                                    "--format", "json"], cwd=ROOT, capture_output=True, text=True,
                                   check=True).stdout)
    unit = _unit(tmp_path, network=str(spec))
    results = tmp_path / "results"
    seed = seed_for(unit, results, [], None, {"git_commit": provenance.git_commit(provenance.ROOT)})
    assert seed.spec_file == ("net.json", spec.read_text())
    seed = replace(seed, unit={**seed.unit, "network": "/nowhere/net.json"})  # the node has no such file
    messages = list(run_on_node(seed, 300))
    *progress, end = messages
    assert [m["kind"] for m in progress] == ["progress"] * len(progress) and end["kind"] == "end"
    assert end["exit"]["code"] == 0 and not end["exit"]["timed_out"], end["log"][-2000:]
    sent = [name for m in messages for name in m.get("files", {})]
    assert sorted(sent) == sorted(f"cells/tiny-i1-spark-float64-t1-k{k}.csv" for k in ("build", 10, 100))
    assert len(sent) == len(set(sent))  # each file once: only what is new or changed travels
    assert end["task_s"] >= end["exit"]["seconds"] > 0
    assert end["machine"]["machine"] == provenance.machine_name()
    assert not list((tmp_path / "cache").glob("remote-unit-*"))  # the node's copy is gone


def test_the_executor_options_are_checked_on_the_command_line(tmp_path, capsys):
    base = ["run", "tiny", "--out", str(tmp_path / "r")]
    assert main([*base, "--address", "127.0.0.1:6379"]) == 2
    assert "--address: only with --executor ray" in capsys.readouterr().err
    assert main([*base, "--executor", "ray"]) == 2
    assert "expected --address HOST:PORT" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_cluster_address_that_cannot_be_one_is_refused_at_once(tmp_path, capsys):
    if os.environ.get("SPARK_BENCH_REQUIRE_RAY") != "1":
        pytest.importorskip("ray", reason="Ray is an optional extra")
    base = ["run", "tiny", "--out", str(tmp_path / "r"), "--executor", "ray"]
    assert main([*base, "--address", "nohostport"]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main([*base, "--address", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert "no Ray cluster answers there" in err and "spark_bench_slot" in err
    assert not (tmp_path / "r").exists()


def test_the_local_path_never_imports_ray():
    code = ("import sys, benchmarks.cli as c, benchmarks.sweep, benchmarks.remote_unit; "
            "args = c.build_parser().parse_args(['run', 'tiny']); "
            "assert c._executor(args) is None; print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]
