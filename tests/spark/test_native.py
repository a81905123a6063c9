"""The native kernels (spark.native) against the pure-JAX engine: bit for bit.

Every comparison runs the same materialised network and inputs through ``method="event"``
(pure JAX, the reference) and ``method="native"`` and requires identical spikes *and*
identical final state arrays (v, g, aux, lastspike, ring buffer), so an error in the last
bit of one update shows up even when no spike moves.
"""

from __future__ import annotations

import os
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spark.native as native
from adapters.spark.translate import to_spark
from adapters.spec.inputs import InputStream
from adapters.spec.model import LIF, STDP, Constant, FixedProbability, Normal, Uniform
from spark import network as netmod
from spark.engine import BatchedSimulator, Simulator
from spark.native import builder as native_build

from .nets import DT, NetworkBuilder, assert_bytes_equal, random_network
from .test_reference import euler_network, receptor_network

REQUIRED = os.environ.get("SPARK_BENCH_REQUIRE_NATIVE") == "1"
"""Set by ``make test`` (and so CI): a kernel that does not build is a failure, not a skip."""

if REQUIRED and not native.available():
    pytest.fail(f"native kernels required but unavailable: {native.unavailable_reason()}",
                pytrace=False)
pytestmark = pytest.mark.skipif(not native.available(),
                                reason=f"native kernels unavailable: {native.unavailable_reason()}")

STATE_FIELDS = ("v", "g", "aux", "lastspike", "buffer")


def _inputs(net, n_steps: int) -> np.ndarray:
    return InputStream(net.spec, n_steps).open_loop()


def _run(net, method: str, x: np.ndarray, k: int, **kwargs) -> Simulator:
    sim = Simulator(to_spark(net), method=method, record_spikes=True, **kwargs)
    for start in range(0, len(x), k):
        sim.run_chunk(x[start:start + k])
    return sim


def _assert_bitwise(a: Simulator, b: Simulator) -> None:
    assert_bytes_equal(a, b, STATE_FIELDS)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("k", [1, 7, 300])
def test_fused_lif_alif_equals_pure_jax(dtype, k):
    """LIF (delta and exponential input) and ALIF, delays 1-6 steps: the fused kernels
    (the chunk kernel here) reproduce the pure-JAX engine exactly, at any chunk length."""
    net = random_network(dtype).materialise(3)
    x = _inputs(net, 300)
    native_sim = _run(net, "native", x, k)
    assert native_sim.params.fused is not None and native_sim.params.cells == ()
    _assert_bitwise(_run(net, "event", x, k), native_sim)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_step_kernel_with_readout_trace_equals_pure_jax(dtype):
    """With a readout trace the engine scans the one-step kernel instead of the chunk one."""
    net = random_network(dtype).materialise(4)
    x = _inputs(net, 200)
    a = _run(net, "event", x, 50, readout_tau=20.0)
    b = _run(net, "native", x, 50, readout_tau=20.0)
    _assert_bitwise(a, b)
    np.testing.assert_array_equal(np.asarray(a.state.trace), np.asarray(b.state.trace))


def _lif_receptor_spec(dtype: str):
    """receptor_network's LIF and ALIF populations only (what the fused kernel runs): two
    exponential receptors (5 and 12 ms) plus delta input."""
    from dataclasses import replace

    builder = receptor_network()
    builder.dtype = dtype
    spec = builder.spec()
    keep = {"e", "a"}
    return replace(spec, populations=tuple(p for p in spec.populations if p.name in keep),
                   projections=tuple(p for p in spec.projections
                                     if p.target in keep and p.source in keep | {"input"}))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("k", [1, 100])
def test_several_receptors_fused_equals_pure_jax(dtype, k):
    """Two receptors per neuron (R x N receptor columns): the fused kernel reproduces the
    pure-JAX engine exactly, state included."""
    from adapters.spec.materialise import materialise

    net = materialise(_lif_receptor_spec(dtype), 6)
    x = _inputs(net, 300)
    native_sim = _run(net, "native", x, k)
    assert native_sim.params.fused is not None and native_sim.layout.n_cols == 3 * 60
    _assert_bitwise(_run(net, "event", x, k), native_sim)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("k", [1, 100])
def test_several_receptors_with_euler_models_fused_equals_pure_jax(dtype, k):
    """LIF, ALIF, AdEx and Izhikevich targets with two receptors each (R x N receptor
    columns, all of them added by the Euler models): the fused kernel reproduces the
    pure-JAX engine exactly."""
    builder = receptor_network()
    builder.dtype = dtype
    net = builder.materialise(6)
    x = _inputs(net, 300)
    native_sim = _run(net, "native", x, k)
    assert native_sim.params.fused is not None and native_sim.layout.n_cols == 3 * 90
    _assert_bitwise(_run(net, "event", x, k), native_sim)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("k", [1, 50])
def test_drives_fused_equals_pure_jax(dtype, k):
    """External Poisson drives onto v (delta) and onto an exponential receptor enter the
    fused kernel's ring row exactly as the pure-JAX step adds them."""
    from dataclasses import replace

    from adapters.spec.materialise import materialise
    from adapters.spec.model import Exponential, PoissonDrive

    spec = _lif_receptor_spec(dtype)
    target = spec.populations[0].name
    other = spec.populations[-1].name
    spec = replace(spec, drives=(
        PoissonDrive(name="bg_v", target=target, rate=30.0, n_sources=40, weight=0.4),
        PoissonDrive(name="bg_g", target=other, rate=30.0, n_sources=40, weight=0.3,
                     synapse=Exponential(tau_syn=3.0))))
    net = materialise(spec.overridden(duration=30.0), 2)
    x = _inputs(net, 300)
    native_sim = _run(net, "native", x, k)
    assert native_sim.params.fused is not None and native_sim.params.drive is not None
    _assert_bitwise(_run(net, "event", x, k), native_sim)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("k", [1, 7, 100])
def test_fused_adex_izhikevich_equals_pure_jax(dtype, k):
    """AdEx (with spark.neurons.pinned_exp on both paths) and Izhikevich, delta and
    exponential input, refractoriness: the fused kernel matches pure JAX bit for bit."""
    builder = euler_network()
    builder.dtype = dtype  # same network, other precision
    net = builder.materialise(5)
    assert net.dtype == dtype
    x = _inputs(net, 300)
    b = _run(net, "native", x, k)
    assert b.params.fused is not None and b.params.cells == ()
    assert int(np.asarray(b.params.fused.float_params).shape[1]) == 6 + 2 + 9
    _assert_bitwise(_run(net, "event", x, k), b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adex_exp_over_a_wide_range_equals_pure_jax(dtype):
    """One step of 3 x 2000 AdEx neurons spread over v in [-120, 40] mV, with delta_t down
    to 0.1 mV: exp arguments from about -700 to 450 (overflow to inf in float32 and, for
    the largest, float64: such neurons jump to inf, spike and reset), every element of v
    and w compared byte for byte after steps 1 and 2."""
    from adapters.spec.model import AdEx

    b = NetworkBuilder("wide", dt=DT, duration=1.0, dtype=dtype)
    init = {"v": Uniform(low=-120.0, high=40.0), "w": Uniform(low=-5.0, high=20.0)}
    for name, delta_t in (("a", 2.0), ("b", 0.5), ("c", 0.1)):
        b.population(name, 2000, AdEx(delta_t=delta_t, i_offset=5.0), initial=init)
    b.inputs(1)
    net = b.materialise(3)
    x = np.zeros((2, 1), bool)
    sims = [_run(net, method, x, 1) for method in ("event", "native")]
    assert sims[1].params.fused is not None
    for name in STATE_FIELDS:
        p, q = (np.asarray(getattr(s.state, name)) for s in sims)
        assert np.array_equal(p.view(np.uint8), q.view(np.uint8)), f"state.{name} differs"
    np.testing.assert_array_equal(sims[0].recorded()[1], sims[1].recorded()[1])
    assert sims[0].recorded()[1].size > 100


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_native_propagation_with_euler_models_equals_pure_jax(dtype):
    """AdEx and Izhikevich with the update kept in XLA (the path of networks the kernel does
    not fuse: with plasticity or conductance receptors; test_native_gpu.py runs this with
    the CUDA kernels): native propagation alone also matches pure JAX."""
    with mock.patch.object(netmod, "fuse_cells", lambda *args: None):
        builder = euler_network()
        builder.dtype = dtype  # same network, other precision
        net = builder.materialise(5)
        assert net.dtype == dtype
        x = _inputs(net, 300)
        b = _run(net, "native", x, 100)
        assert b.params.fused is None and b.layout.method == "native"
        _assert_bitwise(_run(net, "event", x, 100), b)


def test_native_propagation_with_plasticity_equals_pure_jax():
    b = NetworkBuilder("plastic", dt=DT, duration=50.0, dtype="float64")
    b.population("p", 40, LIF(i_offset=14.0, t_ref=0.3), initial={"v": Uniform(low=-65.0, high=-52.0)})
    b.inputs(20, rate=200.0)
    b.connect("input", "p", FixedProbability(p=0.4), weight=Normal(mean=3.0, std=0.5),
              delay=Uniform(low=0.1, high=0.4), plasticity=STDP())
    b.connect("p", "p", FixedProbability(p=0.2), weight=Normal(mean=0.5, std=0.2),
              delay=Constant(value=0.2))
    net = b.materialise(2)
    x = _inputs(net, 400)
    native_sim = _run(net, "native", x, 100)
    assert native_sim.params.fused is None
    pure = _run(net, "event", x, 100)
    _assert_bitwise(pure, native_sim)
    np.testing.assert_array_equal(pure.weights(), native_sim.weights())


def test_poisson_mode_equals_pure_jax():
    net = random_network("float32").materialise(6)
    rates = np.full(net.spec.input.size, 150.0)
    key = jax.random.key(1)
    outs = []
    for method in ("event", "native"):
        sim = Simulator(to_spark(net), method=method)
        outs.append([sim.run_poisson(rates, key, 100).counts for _ in range(2)])
    np.testing.assert_array_equal(np.stack(outs[0]), np.stack(outs[1]))
    assert np.stack(outs[0]).sum() > 0


@pytest.mark.parametrize("network", ["random", "euler"])
def test_batched_native_equals_unbatched_native(network):
    """vmap (``expand_dims``): the kernel loops over instances with the shared step counter
    (LIF/ALIF, and AdEx/Izhikevich)."""
    builder = random_network("float64") if network == "random" else euler_network()
    nets = [builder.materialise(s) for s in (11, 12, 13)]
    x = _inputs(nets[0], 300)
    batched = BatchedSimulator([to_spark(n) for n in nets], method="native")
    assert batched.params.fused is not None
    out = [batched.run_chunk(np.broadcast_to(x[i:i + 100], (3, 100, x.shape[1])))
           for i in range(0, 300, 100)]
    for b, net in enumerate(nets):
        sim = Simulator(to_spark(net), method="event")
        seq = [sim.run_chunk(x[i:i + 100]).counts for i in range(0, 300, 100)]
        np.testing.assert_array_equal(np.stack([o[b] for o in out]), np.stack(seq))
        assert np.stack(seq).sum() > 0
        for name in STATE_FIELDS:
            p, q = np.asarray(getattr(batched.state, name))[b], np.asarray(getattr(sim.state, name))
            assert np.array_equal(p.view(np.uint8), q.view(np.uint8)), f"state.{name} differs"


def test_batched_threads_change_nothing():
    builder = random_network("float32")
    nets = [builder.materialise(s) for s in (1, 2, 3, 4, 5)]
    x = np.broadcast_to(_inputs(nets[0], 200), (5, 200, nets[0].spec.input.size))
    counts, states = [], []
    for threads in (1, 2, 3):
        sim = BatchedSimulator([to_spark(n) for n in nets], method="native", threads=threads)
        counts.append(sim.run_chunk(x))
        states.append(np.asarray(sim.state.v))
    assert counts[0].sum() > 0
    for c, v in zip(counts[1:], states[1:]):
        np.testing.assert_array_equal(c, counts[0])
        np.testing.assert_array_equal(v, states[0])


def test_builtin_paper8_fraction_bitwise_over_200_steps():
    """The benchmark network itself (float32), the fused chunk kernel vs pure JAX."""
    from dataclasses import replace

    from adapters.spec.materialise import materialise
    from adapters.spec.networks import paper8

    spec = paper8()
    spec = replace(spec, simulation=replace(spec.simulation, dtype="float32", duration=20.0))
    net = materialise(spec)
    x = _inputs(net, 200)
    _assert_bitwise(_run(net, "event", x, 200), _run(net, "native", x, 200))


# ------------------------------------------------------------------ contract and failure


def test_chunk_kernel_rejects_inconsistent_shapes():
    net = random_network("float64").materialise(3)
    sim = Simulator(to_spark(net), method="native")
    p, s = sim.params, sim.state
    with pytest.raises(Exception, match="spark native kernel: "):
        out = native.lif_chunk(s.t, s.v[:-1], s.g[:-1], s.aux[:-1], s.lastspike[:-1], s.buffer,
                               jnp.zeros((2, net.spec.input.size), bool), p.fused.float_params,
                               p.fused.int_params, p.propagator.row_ptr, p.propagator.offsets,
                               p.propagator.weights, jnp.zeros((0, 0), jnp.uint16),
                               jnp.zeros(0, jnp.int32), np.zeros(0, s.v.dtype),
                               ring=p.ring, n_cols=p.n_cols, record=False)
        jax.block_until_ready(out)


def test_no_compiler_falls_back_with_one_line_notice(monkeypatch, capsys):
    monkeypatch.setenv("CXX", "/nonexistent/compiler")
    with pytest.raises(native_build.BuildError, match="does not run"):
        native_build.toolchain()
    monkeypatch.setattr(native, "available", lambda: False)
    monkeypatch.setitem(native._state, "cpu", dict(ok=False, reason="no C++ compiler found",  # noqa: SLF001
                                                    detail="no C++ compiler found"))
    monkeypatch.setattr(native, "_noticed", set())
    layout = netmod.make_layout([to_spark(random_network().materialise(1))], method="native")
    assert layout.method in ("event", "dense")
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["spark: native kernels unavailable (no C++ compiler found); using the pure-JAX path"]


@pytest.mark.slow(reason="cold builds of the native kernels into a fresh cache (~15 s)")
def test_library_is_cached_by_content(tmp_path, monkeypatch):
    """A second build reuses the cached library; the name changes with the flags."""
    monkeypatch.setenv("SPARK_BENCH_NATIVE_CACHE", str(tmp_path))
    tc = native_build.toolchain()
    first = native_build.build(tc)
    assert first.parent == tmp_path and first.exists()
    mtime = first.stat().st_mtime_ns
    assert native_build.build(tc) == first and first.stat().st_mtime_ns == mtime
    other = native_build.Toolchain(tc.compiler, tc.version, tc.flags + ("-DUNUSED",),
                                   tc.include_dir, tc.jaxlib_version)
    assert native_build.library_path(other) != first
    assert not list(tmp_path.glob("*.tmp")), "no temporary file left behind"
    assert "-march=native" not in tc.flags


def test_gpu_platform_without_nvcc_is_unavailable_with_the_reason(monkeypatch, tmp_path):
    """On a GPU the CUDA kernels are built with nvcc: without it they are reported
    unavailable (the pure-JAX path runs there) instead of failing to lower."""
    monkeypatch.setattr(native, "platform", lambda: "gpu")
    monkeypatch.setattr(native, "_state", {})  # this test's load only
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CUDA_HOME", raising=False)
    assert not native.available()
    assert "nvcc not found" in native.unavailable_reason()
    with pytest.raises(native.NativeUnavailable, match="nvcc not found"):
        native.require()


@pytest.mark.slow(reason="a cold build of the native kernels (~30 s)")
def test_a_cached_library_whose_bytes_changed_is_rebuilt_not_loaded(tmp_path, monkeypatch):
    """The library's name hashes what went into the build; its recorded content hash must
    also match before it is loaded (a truncated or altered file in the cache is rebuilt)."""
    monkeypatch.setenv("SPARK_BENCH_NATIVE_CACHE", str(tmp_path))
    tc = native_build.toolchain()
    built = native_build.build(tc)
    assert built.parent == tmp_path and native_build.is_intact(built)
    good = built.read_bytes()
    built.write_bytes(good[: len(good) // 2])  # what a full disk or a stray write leaves
    assert not native_build.is_intact(built)
    assert native_build.build(tc) == built and built.read_bytes() == good
