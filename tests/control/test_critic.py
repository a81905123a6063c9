"""The host-side TD critic: its error, its learning, and how the loop hands it in."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.control.critic import CriticState, TDCritic
from benchmarks.control.encoding import PlaceCode

CODE = PlaceCode(n_per_dim=10)


def test_features_are_the_place_code_a_bias_and_the_pairwise_products():
    obs = np.array([0.3, -0.5, 0.02, 1.0])
    place = TDCritic(features="place").featurise(CODE, obs)
    both = TDCritic(features="conjunctive").featurise(CODE, obs)
    rates = CODE.rates(obs) / CODE.max_rate
    np.testing.assert_array_equal(place, np.concatenate([rates, [1.0]]))
    assert both.size == 40 + 1 + 100 + 100
    np.testing.assert_allclose(both[41:141], np.outer(rates[:10], rates[10:20]).ravel())
    np.testing.assert_allclose(both[141:], np.outer(rates[20:30], rates[30:]).ravel())
    pairs = TDCritic(features="pairs").featurise(CODE, obs)
    assert pairs.size == 40 + 1 + 6 * 100
    blocks = rates.reshape(4, 10)
    expected = [np.outer(blocks[i], blocks[j]).ravel()
                for i, j in ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))]
    np.testing.assert_allclose(pairs[41:], np.concatenate(expected))


def test_td_error_is_reward_plus_discounted_next_value_minus_value():
    critic = TDCritic(gamma=0.9, lam=0.0, rate=0.5, features="place")
    state = CriticState(critic, CODE)
    state.weights = np.random.default_rng(0).normal(size=state.weights.size)
    s, s2 = np.array([0.1, 0.0, 0.01, 0.2]), np.array([0.2, 0.1, 0.05, 0.4])
    f, f2 = critic.featurise(CODE, s), critic.featurise(CODE, s2)
    state.begin(s)
    w = state.weights.copy()
    delta = state.step(0.0, s2, terminated=False, learn=False)
    assert delta == pytest.approx(0.9 * (w @ f2) - w @ f)
    np.testing.assert_array_equal(state.weights, w)  # learn=False: nothing moved
    state.begin(s)
    delta = state.step(-1.0, s2, terminated=True)  # a terminal state is worth 0
    assert delta == pytest.approx(-1.0 - w @ f)
    np.testing.assert_allclose(state.weights, w + 0.5 / (f @ f) * delta * f)


def test_the_critic_learns_to_expect_a_failure_that_always_comes():
    """A fixed three-step walk that always ends in failure: V converges to the discounted
    failure, so the TD error of every step goes to 0 (the actor then stops learning from
    what the critic already expects)."""
    critic = TDCritic(gamma=0.9, lam=0.5, rate=0.3, features="place")
    state = CriticState(critic, CODE)
    walk = [np.array([0.0, 0.0, a, 0.0]) for a in (0.0, 0.08, 0.16, 0.24)]
    first = None
    for _ in range(300):
        state.begin(walk[0])
        deltas = [state.step(0.0, o, terminated=False) for o in walk[1:-1]]
        deltas.append(state.step(-1.0, walk[-1], terminated=True))
        first = first or deltas
    assert first[-1] == -1.0 and first[0] == 0.0
    assert max(abs(d) for d in deltas) < 1e-3
    values = [state.value(critic.featurise(CODE, o)) for o in walk[:-1]]
    np.testing.assert_allclose(values, [-0.81, -0.9, -1.0], atol=1e-2)


@pytest.mark.parametrize("kwargs", [{"gamma": 1.5}, {"lam": -0.1}, {"rate": 0.0},
                                    {"features": "tiles"}])
def test_bad_critic_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="critic"):
        TDCritic(**kwargs)


def test_step_before_begin_is_an_error():
    with pytest.raises(RuntimeError, match="begin"):
        CriticState(TDCritic(), CODE).step(0.0, np.zeros(4), terminated=False)
