"""Rows from several machines (a sweep over a Ray cluster): one report per machine, and no
speedup that divides a time of one machine by a time of another."""

from __future__ import annotations

import json

import pandas as pd

import reports
from benchmarks.results import load_rows

from .synthetic import edit_cells, write_synthetic_results


def _spread(results, where) -> None:
    """Give every row a machine: ``where(backend, instance)``."""
    def edit(frame):
        frame["machine"] = [where(b, int(i)) for b, i in zip(frame.backend, frame.instance)]
        return frame

    edit_cells(results, edit)


def test_a_report_of_two_machines_is_one_report_per_machine(tmp_path):
    results = write_synthetic_results(tmp_path / "res")
    # instance 1 entirely on node-a; instance 2's normaliser on node-b, its spark on node-a
    _spread(results, lambda backend, instance: "node-b" if instance == 2 and backend.startswith("brian2")
            else "node-a")
    (results / "machines").mkdir()
    (results / "machines" / "node-b.json").write_text(json.dumps(
        {"machine": "node-b", "cpu_model": "Other CPU (synthetic)", "cores": 64}))
    written = reports.build_report(results, tmp_path / "report", formats=("md",))
    index = written["md"].read_text()
    assert "measured on 2 machines" in index and "| node-b | Other CPU (synthetic) | 64 |" in index

    speedups_a = pd.read_csv(written["node-a/speedups_csv"])
    spark_a = speedups_a[speedups_a.backend == "spark"]
    assert len(spark_a) and set(spark_a.instances) == {1}  # instance 2's normaliser is elsewhere
    speedups_b = pd.read_csv(written["node-b/speedups_csv"])
    assert "spark" not in set(speedups_b.backend) and set(speedups_b.instances) == {1}

    rows = load_rows(results)
    loop = rows[(rows.phase == "loop") & (rows.status == "ok") & (rows.run >= 0)]
    loop = loop.assign(per=loop.seconds / loop.sim_seconds)
    normaliser = loop[(loop.backend == "brian2-cpp-uninterrupted") & (loop.instance == 1)]["per"].mean()
    spark = loop[(loop.backend == "spark") & (loop.instance == 1) & (loop.k == 10)]["per"]
    expected = float(pd.Series(normaliser / spark).pipe(lambda s: s.prod() ** (1 / len(s))))
    assert abs(spark_a.loc[spark_a.k == 10, "mean"].iloc[0] - expected) < 1e-9 * expected
    page_b = written["node-b/md"].read_text()
    assert "Other CPU (synthetic)" in page_b


def test_rows_of_one_machine_make_one_report(tmp_path):
    results = write_synthetic_results(tmp_path / "res")
    _spread(results, lambda backend, instance: "node-a")
    written = reports.build_report(results, tmp_path / "report", formats=("md",))
    assert not any("/" in name for name in written)
    assert "measured on" not in written["md"].read_text()
