"""``spark-bench validate --dtype float32 --rates-vs-float64``: float32 runs' per-population
firing rates against a float64 run of the reference backend (tolerance 2 %, exit 1 above).

Fast: the real path runs Spark only on ``tiny`` (two small compiles); the threshold logic
uses an in-process fake backend whose float32 run drops chosen neurons' spikes."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.base import Backend, BackendOptions, BuildReport, Capabilities, ChunkInput
from benchmarks.cli import main
from benchmarks.fidelity import compare_spikes, format_rate_table

from ..harness.fakes import EVERY_KIND, register


def test_tiny_spark_float32_rates_against_float64(tmp_path, capsys):
    rc = main(["validate", "tiny", "--backends", "spark", "--dtype", "float32",
               "--rates-vs-float64", "--cache-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0, out
    assert "running spark (tiny, float32, 100 ms)" in err
    assert "running spark (tiny, float64, 100 ms)" in err
    assert "firing rates, float32 vs float64 (spark), 100 ms, tolerance 2 %:" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("population"))
    assert header.split() == ["population", "spark", "float64", "Hz", "spark", "float32", "Hz",
                              "rel", "err", "verdict"]
    rows = {line.split()[0]: line.split() for line in lines[lines.index(header) + 2:]}
    assert set(rows) == {"a", "b"}
    for pop, cells in rows.items():
        rate64, rate32 = float(cells[1]), float(cells[2])
        assert rate64 > 10.0, f"{pop} should fire (got {rate64} Hz)"
        assert abs(rate32 - rate64) / rate64 <= 0.02
        assert cells[-1] == "ok"
    assert "BELOW THRESHOLD" not in out


class _DtypeSensitive(Backend):
    """Every neuron fires every 100 steps; in float32, the first ``drop`` neurons of
    population ``a`` (of ``tiny``: 40 neurons) stay silent."""

    name = "fake-dtype"
    capabilities = Capabilities(closed_loop=True, open_loop=True, **EVERY_KIND)
    drop = 0

    def prepare(self, net, options: BackendOptions) -> BuildReport:
        self.net = net
        self.steps = 0
        return BuildReport()

    def reset(self) -> None:
        self.steps = 0

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        self.steps += chunk.k
        return np.zeros(len(self.net.spec.readout_names), np.int64)

    def recorded_spikes(self):
        out = {}
        for pop in self.net.populations:
            s, i = np.meshgrid(np.arange(0, self.steps, 100), np.arange(pop.size), indexing="ij")
            s, i = s.ravel(), i.ravel()
            if self.net.dtype == "float32" and pop.name == "a":
                keep = i >= self.drop
                s, i = s[keep], i[keep]
            order = np.lexsort((i, s))
            out[pop.name] = (s[order], i[order])
        return out


@pytest.fixture
def fake_backend(monkeypatch):
    register(monkeypatch, "fake-dtype", _DtypeSensitive)
    return _DtypeSensitive


@pytest.mark.parametrize("drop,rc", [(0, 0), (1, 1)])
def test_rate_error_above_two_percent_fails(fake_backend, monkeypatch, tmp_path, capsys, drop, rc):
    # one silent neuron of 40 in float32: 2.5 % lower rate in 'a' -> exit 1
    monkeypatch.setattr(fake_backend, "drop", drop)
    got = main(["validate", "tiny", "--backends", "fake-dtype", "--dtype", "float32",
                "--rates-vs-float64", "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert got == rc
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.split() and line.split()[0] in ("a", "b")}
    assert rows["b"][-1] == "ok" and rows["b"][3] == "0"
    if drop:
        assert rows["a"][1:4] == ["100.0000", "97.5000", "2.5"] and rows["a"][-1] == "ABOVE"
        assert ("BELOW THRESHOLD fake-dtype float32 vs fake-dtype float64: rate of 'a' differs "
                "by 2.5 % > 2 %") in out
    else:
        assert rows["a"][-1] == "ok"
        assert "BELOW THRESHOLD" not in out


def test_rates_vs_float64_needs_a_float32_run(tmp_path, capsys):
    rc = main(["validate", "tiny", "--backends", "spark", "--dtype", "float64",
               "--rates-vs-float64", "--cache-dir", str(tmp_path)])
    assert rc == 2
    assert "--rates-vs-float64 compares float32 runs with a float64 reference" in capsys.readouterr().err


def test_rate_table_layout_and_shared_reference():
    sizes = {"x": 10, "y": 5}
    ref = {"x": (np.arange(10), np.arange(10)), "y": (np.zeros(0, int), np.zeros(0, int))}
    cand = {"x": (np.arange(9), np.arange(9)), "y": (np.zeros(0, int), np.zeros(0, int))}
    a = compare_spikes(ref, cand, sizes, 100, 0.1, labels=("r64", "c32"))
    b = compare_spikes(ref, ref, sizes, 100, 0.1, labels=("r64", "d32"))
    table = format_rate_table([a, b], 0.02).splitlines()
    assert table[0].split() == ["population", "r64", "Hz", "c32", "Hz", "rel", "err", "d32", "Hz",
                                "rel", "err", "verdict"]
    assert table[2].split() == ["x", "100.0000", "90.0000", "10", "%", "100.0000", "0", "%", "ABOVE"]
    assert table[3].split() == ["y", "0.0000", "0.0000", "0", "%", "0.0000", "0", "%", "ok"]
    other = compare_spikes(ref, ref, sizes, 100, 0.1, labels=("other", "c32"))
    with pytest.raises(ValueError, match="one reference"):
        format_rate_table([a, other])
