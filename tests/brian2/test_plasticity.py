"""Plastic pathways on Brian2 (runtime device and the resident C++ binary) against Spark:
the same spikes, step for step, for pair STDP (open loop) and for the reward-modulated rule
in the cartpole loop (closed loop, modulators handed in with the chunks)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from adapters.base import BackendOptions
from adapters.registry import BACKENDS, load_backend
from adapters.spec.materialise import materialise
from adapters.spec.model import STDP
from adapters.spec.networks import cartpole_agent, tiny
from benchmarks.protocol import record_open_loop_spikes


def assert_same_spikes(got: dict, reference: dict, label: str) -> None:
    assert set(got) == set(reference)
    for pop, (steps, index) in reference.items():
        np.testing.assert_array_equal(got[pop][0], steps, err_msg=f"{label} {pop} steps")
        np.testing.assert_array_equal(got[pop][1], index, err_msg=f"{label} {pop} indices")


def stdp_tiny():
    """tiny with pair STDP on its input and recurrent delta projections (weights that
    cross the clip bounds: w_max below some initial weights)."""
    rule = STDP(tau_pre=5.0, tau_post=8.0, a_plus=0.2, a_minus=0.25, w_min=0.0, w_max=2.5)
    spec = tiny()
    projections = tuple(replace(p, plasticity=rule) if p.name in ("input_to_a", "a_to_a") else p
                        for p in spec.projections)
    return replace(spec, projections=projections).overridden(dtype="float64", duration=200.0)


@pytest.mark.slow(reason="builds an STDP network in Brian2 C++ and Cython (~20 s each)")
@pytest.mark.parametrize("name", ["brian2-cpp-uninterrupted", "brian2-runtime"])
def test_stdp_gives_sparks_spikes(name, options):
    net = materialise(stdp_tiny(), 1)
    reference = record_open_loop_spikes(load_backend("spark"), net, options)
    assert sum(len(s) for s, _ in reference.values()) > 100
    static = record_open_loop_spikes(load_backend("spark"),
                                     materialise(tiny().overridden(dtype="float64",
                                                                   duration=200.0), 1), options)
    assert any(len(static[p][0]) != len(reference[p][0]) for p in static), \
        "the plasticity changed nothing: the test would not see a wrong rule"
    assert_same_spikes(record_open_loop_spikes(load_backend(name), net, options), reference, name)


@pytest.mark.slow(reason="five training episodes of the cartpole agent in Brian2 C++ (~20-100 s)")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_cartpole_agent_takes_sparks_actions_and_spikes(dtype, options):
    """Five training episodes (the default ``td`` reward: a modulator every step) and one
    test episode, agent seed 0, k = 20: every spike of every population equal."""
    from benchmarks.control.cartpole import CartpoleTask, run_agent

    spec = cartpole_agent().overridden(dtype=dtype)
    task = CartpoleTask(k=20)
    runs = {}
    names = ["spark", "brian2-cpp"] + (["brian2-runtime"] if dtype == "float64" else [])
    for name in names:
        backend = load_backend(name)()
        try:
            backend.prepare(materialise(spec, 0), options)
            log = run_agent(backend, spec, task, 0, train=5, test=1)
            runs[name] = (log, backend.recorded_spikes())
        finally:
            backend.close()
    ref_log, ref_spikes = runs["spark"]
    assert len(set(ref_log.train_returns)) > 1  # not a degenerate run
    assert sum(len(s) for s, _ in ref_spikes.values()) > 1000
    for name in names[1:]:
        log, spikes = runs[name]
        assert log.train_returns == ref_log.train_returns, name
        assert log.test_returns == ref_log.test_returns, name
        assert_same_spikes(spikes, ref_spikes, name)


def test_the_modulator_changes_the_brian2_weights_like_sparks(options):
    """One chunk with a non-zero modulator on the runtime device: the weights after it are
    Spark's, synapse by synapse, to the last bits (XLA fuses ``w + lr*m*e`` into one
    multiply-add; Brian2 rounds twice: see spark/plasticity.py), and differ from before."""
    from adapters.brian2.translate import modulated_pathways
    from adapters.spark.translate import to_spark
    from benchmarks.control.cartpole import CartpoleTask
    from spark.engine import Simulator

    spec = cartpole_agent().overridden(dtype="float64")
    net = materialise(spec, 2)
    task = CartpoleTask()
    spikes = task.code.spikes(np.array([0.1, -0.2, 0.03, 0.4]),
                              np.random.default_rng(0).random((50, task.code.size)), 1.0)
    sim = Simulator(to_spark(net))
    before = sim.weights().copy()
    sim.run_chunk(spikes, 0.7)
    backend = load_backend("brian2-numpy")()
    try:
        backend.prepare(net, replace(options, record_spikes=False))
        from adapters.base import ChunkInput

        backend.run_chunk(ChunkInput(spikes=spikes, modulator=0.7))
        plan = backend._model.plan
        brian = {}  # (source index, target-group index) -> weight, over every plastic pathway
        for pw in modulated_pathways(plan):
            w = np.asarray(backend._model.synapses[pw.name].variables["w_syn"].get_value())
            brian.update(zip(zip(pw.pre.tolist(), pw.post.tolist()), w.tolist()))
    finally:
        backend.close()
    spark_w = sim.weights()
    assert not np.array_equal(spark_w, before)
    expected = {}  # Spark's plastic table: plastic projections in order, each as materialised
    before_by_key = {}
    offset = 0
    for proj in net.projections:
        if proj.spec.plasticity is None:
            continue
        start = plan.slot[proj.spec.target][1]
        n = proj.pre.size
        keys = list(zip(proj.pre.tolist(), (proj.post + start).tolist()))
        expected.update(zip(keys, spark_w[offset:offset + n].tolist()))
        before_by_key.update(zip(keys, before[offset:offset + n].tolist()))
        offset += n
    assert len(expected) == len(brian) == offset == spark_w.size
    keys = sorted(expected)
    got = np.array([brian[k] for k in keys])
    want = np.array([expected[k] for k in keys])
    moved = np.array([before_by_key[k] for k in keys]) != want
    assert moved.sum() > 100
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)


@pytest.mark.parametrize("name,why", [
    ("brian2-cpp-relaunch", "not carried between launches"),
    ("brian2-cuda", "not been run under brian2cuda"),
    ("brian2-cuda-uninterrupted", "not been run under brian2cuda"),
])
def test_modes_without_plasticity_refuse_it_with_the_reason(name, why):
    refusal = BACKENDS[name].capabilities.refusal(cartpole_agent().overridden(dtype="float64"))
    assert refusal is not None and "reward_stdp" in refusal and why in refusal
