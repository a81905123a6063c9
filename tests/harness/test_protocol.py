"""The measurement protocol, with deterministic fake backends and fake clocks."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from adapters.base import ChunkInput
from adapters.spec import load_spec, materialise
from adapters.spec.inputs import InputStream
from benchmarks import protocol
from benchmarks.protocol import Unit, closed_loop_pass, run_unit, synchronise
from benchmarks.results import load_rows

from .fakes import CountingBackend, OpenLoopOnly, register


class FakeClock:
    """Advances by ``tick`` per reading and logs every reading."""

    def __init__(self, events: list[str], tick: float = 1.0):
        self.now = 0.0
        self.tick = tick
        self.events = events

    def __call__(self) -> float:
        self.events.append("clock")
        self.now += self.tick
        return self.now


class AsyncResult:
    """Stands in for a JAX array still being computed: the protocol must block on it."""

    def __init__(self, events: list[str], value: np.ndarray):
        self.events = events
        self.value = value

    def block_until_ready(self):
        self.events.append("block")
        return self

    def __array__(self, dtype=None, copy=None):
        return self.value


class AsyncBackend(CountingBackend):
    def run_chunk(self, chunk: ChunkInput):
        self.events.append("dispatch")
        return AsyncResult(self.events, super().run_chunk(chunk))


def test_clock_stops_only_after_results_are_synchronised():
    events: list[str] = []
    backend = AsyncBackend()
    backend.events = events
    spec = load_spec("tiny")
    backend.prepare(materialise(spec), protocol.BackendOptions())
    closed_loop_pass(backend, InputStream(spec), 10, 5, clock=FakeClock(events))
    assert events.count("block") == 5
    # start clock, then per chunk (dispatch, block, clock): each chunk's clock is read only
    # after its results are synchronised, and the pass ends with the last chunk's clock
    assert events[0] == "clock"
    assert events[1:] == ["dispatch", "block", "clock"] * 5


def test_synchronise_hands_host_arrays_back_as_they_are():
    counts = np.array([3, 4], dtype=np.int64)
    assert synchronise(counts) is counts  # nothing to wait for: no copy, no pytree walk


def test_synchronise_blocks_real_jax_arrays():
    x = jnp.ones((64, 64)) @ jnp.ones((64, 64))
    out = synchronise(x)
    assert isinstance(out, np.ndarray) and out[0, 0] == 64


def _unit(**changes) -> Unit:
    base = dict(sweep_id="t", network="tiny", instance=1, backend="fake", dtype="float64",
                threads=1, timesteps=(10, 100), runs=2, fidelity=False)
    base.update(changes)
    return Unit(**base)


@pytest.fixture
def fakes(monkeypatch):
    register(monkeypatch, "fake", CountingBackend)
    register(monkeypatch, "fake-open", OpenLoopOnly)


def test_unit_writes_build_and_one_cell_per_k(tmp_path, fakes):
    events = []
    run_unit(_unit(), tmp_path, events.append)
    rows = load_rows(tmp_path)
    assert set(rows.phase) == {"materialise", "compile_cold", "compile_warm", "construct",
                               "warmup", "loop"}
    loops = rows[rows.phase == "loop"]
    assert sorted(loops.k.unique()) == [10, 100]
    assert len(loops) == 2 * 2 and set(loops.status) == {"ok"}
    assert np.allclose(loops.sim_seconds, 0.1)  # the whole 100 ms of tiny
    assert np.allclose(loops.rtf, loops.seconds / loops.sim_seconds)
    assert set(loops.n_chunks) == {100, 10}
    cold = rows[rows.phase == "compile_cold"].iloc[0]
    warm = rows[rows.phase == "compile_warm"].iloc[0]
    assert cold.seconds == 0.5 and cold.cache_hit == "no"
    assert warm.seconds == 0.1 and warm.cache_hit == "yes"
    assert [e["k"] for e in events if e["event"] == "cell"] == [10, 100]


def test_rerun_skips_finished_cells(tmp_path, fakes):
    run_unit(_unit(), tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cells").iterdir()}
    events = []
    run_unit(_unit(), tmp_path, events.append)
    assert events == []
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cells").iterdir()}
    assert before == after


def test_open_loop_backend_has_one_cell_at_full_length(tmp_path, fakes):
    run_unit(_unit(backend="fake-open"), tmp_path)
    loops = load_rows(tmp_path).query("phase == 'loop'")
    assert set(loops.k) == {1000} and set(loops.loop) == {"open"}


def test_unavailable_backend_is_recorded_as_skipped(tmp_path, monkeypatch):
    def missing():
        raise ImportError("No module named 'brian2cuda'")

    register(monkeypatch, "ghost", CountingBackend, load=missing)
    run_unit(_unit(backend="ghost"), tmp_path)
    rows = load_rows(tmp_path)
    skipped = rows[rows.status == "skipped"]
    assert len(skipped) == 1 + 2  # the build row and one per k
    assert all("brian2cuda" in r for r in skipped.reason)


def test_slow_cell_is_truncated_to_budget_never_extrapolated(tmp_path, fakes, monkeypatch):
    # Every clock reading advances 1 s: a 100-chunk pass would take ~100 s; budget 12 s / 3 passes.
    ticks = itertools.count()
    unit = _unit(timesteps=(10,), cell_budget_s=12.0, min_sim_ms=5.0)
    run_unit(unit, tmp_path, clock=lambda: float(next(ticks)))
    loops = load_rows(tmp_path).query("phase == 'loop'")
    assert set(loops.status) == {"truncated"}
    n = int(loops.n_chunks.iloc[0])
    assert 5 <= n < 100
    assert np.allclose(loops.sim_seconds, n * 10 * 1e-4)
    assert all("ran" in r and "of 1000 steps" in r for r in loops.reason)


def test_fidelity_is_measured_against_the_reference_and_repeatable(tmp_path, fakes, monkeypatch):
    register(monkeypatch, "fake-b", CountingBackend)
    figures = []
    for attempt in ("first", "second"):
        out = tmp_path / attempt
        for name in ("fake", "fake-b"):
            run_unit(_unit(backend=name, fidelity=True, fidelity_reference="fake"), out)
        rows = load_rows(out)
        cand = rows[(rows.backend == "fake-b") & (rows.phase == "loop")]
        assert set(cand.fidelity_reference) == {"fake"}
        assert (cand.fidelity_identical_fraction == 1.0).all()
        assert (cand.fidelity_exact_window_ms == 100.0).all()
        ref = rows[rows.backend == "fake"]
        assert ref.fidelity_identical_fraction.isna().all()  # the reference is not compared
        figures.append(cand.filter(like="fidelity_").reset_index(drop=True))
    assert figures[0].equals(figures[1])


class FirstBuildMisses(CountingBackend):
    """The first non-cold build of a process finds an empty cache, later ones hit it."""

    builds: list[bool] = []

    def prepare(self, net, options):
        report = super().prepare(net, options)
        if not options.cold:
            report.cache_hit = bool(self.builds)
            report.phases["codegen_compile"] = 0.1 if report.cache_hit else 0.9
            self.builds.append(report.cache_hit)
        return report


def test_warm_compile_is_a_real_cache_hit(tmp_path, monkeypatch):
    FirstBuildMisses.builds = []
    register(monkeypatch, "fake", FirstBuildMisses)
    run_unit(_unit(), tmp_path)
    warm = load_rows(tmp_path).query("phase == 'compile_warm'").iloc[0]
    assert FirstBuildMisses.builds == [False, True]
    assert warm.cache_hit == "yes" and warm.seconds == 0.1


def test_loop_rows_carry_readout_firing_rates(tmp_path, fakes):
    """Every timed pass says what the network did: its readout rates in Hz, from the very
    counts the pass returned (the fake backend counts input spikes per channel)."""
    run_unit(_unit(), tmp_path)
    rows = load_rows(tmp_path)
    loops = rows[rows.phase == "loop"]
    spec = load_spec("tiny")
    for text in loops.rates_hz:
        pairs = dict(item.split("=") for item in text.split(";"))
        assert list(pairs) == list(spec.readout_names)
        assert all(float(v) > 0 for v in pairs.values()), text
    builds = rows[rows.phase != "loop"]
    assert set(builds[builds.phase.isin(["materialise", "compile_warm"])].rates_hz) == {""}


def test_chunk_latencies_are_the_chunks_own_wall_times():
    """Each chunk's latency runs from the previous chunk's synchronised output to its own;
    the pass's seconds are their sum, and the row carries their percentiles."""
    readings = iter([0.0, 1.0, 3.0, 6.0, 10.0, 15.0])
    backend = CountingBackend()
    spec = load_spec("tiny")
    backend.prepare(materialise(spec), protocol.BackendOptions())
    p = closed_loop_pass(backend, InputStream(spec), 10, 5, clock=lambda: next(readings))
    np.testing.assert_array_equal(p.chunk_seconds, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert p.seconds == 15.0 == p.chunk_seconds.sum()
    latency = p.latency()
    assert latency["latency_p50_s"] == 3.0 and latency["latency_max_s"] == 5.0
    assert latency["latency_p90_s"] == pytest.approx(4.6)
    assert latency["latency_p99_s"] == pytest.approx(4.96)
    open_pass = protocol.open_loop_pass(backend, InputStream(spec).open_loop(), clock=lambda: 0.0)
    assert all(np.isnan(v) for v in open_pass.latency().values())


def test_every_row_names_its_backends_comparison_class(tmp_path):
    """A native-class unit's rows say ``native``; an exact one's ``exact`` (the CSV keeps it)."""
    from benchmarks.protocol import write_skipped

    spec = load_spec("tiny")
    for backend in ("nest-native", "spark"):
        write_skipped(_unit(backend=backend), spec, tmp_path, "skipped", "a test")
    frame = load_rows(tmp_path)
    assert dict(frame.groupby("backend")["comparison"].unique().map(tuple)) == {
        "nest-native": ("native",), "spark": ("exact",)}


def test_a_backend_that_owns_its_loop_is_timed_at_every_boundary():
    """``run_closed_loop`` overridden (as Brian2's runtime does with one run()): the pass
    sees every chunk's counts and stops where the controller says, with the same totals."""
    from adapters.base import BackendOptions

    class OwnLoop(CountingBackend):
        calls = 0

        def run_closed_loop(self, controller, n_chunks):
            OwnLoop.calls += 1
            chunk = controller(None)
            for _ in range(n_chunks):
                assert isinstance(chunk, ChunkInput)
                chunk = controller(self.run_chunk(chunk))
                if chunk is None:
                    return
            raise AssertionError("the controller did not end the loop")

    net = materialise(load_spec("tiny"))
    plain, own = CountingBackend(), OwnLoop()
    for b in (plain, own):
        b.prepare(net, BackendOptions())
    a = closed_loop_pass(plain, InputStream(net.spec), 10, 20)
    b = closed_loop_pass(own, InputStream(net.spec), 10, 20)
    assert OwnLoop.calls == 1 and b.n_chunks == 20 and b.chunk_seconds.shape == (20,)
    np.testing.assert_array_equal(a.counts, b.counts)
    ticks = iter(range(1000))
    early = closed_loop_pass(own, InputStream(net.spec), 10, 20, clock=lambda: next(ticks),
                             stop_after_s=3.5, min_chunks=2)
    assert early.n_chunks == 4
