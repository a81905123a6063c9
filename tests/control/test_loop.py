"""The environment loop's plumbing: what each chunk carries, when, and that every backend
and Spark's batched agents run the same loop."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from adapters.base import Backend, Capabilities, ChunkInput  # noqa: E402
from adapters.registry import load_backend  # noqa: E402
from adapters.spec.materialise import materialise  # noqa: E402
from adapters.spec.networks import cartpole_agent  # noqa: E402
from benchmarks.control.cartpole import (  # noqa: E402
    CartpoleTask,
    check_agent,
    run_agent,
    run_agents_batched,
)


class ScriptedBackend(Backend):
    """Counts that always favour one readout; records every chunk it is handed."""

    name = "scripted"
    capabilities = Capabilities(closed_loop=True, open_loop=False, neuron_models=frozenset(),
                                synapses=frozenset())

    def __init__(self, favour: int = 0):
        self.favour, self.chunks, self.resets = favour, [], 0

    def prepare(self, net, options):  # pragma: no cover - not used
        raise NotImplementedError

    def reset(self) -> None:
        self.resets += 1

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        self.chunks.append(chunk)
        counts = np.zeros(2, np.int64)
        counts[self.favour] = 3
        return counts


@pytest.fixture(scope="module")
def spec():
    return cartpole_agent().overridden(dtype="float64")


def test_failure_reward_reaches_the_network_with_the_next_chunk_only_while_training(spec):
    backend = ScriptedBackend(favour=0)  # always push left: every episode fails
    task = CartpoleTask(k=5, reward="failure")
    log = run_agent(backend, spec, task, seed=3, train=3, test=2)
    assert backend.resets == 1
    assert len(log.train_returns) == 3 and len(log.test_returns) == 2
    assert all(8 <= r < 20 for r in log.train_returns + log.test_returns)
    assert len(backend.chunks) == log.env_steps == sum(log.train_returns + log.test_returns)
    assert all(c.spikes.shape == (5, task.code.size) and c.spikes.dtype == bool
               for c in backend.chunks)
    modulators = np.array([c.modulator for c in backend.chunks])
    # the first chunk of training episodes 2 and 3 carries the failure of the one before;
    # test episodes (and the chunk after the last training failure) carry nothing
    starts = np.cumsum([0] + log.train_returns + log.test_returns)[:-1]
    expected = np.zeros(len(modulators))
    expected[starts[1:3]] = task.failure_modulator
    np.testing.assert_array_equal(modulators, expected)


def test_return_reward_compares_each_episode_with_a_running_baseline(spec):
    backend = ScriptedBackend(favour=1)
    task = CartpoleTask(k=2, reward="return", return_scale=2.0, baseline_rate=0.5)
    log = run_agent(backend, spec, task, seed=0, train=4, test=0)
    starts = np.cumsum([0] + log.train_returns)[1:-1]
    got = [backend.chunks[s].modulator for s in starts]
    b, expected = float(log.train_returns[0]), []
    for r in log.train_returns[:3]:
        expected.append(2.0 * (r - b) / b)
        b += 0.5 * (r - b)
    np.testing.assert_allclose(got, expected)
    assert got[0] == 0.0  # the first episode is its own baseline


def test_the_same_seed_gives_the_same_spikes_and_episodes(spec):
    a, b = ScriptedBackend(), ScriptedBackend()
    run_agent(a, spec, CartpoleTask(k=3), seed=7, train=2, test=0)
    run_agent(b, spec, CartpoleTask(k=3), seed=7, train=2, test=0)
    assert len(a.chunks) == len(b.chunks)
    for x, y in zip(a.chunks, b.chunks):
        np.testing.assert_array_equal(x.spikes, y.spikes)


def test_an_agent_needs_two_readouts_and_the_codes_input_size(spec):
    from dataclasses import replace

    with pytest.raises(ValueError, match="2 readouts"):
        check_agent(replace(spec, readouts=("a_exc",)), CartpoleTask())
    with pytest.raises(ValueError, match="input size"):
        check_agent(cartpole_agent(n_inputs=12), CartpoleTask())
    with pytest.raises(ValueError, match="reward"):
        CartpoleTask(reward="dense")


def test_batched_agents_run_exactly_the_loop_of_single_agents(spec):
    """Spark's batched agents (one vmapped program, shared plastic indices) take the same
    actions, episode by episode, as the same agents run one by one on the spark backend."""
    task = CartpoleTask(k=20)  # the td reward: a critic per agent, a modulator every step
    seeds = [0, 1]
    batched, totals = run_agents_batched(spec, task, seeds, train=4, test=1)
    assert totals["chunks"] >= max(b.env_steps for b in batched)
    import spark.native

    # the native chunk kernel where it builds, against the pure-JAX spark backend below
    assert (totals["method"] == "native") == spark.native.available()
    for seed, got in zip(seeds, batched):
        backend = load_backend("spark")()
        try:
            from adapters.base import BackendOptions

            backend.prepare(materialise(spec, seed), BackendOptions())
            alone = run_agent(backend, spec, task, seed, train=4, test=1)
        finally:
            backend.close()
        assert got.train_returns == alone.train_returns
        assert got.test_returns == alone.test_returns


def test_the_weights_move_the_way_the_modulator_says(spec):
    """After identical chunks, the end-of-chunk update is ``lr * modulator * e``: a positive
    modulator moves every weight the way its eligibility points, a negative one the other
    way; on a driven agent the eligibility is mostly Hebbian (positive)."""
    from adapters.spark.translate import to_spark
    from spark.engine import Simulator

    task = CartpoleTask()
    obs = np.array([0.0, 0.5, 0.05, -0.5])
    spikes = task.code.spikes(obs, np.random.default_rng(1).random((50, task.code.size)), 1.0)
    final, elig = {}, {}
    for modulator in (-1.0, 0.0, 1.0):
        sim = Simulator(to_spark(materialise(spec, 0)))
        sim.run_chunk(spikes, 0.0)
        sim.run_chunk(spikes, modulator)
        final[modulator] = sim.weights()
        elig[modulator] = np.asarray(sim.state.plastic.elig)
    e = elig[0.0]
    np.testing.assert_array_equal(elig[1.0], e)  # the modulator does not touch e
    assert (e > 0).sum() > max(400, 2 * (e < 0).sum())
    up, down = final[1.0] - final[0.0], final[-1.0] - final[0.0]
    lr = spec.projections[0].plasticity.lr
    rule = spec.projections[0].plasticity
    free = (final[0.0] + abs(e) * lr < rule.w_max) & (final[0.0] - abs(e) * lr > rule.w_min)
    assert free.sum() > 1000
    np.testing.assert_allclose(up[free], lr * e[free], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(down[free], -lr * e[free], rtol=1e-9, atol=1e-15)
    assert (np.sign(up[free]) == np.sign(e[free])).all()
    assert (up[free] > 0).sum() > 400 and (down[free] < 0).sum() > 400


@pytest.mark.parametrize("name", ["nest", "brian2-cpp-relaunch"])
def test_backends_without_the_rule_refuse_the_agent_with_a_reason(spec, name):
    from adapters.registry import BACKENDS

    refusal = BACKENDS[name].capabilities.refusal(spec)
    assert refusal is not None and "reward_stdp" in refusal


def test_td_reward_hands_in_the_critics_error_every_training_step(spec):
    """``reward="td"``: the critic starts at V = 0, so every modulator of the first
    episode is 0 and the first chunk of the second carries ``td_scale * failure``; after
    that the critic's errors arrive every step, and test episodes carry nothing."""
    backend = ScriptedBackend(favour=0)
    task = CartpoleTask(k=2, reward="td", td_scale=0.5)
    log = run_agent(backend, spec, task, seed=1, train=3, test=2)
    modulators = np.array([c.modulator for c in backend.chunks])
    ends = np.cumsum(log.train_returns + log.test_returns)
    first = ends[0]
    np.testing.assert_array_equal(modulators[:first], 0.0)
    assert modulators[first] == 0.5 * task.failure_modulator
    assert np.count_nonzero(modulators[first + 1:ends[2]]) >= ends[2] - first - 2
    np.testing.assert_array_equal(modulators[ends[2]:], 0.0)  # test phase
