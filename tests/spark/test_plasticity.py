"""STDP and the three-factor rule on hand-made spike pairs, against the formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adapters.spark.translate import to_spark
from adapters.spec.model import LIF, STDP, Constant, Explicit, RewardModulatedSTDP
from spark.engine import Simulator

from .nets import DT, NetworkBuilder

QUIET = LIF(tau_m=10.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, i_offset=0.0, t_ref=0.0)
W0, D_PLASTIC = 0.5, 3


def _pair_sim(rule) -> Simulator:
    """Input 0 -> n through one plastic synapse (delay 3 steps); input 1 forces n to spike
    two steps after it fires (delivery at +1, threshold crossed at +2)."""
    b = NetworkBuilder("pair", dt=DT, dtype="float64")
    b.population("n", 1, QUIET, initial={"v": Constant(value=-65.0)})
    b.inputs(2)
    b.connect("input", "n", Explicit(pre=(0,), post=(0,)), weight=Constant(value=W0),
              delay=Constant(value=D_PLASTIC * DT), plasticity=rule)
    b.connect("input", "n", Explicit(pre=(1,), post=(0,)), weight=Constant(value=20.0),
              delay=Constant(value=DT))
    return Simulator(to_spark(b.materialise()), record_spikes=True)


def _inputs(pre_step: int, force_step: int, n: int = 40) -> np.ndarray:
    x = np.zeros((n, 2), bool)
    x[pre_step, 0] = True
    x[force_step, 1] = True
    return x


def test_stdp_potentiation_pre_before_post():
    rule = STDP(tau_pre=20.0, tau_post=15.0, a_plus=0.01, a_minus=0.012, w_min=0.0, w_max=1.0)
    sim = _pair_sim(rule)
    sim.run_chunk(_inputs(pre_step=10, force_step=20))
    steps, _ = sim.recorded()
    assert list(steps) == [22]
    delivered = 10 + D_PLASTIC
    expected = W0 + 0.01 * math.exp(-(22 - delivered) * DT / 20.0)
    assert sim.weights()[0] == pytest.approx(expected, rel=1e-12)


def test_stdp_depression_post_before_pre():
    rule = STDP(tau_pre=20.0, tau_post=15.0, a_plus=0.01, a_minus=0.012, w_min=0.0, w_max=1.0)
    sim = _pair_sim(rule)
    sim.run_chunk(_inputs(pre_step=27, force_step=10))
    steps, _ = sim.recorded()
    assert list(steps) == [12]
    delivered = 27 + D_PLASTIC
    expected = W0 - 0.012 * math.exp(-(delivered - 12) * DT / 15.0)
    assert sim.weights()[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("a_plus,a_minus,pre,force,bound", [(5.0, 0.0, 10, 20, 1.0),
                                                           (0.0, 5.0, 27, 10, 0.0)])
def test_stdp_weights_are_clipped(a_plus, a_minus, pre, force, bound):
    sim = _pair_sim(STDP(a_plus=a_plus, a_minus=a_minus, w_min=0.0, w_max=1.0))
    sim.run_chunk(_inputs(pre_step=pre, force_step=force))
    assert sim.weights()[0] == bound


@pytest.mark.parametrize("modulator", [0.0, 2.0, -3.0])
def test_reward_modulated_stdp_applies_eligibility_times_modulator(modulator):
    rule = RewardModulatedSTDP(tau_pre=20.0, tau_post=15.0, tau_elig=50.0, a_plus=0.01,
                               a_minus=0.012, lr=0.5, w_min=0.0, w_max=1.0)
    sim = _pair_sim(rule)
    n = 40
    sim.run_chunk(_inputs(pre_step=10, force_step=20, n=n), modulator=modulator)
    elig = 0.01 * math.exp(-(22 - 13) * DT / 20.0) * math.exp(-(n - 1 - 22) * DT / 50.0)
    expected = min(max(W0 + 0.5 * modulator * elig, 0.0), 1.0)
    assert sim.weights()[0] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(np.asarray(sim.state.plastic.elig)[0], elig, rtol=1e-12)


def test_plastic_weight_is_what_gets_delivered():
    """After potentiation the next delivery moves v by the new weight."""
    rule = STDP(tau_pre=20.0, tau_post=15.0, a_plus=0.1, a_minus=0.0, w_min=0.0, w_max=1.0)
    sim = _pair_sim(rule)
    sim.run_chunk(_inputs(pre_step=10, force_step=20))
    w = sim.weights()[0]
    v_before = float(np.asarray(sim.state.v)[0])
    x = np.zeros((5, 2), bool)
    x[0, 0] = True  # delivered 3 steps later
    sim.run_chunk(x)
    # v after 5 more steps: decays, then jumps by w at the delivery step, decays once more
    decay = math.exp(-DT / 10.0)
    v = v_before
    for t in range(5):
        v = -65.0 + (v + 65.0) * decay
        if t == 3:
            v += w
    assert float(np.asarray(sim.state.v)[0]) == pytest.approx(v, abs=1e-12)
