"""The plastic table walked as blocks (complete all-to-all rectangles) against the general
walk (per-synapse gathers and a scatter): spikes, counts, traces and weights equal bit for
bit; the membranes to the last few bits (XLA:CPU folds the general walk's scatter into
``v + row``, so there the deliveries are added onto the membrane one by one, while the
blocks add them to the row first: another rounding order of the same sum)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import spark.network as netmod
from adapters.spark.translate import to_spark
from adapters.spec.materialise import materialise
from adapters.spec.model import (
    LIF, STDP, AllToAll, Constant, FixedProbability, RewardModulatedSTDP, Uniform,
)
from adapters.spec.networks import cartpole_agent
from spark.engine import BatchedSimulator, Simulator
from spark.plasticity import MAX_BLOCK_ROWS, Block, build_plastic

from .nets import NetworkBuilder, assert_bytes_equal

STATE_FIELDS = ("g", "aux", "lastspike", "buffer", "history")
PLASTIC_FIELDS = ("weight", "x_pre", "x_post", "elig")


@pytest.fixture
def general_walk(monkeypatch):
    """Layouts made inside the test without blocks (the general per-synapse walk)."""
    made = netmod.make_layout

    def without_blocks(*args, **kwargs):
        return dataclasses.replace(made(*args, **kwargs), plastic_blocks=None)

    def use(enabled: bool) -> None:
        monkeypatch.setattr(netmod, "make_layout", without_blocks if enabled else made)

    return use


def _agent(dtype: str, seed: int = 0):
    spec = cartpole_agent()
    spec = dataclasses.replace(spec, simulation=dataclasses.replace(spec.simulation, dtype=dtype))
    return to_spark(materialise(spec, seed))


def _drive(sim: Simulator, n_inputs: int, chunks: int = 30, k: int = 20) -> list[np.ndarray]:
    """Dense random input (30 % per step) and a modulator per chunk; counts per chunk."""
    rng = np.random.default_rng(7)
    counts = []
    for _ in range(chunks):
        spikes = rng.random((k, n_inputs)) < 0.3
        counts.append(sim.run_chunk(spikes, float(rng.normal(0.0, 0.5))).counts)
    return counts


def _assert_same(a: Simulator, b: Simulator) -> None:
    assert_bytes_equal(a, b, STATE_FIELDS + tuple(f"plastic.{f}" for f in PLASTIC_FIELDS),
                       min_spikes=100)
    va, vb = np.asarray(a.state.v), np.asarray(b.state.v)
    np.testing.assert_allclose(va, vb, rtol=8 * np.finfo(va.dtype).eps, atol=0)


def test_the_cartpole_agent_is_two_rectangles():
    sim = Simulator(_agent("float32"))
    assert sim.layout.plastic_blocks == (
        Block(start=0, n_pre=40, n_post=20, pre=60, post=0, col=0, delay=1),
        Block(start=800, n_pre=40, n_post=20, pre=60, post=20, col=20, delay=1))


def _two_pools(connector, delay, n_inputs: int = 6) -> NetworkBuilder:
    b = NetworkBuilder("plastic", dt=0.1, dtype="float64")
    b.population("p", 5, LIF(i_offset=14.0, t_ref=0.3), initial={"v": Uniform(low=-65.0, high=-52.0)})
    b.inputs(n_inputs)
    b.connect("input", "p", connector, weight=Constant(value=2.0), delay=delay, plasticity=STDP())
    return b


@pytest.mark.parametrize("connector, delay, n_inputs, why", [
    (FixedProbability(p=0.5), Constant(value=0.1), 6, "not every pair connected"),
    (AllToAll(), Uniform(low=0.1, high=0.5), 6, "more than one delay"),
    (AllToAll(), Constant(value=0.1), MAX_BLOCK_ROWS + 1, "too many rows to unroll"),
])
def test_what_is_not_a_block_keeps_the_general_walk(connector, delay, n_inputs, why):
    net = to_spark(_two_pools(connector, delay, n_inputs).materialise(3))
    assert netmod.make_layout([net]).plastic_blocks is None, why


def test_blocks_that_do_not_describe_the_table_are_refused():
    net = _agent("float32")
    _, records = netmod.synapse_tables(net)
    wrong = (Block(start=0, n_pre=40, n_post=40, pre=60, post=0, col=0, delay=1),)
    with pytest.raises(ValueError, match="do not describe"):
        build_plastic(records, 1600, 60, 2, 1.0, np.dtype("float32"), blocks=wrong)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocks_equal_the_general_walk_bit_for_bit(dtype, general_walk):
    sims = []
    for general in (False, True):
        general_walk(general)
        sims.append(Simulator(_agent(dtype), record_spikes=True))
    blocks, plain = sims
    assert blocks.layout.plastic_blocks is not None and plain.layout.plastic_blocks is None
    for a, b in zip(_drive(blocks, 40), _drive(plain, 40)):
        np.testing.assert_array_equal(a, b)
    _assert_same(blocks, plain)
    assert not np.array_equal(blocks.weights(), np.asarray(blocks.params.plastic.initial_weight)), \
        "the modulators must have moved the weights"


def mixed_rectangles():
    """Two rectangles with different rules, delays and targets (8 inputs -> 6 STDP, 8 -> 4
    reward-modulated), and a static projection beside them."""
    b = NetworkBuilder("mixed", dt=0.1, dtype="float64")
    b.population("p", 6, LIF(i_offset=14.0, t_ref=0.3), initial={"v": Uniform(low=-65.0, high=-52.0)})
    b.population("q", 4, LIF(i_offset=14.0, t_ref=0.3), initial={"v": Uniform(low=-65.0, high=-52.0)})
    b.inputs(8)
    b.connect("input", "p", AllToAll(), weight=Uniform(low=0.5, high=2.0),
              delay=Constant(value=0.3), plasticity=STDP(a_plus=0.05, a_minus=0.06, w_max=3.0))
    b.connect("input", "q", AllToAll(), weight=Uniform(low=0.5, high=2.0),
              delay=Constant(value=0.1),
              plasticity=RewardModulatedSTDP(a_plus=0.05, a_minus=0.02, lr=0.5, w_max=3.0))
    b.connect("p", "q", FixedProbability(p=0.5), weight=Constant(value=1.0))
    return to_spark(b.materialise(4))


def test_stdp_and_reward_blocks_with_other_delays_equal_the_general_walk(general_walk):
    net = mixed_rectangles()
    sims = []
    for general in (False, True):
        general_walk(general)
        sims.append(Simulator(net, record_spikes=True))
    assert len(sims[0].layout.plastic_blocks) == 2
    for a, c in zip(_drive(sims[0], 8, chunks=20, k=25), _drive(sims[1], 8, chunks=20, k=25)):
        np.testing.assert_array_equal(a, c)
    _assert_same(*sims)


def test_batched_blocks_equal_the_general_walk(general_walk):
    outputs = []
    for general in (False, True):
        general_walk(general)
        sim = BatchedSimulator([_agent("float32", seed) for seed in range(3)])
        rng = np.random.default_rng(3)
        counts = [sim.run_chunk(rng.random((3, 20, 40)) < 0.3, rng.normal(0.0, 0.5, 3))
                  for _ in range(20)]
        outputs.append((np.stack(counts), np.asarray(sim.state.plastic.weight),
                        np.asarray(sim.state.plastic.elig)))
    for a, b in zip(*outputs):
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8))
