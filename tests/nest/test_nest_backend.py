"""The NEST backend against the pinned spec semantics: single-neuron checks of jump size,
PSP peak, refractoriness and delivery step; whole networks against a numpy reference of
the spec (tests/nest/spec_reference.py); chunked == uninterrupted; reset; closed loop."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("nest", reason="NEST is not installed (pip install -e '.[nest]')")

import adapters.nest.kernel as nest_kernel  # noqa: E402
from adapters.base import (  # noqa: E402
    BackendFailed,
    BackendOptions,
    BackendUnavailable,
    ChunkInput,
    UnsupportedSpec,
)
from adapters.nest.backends import NestClosedLoop, NestUninterrupted  # noqa: E402
from adapters.spec.inputs import InputStream  # noqa: E402
from adapters.spec.materialise import materialise  # noqa: E402
from adapters.spec.model import (  # noqa: E402
    LIF,
    Constant,
    Delta,
    Explicit,
    Exponential,
    Izhikevich,
    NetworkSpec,
    PoissonInput,
    Population,
    Projection,
    Simulation,
)
from adapters.spec.networks import tiny  # noqa: E402
from adapters.spec.validate import validate  # noqa: E402
from benchmarks.fidelity import Thresholds, compare_spikes  # noqa: E402

from .spec_reference import simulate  # noqa: E402
from .test_translation import variant  # noqa: E402

MODES = [NestClosedLoop, NestUninterrupted]
DT = 0.1
TAU_M = 10.0
P22 = math.exp(-DT / TAU_M)
GAP = 15.0  # v_thresh - v_rest of the probe neuron, mV
ONE = [Explicit(pre=(i,), post=(0,)) for i in range(3)]  # input i -> neuron 0


# --------------------------------------------------------------------------- helpers


def run(cls, net, spikes, **options):
    """Prepare, run open loop, return (counts, recorded spikes)."""
    backend = cls()
    try:
        backend.prepare(net, BackendOptions(record_spikes=True, **options))
        backend.reset()
        counts = backend.run_uninterrupted(spikes)
        return counts, backend.recorded_spikes()
    finally:
        backend.close()


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for pop in a:
        np.testing.assert_array_equal(a[pop][0], b[pop][0], err_msg=f"steps of {pop}")
        np.testing.assert_array_equal(a[pop][1], b[pop][1], err_msg=f"indices of {pop}")


def probe_net(*, probe: str, weight: float, delay_steps: int = 1, t_ref: float = 0.5,
              kick: float = 0.0, also: str | None = None, n_steps: int = 200):
    """One LIF neuron at rest (v_rest -65, threshold -50, no drive). Input 0 -> neuron with
    the ``probe`` synapse (``weight``, ``delay_steps``); input 1 -> neuron, delta, weight
    ``kick`` (delay 1), to make it fire on demand. ``also`` adds a silent projection of
    the other kind so the neuron is a mixed population."""
    lif = LIF(tau_m=TAU_M, v_rest=-65.0, v_reset=-65.0, v_thresh=-65.0 + GAP, t_ref=t_ref)
    syn = Delta() if probe == "delta" else Exponential(tau_syn=2.0)
    projs = [
        Projection(name="probe", source="input", target="n", connector=ONE[0],
                   weight=Constant(value=weight), delay=Constant(value=delay_steps * DT),
                   synapse=syn),
        Projection(name="kick", source="input", target="n", connector=ONE[1],
                   weight=Constant(value=kick), delay=Constant(value=DT)),
    ]
    if also is not None:
        other = Delta() if also == "delta" else Exponential(tau_syn=2.0)
        projs.append(Projection(name="silent", source="input", target="n",
                                connector=ONE[2], weight=Constant(value=1.0),
                                synapse=other))
    spec = NetworkSpec(name="probe", populations=(Population(name="n", size=1, model=lif),),
                       input=PoissonInput(size=3, rate=0.0), projections=tuple(projs),
                       simulation=Simulation(dt=DT, duration=n_steps * DT, timesteps=(1,),
                                             dtype="float64"))
    return materialise(validate(spec), 1)


def inputs(n_steps: int, **events: list[int]) -> np.ndarray:
    """Input spikes: ``probe=[steps]`` fire input 0, ``kick=[steps]`` input 1."""
    spikes = np.zeros((n_steps, 3), dtype=bool)
    for column, name in enumerate(("probe", "kick")):
        spikes[events.get(name, []), column] = True
    return spikes


def spike_steps(recorded) -> list[int]:
    return recorded["n"][0].tolist()


def exp_psp(n: int = 400) -> np.ndarray:
    """The spec's response of v to g += 1 at step 0 (exact propagator), steps 0..n-1."""
    tau_syn = 2.0
    p11 = math.exp(-DT / tau_syn)
    c = tau_syn / (tau_syn - TAU_M) * (p11 - P22)
    v, g, out = 0.0, 1.0, [0.0]
    for _ in range(n - 1):
        v, g = v * P22 + g * c, g * p11
        out.append(v)
    return np.array(out)


# --------------------------------------------------------------------------- single neuron


@pytest.mark.parametrize("cls", MODES)
@pytest.mark.parametrize("also", [None, "exponential"])  # iaf_psc_delta; multisynapse
@pytest.mark.parametrize("d", [1, 2, 5])
def test_delta_jump_size_and_delivery_step(cls, also, d):
    """An input spike at step 10 with delay d jumps v by w at step 10 + d; the threshold
    sees it after one decay, at step 10 + d + 1: it fires iff w * exp(-dt/tau_m) > 15."""
    critical = GAP / P22
    above = run(cls, probe_net(probe="delta", weight=critical * (1 + 1e-9), delay_steps=d,
                               also=also), inputs(200, probe=[10]))[1]
    below = run(cls, probe_net(probe="delta", weight=critical * (1 - 1e-9), delay_steps=d,
                               also=also), inputs(200, probe=[10]))[1]
    assert spike_steps(above) == [10 + d + 1]
    assert spike_steps(below) == []


@pytest.mark.parametrize("cls", MODES)
@pytest.mark.parametrize("d", [1, 3])
def test_exponential_psp_peak_and_timing_match_the_spec_formula(cls, d):
    """g += w at step 10 + d; v follows the exact propagator; the peak (at j steps after
    delivery) crosses the threshold iff w * peak > 15, and the spike is at the peak step."""
    psp = exp_psp()
    j = int(np.argmax(psp))
    critical = GAP / psp[j]
    above = run(cls, probe_net(probe="exponential", weight=critical * (1 + 1e-9), delay_steps=d),
                inputs(400, probe=[10]))[1]
    below = run(cls, probe_net(probe="exponential", weight=critical * (1 - 1e-9), delay_steps=d),
                inputs(400, probe=[10]))[1]
    assert spike_steps(above) == [10 + d + j]
    assert spike_steps(below) == []


@pytest.mark.parametrize("cls", MODES)
def test_refractory_period_discards_delta_input(cls):
    """Kick at step 10 -> spike at s = 12; R = 5 steps. A suprathreshold delta delivered at
    s + R - 1 (still refractory) is discarded; delivered at s + R it fires at s + R + 1."""
    s, R, big = 12, 5, 2 * GAP / P22
    net = probe_net(probe="delta", weight=big, t_ref=R * DT, kick=big)
    last = run(cls, net, inputs(200, kick=[10], probe=[s + R - 2]))[1]  # delivered s + R - 1
    first = run(cls, net, inputs(200, kick=[10], probe=[s + R - 1]))[1]  # delivered s + R
    assert spike_steps(last) == [s]
    assert spike_steps(first) == [s, s + R + 1]


@pytest.mark.parametrize("cls", MODES)
def test_mixed_population_keeps_a_delivery_in_the_last_refractory_step(cls):
    """The documented deviation of mixed (delta + exponential) populations: the delivery in
    the last refractory step (s + R - 1) is applied at the first integrating step s + R, so
    the neuron fires there, which the spec forbids."""
    s, R, big = 12, 5, 2 * GAP / P22
    net = probe_net(probe="delta", weight=big, t_ref=R * DT, kick=big, also="exponential")
    spikes = inputs(200, kick=[10], probe=[s + R - 2])
    got = run(cls, net, spikes)[1]
    assert spike_steps(got) == [s, s + R]
    assert_identical(got, simulate(net, spikes, nest_mixed_deviation=True))
    assert simulate(net, spikes)["n"][0].tolist() == [s]  # what the spec says


@pytest.mark.parametrize("kind", ["delta", "exponential"])
def test_recurrent_delay_delivery_step(kind):
    """Neuron a fires at step 12 (kicked at 10); a -> b with delay 4 steps and a weight just
    above critical: b fires at 12 + 4 + 1 (delta) or 12 + 4 + peak (exponential)."""
    psp = exp_psp()
    j = int(np.argmax(psp))
    critical = GAP / P22 if kind == "delta" else GAP / psp[j]
    lif = LIF(tau_m=TAU_M, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=0.5)
    syn = Delta() if kind == "delta" else Exponential(tau_syn=2.0)
    spec = NetworkSpec(
        name="pair", populations=(Population(name="a", size=1, model=lif),
                                  Population(name="b", size=1, model=lif)),
        input=PoissonInput(size=1, rate=0.0),
        projections=(
            Projection(name="kick", source="input", target="a", connector=ONE[0],
                       weight=Constant(value=2 * GAP / P22), delay=Constant(value=DT)),
            Projection(name="ab", source="a", target="b", connector=ONE[0],
                       weight=Constant(value=critical * (1 + 1e-9)), delay=Constant(value=4 * DT),
                       synapse=syn)),
        simulation=Simulation(dt=DT, duration=40.0, timesteps=(1,), dtype="float64"))
    net = materialise(validate(spec), 1)
    spikes = np.zeros((400, 1), dtype=bool)
    spikes[10, 0] = True
    for cls in MODES:
        got = run(cls, net, spikes)[1]
        assert got["a"][0].tolist() == [12]
        assert got["b"][0].tolist() == [12 + 4 + (1 if kind == "delta" else j)]


# --------------------------------------------------------------------------- networks


@pytest.mark.parametrize("kind", ["delta", "exponential"])
@pytest.mark.parametrize("seed, t_ref", [(1, None), (2, None), (3, 0.0), (4, 0.1), (5, 0.2)])
def test_single_kind_networks_match_the_spec_spike_for_spike(kind, seed, t_ref):
    """Exact (float64 thresholds: every spike identical) for R = 10 (tiny), 0, 1 and 2."""
    spec = variant(kind, t_ref)
    spec = replace(spec, simulation=replace(spec.simulation, duration=200.0))
    net = materialise(spec, seed)
    spikes = InputStream(net.spec).open_loop()
    reference = simulate(net, spikes)
    sizes = {p.name: p.size for p in net.populations}
    for cls in MODES:
        counts, got = run(cls, net, spikes)
        agreement = compare_spikes(reference, got, sizes, net.n_steps, net.dt,
                                   labels=("spec", cls.name))
        assert agreement.passes(Thresholds.for_dtype("float64")), agreement.failures()
        assert reference["a"][0].size > 100 and reference["b"][0].size > 50  # not trivial
        assert counts.tolist() == [got["a"][0].size, got["b"][0].size]


@pytest.mark.parametrize("cls", MODES)
def test_tiny_builds_and_runs(cls):
    """tiny (population b mixes delta and exponential synapses): identical to the spec with
    the one documented deviation; rates within the float64 fidelity threshold of the spec."""
    net = materialise(tiny(), 1)
    spikes = InputStream(net.spec).open_loop()
    backend = cls()
    try:
        report = backend.prepare(net, BackendOptions(record_spikes=True))
        assert report.phases["codegen_compile"] == 0.0 and report.phases["construct"] > 0
        assert "iaf_psc_exp_multisynapse" in report.notes
        backend.reset()
        counts = backend.run_uninterrupted(spikes)
        got = backend.recorded_spikes()
    finally:
        backend.close()
    assert counts.dtype == np.int64 and counts.shape == (2,)
    assert counts.tolist() == [got["a"][0].size, got["b"][0].size]
    assert_identical(got, simulate(net, spikes, nest_mixed_deviation=True))
    sizes = {p.name: p.size for p in net.populations}
    agreement = compare_spikes(simulate(net, spikes), got, sizes, net.n_steps, net.dt)
    assert agreement.rate_rel_error_max <= Thresholds.for_dtype("float64").rate_rel_error_max


@pytest.mark.parametrize("kind", ["delta", "mixed"])  # in-place reset; rebuild
def test_chunked_equals_uninterrupted(kind, monkeypatch):
    """Closed loop in chunks of k (recorders drained every few events to exercise that
    path) gives exactly the uninterrupted spikes, and per-chunk counts add up."""
    monkeypatch.setattr(nest_kernel, "RECORDER_DRAIN_EVENTS", 25)
    net = materialise(variant(kind), 3)
    spikes = InputStream(net.spec).open_loop()
    whole_counts, whole = run(NestUninterrupted, net, spikes)
    backend = NestClosedLoop()
    try:
        backend.prepare(net, BackendOptions(record_spikes=True))
        for k in (1, 7, 100):
            backend.reset()
            chunks = [backend.run_chunk(ChunkInput(spikes=spikes[i:i + k]))
                      for i in range(0, len(spikes), k)]
            got = backend.recorded_spikes()
            assert_identical(got, whole)
            np.testing.assert_array_equal(np.sum(chunks, axis=0), whole_counts)
            edges = np.arange(0, len(spikes) + k, k)
            for j, pop in enumerate(("a", "b")):
                per_chunk = np.histogram(got[pop][0], bins=edges)[0][:len(chunks)]
                np.testing.assert_array_equal([c[j] for c in chunks], per_chunk)
    finally:
        backend.close()


def test_closed_loop_with_feedback_matches_the_spec_on_the_inputs_it_chose():
    """The closed loop's input depends on its output; the spec reference, fed the inputs the
    loop produced, gives the same spikes and the same per-chunk counts."""
    net = materialise(variant("delta"), 1)
    stream = InputStream(net.spec)
    backend = NestClosedLoop()
    fed, counts, last = [], [], None
    try:
        backend.prepare(net, BackendOptions(record_spikes=True))
        backend.reset()
        for _ in range(net.n_steps // 10):
            chunk = stream.next_chunk(10, last)
            fed.append(chunk)
            last = backend.run_chunk(ChunkInput(spikes=chunk))
            counts.append(last)
        got = backend.recorded_spikes()
    finally:
        backend.close()
    reference = simulate(net, np.concatenate(fed))
    assert_identical(got, reference)
    edges = np.arange(0, net.n_steps + 10, 10)
    for j, pop in enumerate(("a", "b")):
        np.testing.assert_array_equal([c[j] for c in counts],
                                      np.histogram(reference[pop][0], bins=edges)[0])


@pytest.mark.parametrize("cls", MODES)
@pytest.mark.parametrize("kind", ["delta", "exponential"])
def test_reset_returns_to_the_initial_state(cls, kind):
    net = materialise(variant(kind), 2)
    spikes = InputStream(net.spec).open_loop()
    fresh = run(cls, net, spikes)[1]
    backend = cls()
    try:
        backend.prepare(net, BackendOptions(record_spikes=True))
        backend.reset()
        for i in range(3):  # leave spikes in flight and neurons refractory
            backend.run_chunk(ChunkInput(spikes=spikes[7 * i:7 * (i + 1)]))
        backend.reset()
        backend.run_uninterrupted(spikes)
        assert_identical(backend.recorded_spikes(), fresh)
        backend.reset()  # twice, to be sure the recorders and the origin move on
        backend.run_uninterrupted(spikes)
        assert_identical(backend.recorded_spikes(), fresh)
    finally:
        backend.close()


@pytest.mark.parametrize("cls", MODES)
@pytest.mark.parametrize("kind", ["delta", "exponential"])
def test_drives_match_the_spark_engine_and_survive_reset(cls, kind):
    """External Poisson drives (one generator per neuron, counts as multiplicities) give the
    Spark engine's spikes, before and after a reset (delta networks reset in place: the
    drives are reloaded at the new origin; exponential ones rebuild)."""
    from adapters.registry import load_backend
    from adapters.spec.model import PoissonDrive
    from benchmarks.protocol import record_open_loop_spikes

    base = variant(kind)
    synapse = base.projections[0].synapse  # Delta, or the variant's Exponential(2 ms)
    weight = 0.6 if kind == "delta" else 3.6
    spec = replace(base, drives=(PoissonDrive(name="bg", target="a", rate=40.0, n_sources=30,
                                              weight=weight, synapse=synapse),))
    net = materialise(validate(spec), 3)
    spikes = InputStream(net.spec).open_loop()
    expected = record_open_loop_spikes(load_backend("spark"), net, BackendOptions())
    backend = cls()
    try:
        backend.prepare(net, BackendOptions(record_spikes=True))
        backend.reset()
        backend.run_uninterrupted(spikes)
        assert_identical(backend.recorded_spikes(), expected)
        backend.reset()
        for i in range(0, net.n_steps, 250):
            backend.run_chunk(ChunkInput(spikes=spikes[i:i + 250]))
        assert_identical(backend.recorded_spikes(), expected)
    finally:
        backend.close()


def test_two_threads_give_the_same_spikes():
    net = materialise(variant("delta"), 1)
    spikes = InputStream(net.spec).open_loop()
    assert_identical(run(NestClosedLoop, net, spikes, threads=2)[1],
                     run(NestClosedLoop, net, spikes, threads=1)[1])


def test_an_instance_whose_kernel_was_taken_over_rebuilds_on_reset():
    """NEST's kernel is global: the harness builds a second instance (fidelity recording)
    while the first is alive; the first must refuse to run stale, then rebuild on reset."""
    net = materialise(variant("delta"), 1)
    spikes = InputStream(net.spec).open_loop()
    first, second = NestClosedLoop(), NestUninterrupted()
    try:
        first.prepare(net, BackendOptions(record_spikes=True))
        second.prepare(net, BackendOptions(record_spikes=True))
        with pytest.raises(BackendFailed, match="another NEST backend instance"):
            first.run_chunk(ChunkInput(spikes=spikes[:10]))
        first.reset()
        first.run_uninterrupted(spikes)
        assert_identical(first.recorded_spikes(), simulate(net, spikes))
    finally:
        first.close()
        second.close()
        second.close()  # safe twice


def test_prepare_refuses_unsupported_spec_before_touching_nest():
    spec = tiny()
    pops = (replace(spec.populations[0], model=Izhikevich()),) + spec.populations[1:]
    with pytest.raises(UnsupportedSpec, match="izhikevich.*threshold"):
        NestClosedLoop().prepare(materialise(replace(spec, populations=pops), 1), BackendOptions())


@pytest.mark.parametrize("kind", ["delta", "exponential", "mixed"])
def test_agrees_with_the_spark_engine(kind):
    """Cross-check against the project's own engine when it is importable: identical spikes
    for single-kind networks; for tiny's mixed population, rates within the threshold."""
    try:
        from adapters.spark.backend import SparkBackend
    except ImportError as err:
        pytest.skip(f"spark engine not importable: {err}")
    net = materialise(variant(kind), 1)
    spikes = InputStream(net.spec).open_loop()
    try:
        spark = run(SparkBackend, net, spikes)[1]
    except BackendUnavailable as err:
        pytest.skip(f"spark engine unavailable: {err}")
    nest_spikes = run(NestUninterrupted, net, spikes)[1]
    sizes = {p.name: p.size for p in net.populations}
    agreement = compare_spikes(spark, nest_spikes, sizes, net.n_steps, net.dt,
                               labels=("spark", "nest"))
    threshold = Thresholds.for_dtype("float64")
    if kind == "mixed":
        assert agreement.rate_rel_error_max <= threshold.rate_rel_error_max
    else:
        assert agreement.passes(threshold), agreement.failures()
