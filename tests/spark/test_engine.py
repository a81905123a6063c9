"""Engine-level equivalences: propagators, precision, chunking, seeds, batching, cache."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from adapters.spark.translate import to_spark
from adapters.spec.inputs import InputStream
from adapters.spec.materialise import materialise
from spark.engine import BatchedSimulator, Simulator

from .nets import random_network

N_STEPS = 600


def _open_loop(net, n=N_STEPS) -> np.ndarray:
    return InputStream(net.spec, n).open_loop()


def _spikes(sim: Simulator, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    for start in range(0, len(x), k):
        sim.run_chunk(x[start:start + k])
    return sim.recorded()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_event_driven_equals_dense_on_random_networks(dtype):
    for seed in (1, 2):
        net = random_network(dtype).materialise(seed)
        x = _open_loop(net)
        # k_bound=2 forces the exact fallback on most steps; the default K rarely needs it.
        results = {}
        for label, kw in {"dense": dict(method="dense"), "event": dict(method="event"),
                          "event_fallback": dict(method="event", k_bound=2)}.items():
            sim = Simulator(to_spark(net), record_spikes=True, **kw)
            assert sim.layout.method == kw["method"]
            results[label] = (_spikes(sim, x, N_STEPS), np.asarray(sim.state.v))
        (s_ref, i_ref), v_ref = results["dense"]
        assert len(s_ref) > 200  # the network is active
        for label in ("event", "event_fallback"):
            (s, i), v = results[label]
            np.testing.assert_array_equal(s, s_ref, err_msg=label)
            np.testing.assert_array_equal(i, i_ref, err_msg=label)
            np.testing.assert_allclose(v, v_ref, rtol=0, atol=1e-4 if dtype == "float32" else 1e-10)
    # The two event variants sum in the same (ascending presynaptic) order: bit-identical.
    np.testing.assert_array_equal(results["event"][1], results["event_fallback"][1])


def test_auto_choice_is_reported():
    sim = Simulator(to_spark(random_network().materialise()))
    assert sim.layout.method in ("dense", "event")
    assert f"connectivity={sim.layout.method}" in sim.notes


def test_float32_and_float64_rates_agree():
    rates = {}
    for dtype in ("float32", "float64"):
        net = random_network(dtype).materialise(3)
        sim = Simulator(to_spark(net))
        rates[dtype] = sim.run_chunk(_open_loop(net)).counts.astype(float)
    np.testing.assert_allclose(rates["float32"], rates["float64"], rtol=0.05)


@pytest.mark.parametrize("method", ["event", "dense"])
def test_chunking_invariance(method):
    net = random_network("float64").materialise(4)
    x = _open_loop(net, 200)
    a = _spikes(Simulator(to_spark(net), method=method, record_spikes=True), x, 1)
    b = _spikes(Simulator(to_spark(net), method=method, record_spikes=True), x, 100)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_same_seed_same_result_and_reset():
    spec_builder = random_network("float32")
    net1, net2 = spec_builder.materialise(7), spec_builder.materialise(7)
    x = _open_loop(net1)
    sim1, sim2 = Simulator(to_spark(net1)), Simulator(to_spark(net2))
    c1 = sim1.run_chunk(x).counts
    np.testing.assert_array_equal(c1, sim2.run_chunk(x).counts)
    sim1.reset()
    np.testing.assert_array_equal(c1, sim1.run_chunk(x).counts)
    assert sim1.compiled.keys() == {N_STEPS}


@pytest.mark.parametrize("k_bound", [None, 2])
def test_batched_equals_sequential(k_bound):
    builder = random_network("float64")
    nets = [builder.materialise(s) for s in (11, 12, 13)]
    x = _open_loop(nets[0], 300)
    batched = BatchedSimulator([to_spark(n) for n in nets], method="event", k_bound=k_bound)
    out = [batched.run_chunk(np.broadcast_to(x[i:i + 100], (3, 100, x.shape[1])))
           for i in range(0, 300, 100)]
    for b, net in enumerate(nets):
        # the sequential run uses its own (unpadded) layout
        sim = Simulator(to_spark(net), method="event", k_bound=k_bound)
        seq = [sim.run_chunk(x[i:i + 100]).counts for i in range(0, 300, 100)]
        np.testing.assert_array_equal(np.stack([o[b] for o in out]), np.stack(seq))


def test_poisson_encoder_is_chunking_invariant():
    net = random_network("float64").materialise(5)
    rates = np.full(net.spec.input.size, 120.0)
    key = jax.random.key(42)
    a = Simulator(to_spark(net))
    whole = a.run_poisson(rates, key, 200).counts
    b = Simulator(to_spark(net))
    parts = b.run_poisson(rates, key, 80).counts + b.run_poisson(rates, key, 120).counts
    np.testing.assert_array_equal(whole, parts)
    assert whole.sum() > 0


def test_compile_cache_cold_then_warm(tmp_path):
    net = random_network("float32").materialise(1)
    first = Simulator(to_spark(net), cache_dir=tmp_path).compile(10)
    assert first.cache_hit is False
    jax.clear_caches()  # a fresh process: only the persistent cache can serve it
    again = Simulator(to_spark(net), cache_dir=tmp_path).compile(10)
    assert again.cache_hit is True
    jax.clear_caches()
    other = Simulator(to_spark(net), cache_dir=tmp_path / "empty").compile(10)
    assert other.cache_hit is False
    same_process = Simulator(to_spark(net), cache_dir=tmp_path / "empty").compile(10)
    assert same_process.cache_hit is True  # reused in memory: nothing compiled


def test_float64_network_is_float64():
    net = random_network("float64").materialise(1)
    sim = Simulator(to_spark(net))
    leaves = jax.tree_util.tree_leaves((sim.params, sim.state))
    floats = {leaf.dtype for leaf in leaves if np.issubdtype(leaf.dtype, np.floating)}
    assert floats == {np.dtype("float64")}
    net32 = materialise(net.spec, 1).with_dtype("float32")
    sim32 = Simulator(to_spark(net32))
    leaves = jax.tree_util.tree_leaves((sim32.params, sim32.state))
    assert {leaf.dtype for leaf in leaves if np.issubdtype(leaf.dtype, np.floating)} == {np.dtype("float32")}


def test_run_batched_on_a_builtin_spec():
    from adapters.spec.networks import tiny
    from adapters.spark.batched import run_batched

    spec = tiny()
    out = run_batched(spec, [1, 2], k=100, n_steps=300)
    assert out.shape == (3, 2, 2) and out.dtype == np.int64
    x = InputStream(spec, 300).open_loop()
    for b, seed in enumerate((1, 2)):
        batched = BatchedSimulator([to_spark(materialise(spec, s)) for s in (1, 2)])
        sim = Simulator(to_spark(materialise(spec, seed)), method=batched.layout.method)
        seq = np.stack([sim.run_chunk(x[i:i + 100]).counts for i in range(0, 300, 100)])
        np.testing.assert_array_equal(out[:, b], seq)
