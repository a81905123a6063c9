"""Every neuron model (LIF, ALIF, AdEx, Izhikevich) with each synapse model (delta,
exponential), delays of 2-6 steps, float64, the same input spikes: Spark and Brian2 give
identical spike trains over the whole run.

One network holds all eight (model, synapse) combinations as separate populations of 30
neurons, each driven by the Poisson input and by itself (recurrent, p = 0.2) through
synapses of its one kind, so a single Brian2 C++ build covers everything (about 35 s cold
on 2 cores; ``SPARK_BENCH_TEST_CACHE=<dir>`` keeps it between runs, as for tests/brian2).
Compared with Spark, spike for spike: ``brian2-cpp-uninterrupted``, the resident
``brian2-cpp`` binary in chunks of 7 steps (state of v/theta/w/u/g and the spikes in
flight carried across chunks; same build), ``brian2-numpy`` (runtime device, no compile),
and ``brian2-runtime`` (Cython) when its ~4 min cold compile is affordable (see
``CYTHON``).

What is and is not bit-identical (measured, jax/jaxlib 0.10.2, Brian2 2.9.0, g++
``-O3 -march=native -ffp-contract=off``, 2-core AMD EPYC with FMA):

* The spike trains: identical, every population, over the whole run (and over 1 s).
* The membrane/adaptation/synaptic state: equal to within ~1e-11 (absolute, mV or mV/ms),
  not bit for bit, in *every* model (LIF included). Measured causes, none of which is a
  difference of the pinned semantics:

  1. XLA:CPU contracts ``a*b + c`` into fused multiply-adds. Spark's LIF update equals
     ``fma(g, P_gm, fma(v - v_inf, P_m, v_inf))`` on 20 000 random states (the unfused
     formula differs on 1 350 of them); with ``XLA_FLAGS=--xla_cpu_max_isa=AVX`` (no FMA
     instructions) it equals the unfused numpy evaluation exactly, and so do Izhikevich's
     updates. Brian2 is compiled with ``-ffp-contract=off``.
  2. Spark's AdEx calls ``spark.neurons.pinned_exp`` (its own range reduction and Taylor
     polynomial, the same in JAX and in the native kernel); it differs from glibc's ``exp``
     (Brian2 C++/Cython) by one ulp on 6.0 % of float64 arguments in [-30, 10] (XLA's own
     ``exp``, used before, on 13.6 %), and numpy's SIMD ``exp`` (``brian2-numpy``) is a
     third variant. Only AdEx calls ``exp``.
  3. Spark adds the sum of a step's deliveries to ``v``/``g``; Brian2 adds synapse by
     synapse (NOTES.md).

  With (1) switched off (a probe over 200 ms against ``brian2-cpp-relaunch``'s final
  state), ALIF-delta and AdEx-exponential end the run bit-identical and the others differ
  by at most 8 ulp in ``v`` (43 in Izhikevich ``u``), from (2) and (3). The Brian2
  translation of AdEx and Izhikevich now evaluates the formulas in the order they read
  (``(...)/tau_m`` then ``dt*``, ``(0.04*v)*v``), the order of ``spark.neurons`` and of
  the naive references;
  the earlier order (``(dt/tau_m)*(...)``, ``0.04*(v*v)``) left up to 9 000-ulp
  differences in Izhikevich ``v`` even without FMA. None of these roundings changed a
  spike here: these dynamics are dissipative between spikes, so a last-bit difference
  only matters if it lands exactly on a threshold crossing. So the spike trains are
  asserted identical, and the state equal within 1e-9.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("brian2")

from adapters.spark.translate import to_spark
from adapters.base import BackendOptions, ChunkInput  # noqa: E402
from adapters.registry import load_backend  # noqa: E402
from adapters.spec.inputs import InputStream  # noqa: E402
from adapters.spec.materialise import materialise  # noqa: E402
from adapters.spec.model import (  # noqa: E402
    ALIF,
    LIF,
    AdEx,
    Delta,
    Exponential,
    FixedProbability,
    Izhikevich,
    NetworkSpec,
    Normal,
    PoissonInput,
    Population,
    Projection,
    Simulation,
    Uniform,
)
from benchmarks.fidelity import compare_spikes  # noqa: E402

pytestmark = pytest.mark.slow(
    reason="builds Brian2 C++, numpy and Cython of a network of every model and synapse (~70 s)")

CYTHON = os.environ.get("SPARK_BENCH_CYTHON_MODELS") == "1" or (os.cpu_count() or 1) >= 8
"""``brian2-runtime``'s Cython build of this network takes 219 s cold on 2 cores (2 s
warm). Run it with ``SPARK_BENCH_CYTHON_MODELS=1`` (automatic with >= 8 cores)."""

DURATION_MS = 300.0
SIZE = 30
MODELS = {
    "lif": LIF(tau_m=10.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=2.0, i_offset=12.0),
    "alif": ALIF(tau_m=15.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=1.0,
                 i_offset=13.0, tau_adapt=80.0, beta=1.5),
    "adex": AdEx(tau_m=20.0, v_rest=-70.0, v_reset=-58.0, v_t=-50.0, delta_t=2.0, v_peak=0.0,
                 tau_w=100.0, a=0.5, b=2.0, t_ref=0.5, i_offset=17.0),
    "izh": Izhikevich(a=0.02, b=0.2, c=-65.0, d=8.0, v_peak=30.0, t_ref=0.0, i_offset=4.0),
}
INITIAL_V = {"lif": (-65.0, -50.0), "alif": (-65.0, -50.0), "adex": (-70.0, -52.0),
             "izh": (-70.0, -60.0)}
# Input weights (mV, or mV/ms for Izhikevich), tuned for 13-53 Hz in every population;
# recurrent weights are 0.2 x these.
WEIGHTS = {("lif", "delta"): 0.8, ("lif", "exponential"): 2.5,
           ("alif", "delta"): 1.0, ("alif", "exponential"): 3.0,
           ("adex", "delta"): 1.0, ("adex", "exponential"): 6.0,
           ("izh", "delta"): 1.5, ("izh", "exponential"): 2.0}
AUX = {"alif": "theta", "adex": "w", "izhikevich": "u"}


def models_spec() -> NetworkSpec:
    """8 populations ``<model>_<del|exp>``: input -> population (delays 0.2-0.6 ms = 2-6
    steps) and population -> itself (0.2-0.5 ms = 2-5 steps), all of one synapse kind."""
    pops, projections = [], []
    for mname, model in MODELS.items():
        for kind in ("delta", "exponential"):
            name = f"{mname}_{kind[:3]}"
            low, high = INITIAL_V[mname]
            pops.append(Population(name=name, size=SIZE, model=model,
                                   initial={"v": Uniform(low=low, high=high)}))
            syn = Delta() if kind == "delta" else Exponential(tau_syn=3.0)
            w = WEIGHTS[(mname, kind)]
            projections += [
                Projection(name=f"in_{name}", source="input", target=name,
                           connector=FixedProbability(p=0.2), weight=Normal(mean=w, std=0.1 * w),
                           delay=Uniform(low=0.2, high=0.6), synapse=syn),
                Projection(name=f"rec_{name}", source=name, target=name,
                           connector=FixedProbability(p=0.2),
                           weight=Normal(mean=0.2 * w, std=0.05 * w),
                           delay=Uniform(low=0.2, high=0.5), synapse=syn),
            ]
    return NetworkSpec(
        name="models",
        description="LIF/ALIF/AdEx/Izhikevich x delta/exponential, delays 2-6 steps",
        populations=tuple(pops),
        input=PoissonInput(name="input", size=40, rate=100.0),
        projections=tuple(projections),
        simulation=Simulation(dt=0.1, duration=DURATION_MS, timesteps=(7, 3000),
                              dtype="float64", seed=3, input_seed=11),
    )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def options(tmp_path_factory) -> BackendOptions:
    env = os.environ.get("SPARK_BENCH_TEST_CACHE")
    cache = Path(env) if env else tmp_path_factory.mktemp("models-cache")
    return BackendOptions(cache_dir=cache, record_spikes=True)


@pytest.fixture(scope="module")
def net():
    return materialise(models_spec())


@pytest.fixture(scope="module")
def inputs(net) -> np.ndarray:
    return InputStream(net.spec).open_loop()


@pytest.fixture(scope="module")
def spark_run(net, inputs):
    """Spark's spikes per population and its final state per population."""
    from spark.engine import Simulator

    sim = Simulator(to_spark(net), record_spikes=True)
    sim.run_chunk(inputs)
    steps, idx = sim.recorded()
    spikes, state = {}, {}
    v, aux, g = (np.asarray(x) for x in (sim.state.v, sim.state.aux, sim.state.g))
    for pop in net.populations:
        sl = slice(pop.offset, pop.offset + pop.size)
        mask = (idx >= pop.offset) & (idx < pop.offset + pop.size)
        order = np.lexsort((idx[mask], steps[mask]))
        spikes[pop.name] = (steps[mask][order], idx[mask][order] - pop.offset)
        state[pop.name] = {"v": v[sl], "g": g[sl]}
        if pop.spec.model.kind in AUX:
            state[pop.name][AUX[pop.spec.model.kind]] = aux[sl]
    return spikes, state


@pytest.fixture(scope="module")
def cpp_uninterrupted(net, inputs, options):
    backend = load_backend("brian2-cpp-uninterrupted")()
    backend.prepare(net, options)
    backend.reset()
    backend.run_uninterrupted(inputs)
    spikes = backend.recorded_spikes()
    backend.close()
    return spikes


def assert_identical(got, want, net):
    assert set(got) == set(want) == {p.name for p in net.populations}
    for pop in want:
        np.testing.assert_array_equal(got[pop][0], want[pop][0], err_msg=f"{pop} steps")
        np.testing.assert_array_equal(got[pop][1], want[pop][1], err_msg=f"{pop} indices")
    sizes = {p.name: p.size for p in net.populations}
    agreement = compare_spikes(want, got, sizes, net.n_steps, net.dt)
    assert agreement.identical and agreement.exact_window_ms == pytest.approx(DURATION_MS)
    assert agreement.passes()  # float64 thresholds: whole run exact, rates within 1 %


# --------------------------------------------------------------------------- tests


def test_network_covers_every_combination_with_multi_step_delays(net):
    combos = {(p.spec.model.kind, k) for p in net.populations for k in ("delta", "exponential")
              if any(pr.spec.target == p.name and pr.spec.synapse.kind == k for pr in net.projections)}
    assert combos == {(m, k) for m in ("lif", "alif", "adex", "izhikevich")
                      for k in ("delta", "exponential")}
    for proj in net.projections:
        assert proj.n_synapses > 100
        assert proj.delay_steps.min() >= 2, proj.name
        assert proj.delay_steps.max() >= 5, proj.name  # several distinct delays per projection


def test_every_population_fires(spark_run, net):
    """So that identical trains cannot be vacuous: every population fires at >= 10 Hz and
    nearly all of its neurons spike."""
    spikes, _ = spark_run
    for pop in net.populations:
        steps, idx = spikes[pop.name]
        rate = steps.size / (pop.size * DURATION_MS / 1000.0)
        assert rate >= 10.0, f"{pop.name}: {rate:.1f} Hz"
        assert np.unique(idx).size >= 0.9 * pop.size, pop.name


def test_brian2_cpp_uninterrupted_identical_to_spark(spark_run, cpp_uninterrupted, net):
    assert_identical(cpp_uninterrupted, spark_run[0], net)


def test_spark_native_identical_to_brian2(cpp_uninterrupted, net, inputs):
    """The native kernels on every model (the fused step: LIF, ALIF, AdEx with the pinned
    exp and Izhikevich updated in C++) against Brian2."""
    import spark.native
    from spark.engine import Simulator

    if not spark.native.available():
        pytest.skip(f"native kernels unavailable: {spark.native.unavailable_reason()}")
    sim = Simulator(to_spark(net), method="native", record_spikes=True)
    assert sim.layout.method == "native"
    sim.run_chunk(inputs)
    steps, idx = sim.recorded()
    got = {}
    for pop in net.populations:
        mask = (idx >= pop.offset) & (idx < pop.offset + pop.size)
        got[pop.name] = (steps[mask], idx[mask] - pop.offset)
    assert_identical(got, cpp_uninterrupted, net)


def test_brian2_cpp_chunked_identical_to_spark(spark_run, cpp_uninterrupted, net, inputs, options):
    """The resident binary (same build) in chunks of 7 steps: every state variable and the
    spikes in flight carried across 429 chunk boundaries."""
    backend = load_backend("brian2-cpp")()
    report = backend.prepare(net, options)
    assert report.cache_hit  # the project cpp_uninterrupted built
    try:
        backend.reset()
        for start in range(0, inputs.shape[0], 7):
            backend.run_chunk(ChunkInput(spikes=inputs[start:start + 7]))
        got = backend.recorded_spikes()
    finally:
        backend.close()
    assert_identical(got, spark_run[0], net)


def _runtime_spikes_and_state(name, net, inputs, options):
    backend = load_backend(name)()
    backend.prepare(net, options)
    try:
        backend.reset()
        backend.run_uninterrupted(inputs)
        spikes = backend.recorded_spikes()
        # The runtime device keeps the Brian2 objects in the process: read the final state
        # of each population's (sub)group (adapter internals, test-only).
        views = backend._model.views
        state = {p.name: {var: np.asarray(getattr(views[p.name], var)[:])
                          for var in ("v", "g", AUX.get(p.spec.model.kind))
                          if var is not None and var in views[p.name].variables}
                 for p in net.populations}
    finally:
        backend.close()
    return spikes, state


def _assert_state_close(got, want):
    for pop, variables in got.items():
        assert set(variables) <= set(want[pop])
        assert "v" in variables
        for var, value in variables.items():
            np.testing.assert_allclose(value, want[pop][var], rtol=0, atol=1e-9,
                                       err_msg=f"{pop}.{var}")


def test_brian2_numpy_identical_to_spark(spark_run, net, inputs, options):
    spikes, state = _runtime_spikes_and_state("brian2-numpy", net, inputs, options)
    assert_identical(spikes, spark_run[0], net)
    _assert_state_close(state, spark_run[1])
    assert any("g" in s for s in state.values()) and any("w" in s for s in state.values())


@pytest.mark.skipif(not CYTHON, reason="brian2-runtime (Cython) cold compile of this network "
                    "takes ~4 min on 2 cores; set SPARK_BENCH_CYTHON_MODELS=1 (automatic with "
                    ">= 8 cores)")
def test_brian2_runtime_cython_identical_to_spark(spark_run, net, inputs, options):
    spikes, state = _runtime_spikes_and_state("brian2-runtime", net, inputs, options)
    assert_identical(spikes, spark_run[0], net)
    _assert_state_close(state, spark_run[1])
