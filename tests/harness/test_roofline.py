"""The roofline figures: exact event counts, the bound's arithmetic, and a real small run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from adapters.base import BackendOptions
from adapters.spec import materialise
from adapters.spec.inputs import InputStream
from adapters.spec.networks import tiny
from benchmarks import roofline
from benchmarks.cli import main as cli_main
from adapters.registry import load_backend


def test_event_count_is_spikes_times_out_degree():
    net = materialise(tiny())
    rng = np.random.default_rng(0)
    inputs = rng.random((50, net.spec.input.size)) < 0.1
    spikes = {p.name: (np.arange(5), rng.integers(0, p.size, 5)) for p in net.populations}
    expected = 0
    for proj in net.projections:  # brute force: every synapse whose source spiked
        if proj.spec.source == net.spec.input.name:
            expected += int(inputs[:, proj.pre].sum())
        else:
            idx = spikes[proj.spec.source][1]
            expected += sum(int((proj.pre == i).sum()) for i in idx)
    assert expected > 0
    assert roofline.count_events(net, spikes, inputs) == expected


def test_bandwidth_counts_read_and_written_bytes_over_best_time():
    ticks = itertools.count(step=0.5)  # each copy takes 0.5 s on this clock
    bw = roofline.copy_bandwidth(array_mb=1.0, repeats=2, clock=lambda: next(ticks))
    assert bw.bytes_per_second == pytest.approx(2 * 2**20 / 0.5)


def test_bytes_per_event_by_dtype():
    assert roofline.bytes_per_event("float32") == 8
    assert roofline.bytes_per_event("float64") == 12


def test_measure_spark_on_tiny(tmp_path):
    """A real (small) measurement: events from the recorded run, a positive rate under the
    bound's arithmetic, the same event count for every backend."""
    net = materialise(tiny())
    spark = load_backend("spark")
    bw = roofline.Bandwidth(bytes_per_second=1e10, array_mb=1.0, repeats=1)
    got_bw, rows = roofline.measure(net, {"spark": spark}, spark,
                                    BackendOptions(cache_dir=tmp_path), runs=1, bandwidth=bw)
    assert got_bw is bw
    (row,) = rows
    spikes = InputStream(net.spec).open_loop()
    assert row.events > int(spikes.sum())  # inputs alone have at least one synapse each
    assert row.bound_events_per_second == pytest.approx(1e10 / 12)  # tiny is float64
    assert row.events_per_second == pytest.approx(row.events / row.loop_seconds)
    assert "spark" in roofline.format_table(bw, rows, net.dtype)


def test_cli_unknown_backend_is_a_usage_error(capsys):
    assert cli_main(["roofline", "tiny", "--backends", "nonsense"]) == 2
    assert "--backends: unknown nonsense" in capsys.readouterr().err
