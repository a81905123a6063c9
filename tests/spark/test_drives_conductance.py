"""Spark's drives and conductance receptors against hand computations of the pinned
updates (single neurons, float64), written on Spark's own types."""

from __future__ import annotations

import math

import jax
import numpy as np

import spark
from spark.engine import precision
from spark.network import build, step

DT = 0.1


def _run(net: spark.NetworkDef, n_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """v, g and spikes after every step."""
    with precision(net.dtype):
        params, state = build(net)
        fn = jax.jit(step)
        vs, gs, spikes = [], [], []
        for _ in range(n_steps):
            state, spiked = fn(params, state, np.zeros(net.n_inputs, bool))
            vs.append(np.asarray(state.v))
            gs.append(np.asarray(state.g))
            spikes.append(np.asarray(spiked))
    return np.array(vs), np.array(gs), np.array(spikes)


def _one(model, counts=None, weight=0.0, receptor="delta", receptors=(), reversals=(),
         initial=None, t_ref_steps=0) -> spark.NetworkDef:
    pop = spark.Population(name="n", model=model, initial=initial or {"v": np.zeros(1)},
                           refractory_steps=t_ref_steps, receptors=receptors, reversals=reversals)
    drives = () if counts is None else (spark.Drive(target="n", counts=counts, weight=weight,
                                                    receptor=receptor),)
    return spark.NetworkDef(dt=DT, dtype="float64", populations=(pop,), n_inputs=1,
                            drives=drives)


def test_delta_drive_arrives_at_its_row_and_multiplies_the_weight():
    lif = spark.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_thresh=100.0)
    counts = np.zeros((20, 1), np.uint16)
    counts[3, 0] = 2
    vs, _, _ = _run(_one(lif, counts, weight=0.5), 20)
    assert (vs[:3] == 0).all()
    assert vs[3, 0] == 1.0  # 2 spikes x 0.5 mV, added after the step's decay
    np.testing.assert_allclose(vs[4:, 0], math.exp(-DT / 10.0) ** np.arange(1, 17), rtol=1e-14)


def test_delta_drive_is_discarded_while_refractory_and_absent_past_its_rows():
    lif = spark.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_thresh=0.5, i_offset=0.0)
    counts = np.zeros((10, 1), np.uint8)
    counts[1, 0] = 1  # v = 1 > 0.5: spike at step 2's threshold
    counts[3, 0] = 1  # step 3: still refractory (R = 3) -> dropped
    counts[5, 0] = 1  # step 5: integrating again -> arrives
    vs, _, spikes = _run(_one(lif, counts, weight=1.0, t_ref_steps=3), 14)
    assert np.nonzero(spikes[:, 0])[0].tolist() == [2, 6]  # step 3's count never arrived
    assert vs[3, 0] == 0.0 and vs[4, 0] == 0.0 and vs[5, 0] == 1.0


def test_conductance_update_is_the_pinned_exponential_euler_step():
    """v' = v_eq + (v - v_eq) exp(-G dt/tau_m), G = 1 + g_c, v_eq = (v_inf + g_c E + g_i)/G,
    with an exponential current receptor (held over the step, added as it is) beside."""
    lif = spark.LIF(tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_thresh=100.0)
    init = {"v": np.array([-55.0]), "g0": np.array([2.0]), "g1": np.array([0.7])}
    net = _one(lif, receptors=(5.0, 10.0), reversals=(0.0, None), initial=init)
    vs, gs, _ = _run(net, 30)
    v, gc, gi = -55.0, 2.0, 0.7
    for t in range(30):
        total = 1.0 + gc
        v_eq = (-60.0 + gc * 0.0 + gi) / total
        v = v_eq + (v - v_eq) * math.exp(total * (-DT / 20.0))
        gc, gi = gc * math.exp(-DT / 5.0), gi * math.exp(-DT / 10.0)
        # (XLA's exp may differ from libm's in the last bit, hence the tolerance)
        np.testing.assert_allclose(vs[t, 0], v, rtol=0, atol=1e-12)
        np.testing.assert_allclose(gs[t], [gc, gi], rtol=1e-13)


def test_conductance_drive_raises_the_conductance_not_the_voltage():
    lif = spark.LIF(tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_thresh=100.0)
    counts = np.zeros((5, 1), np.uint8)
    counts[2, 0] = 3
    net = _one(lif, counts, weight=0.25, receptor=0, receptors=(5.0,), reversals=(0.0,),
               initial={"v": np.array([-60.0])})
    vs, gs, _ = _run(net, 5)
    assert (vs[:3] == -60.0).all() and gs[2, 0] == 0.75
    assert vs[3, 0] > -60.0  # pulled towards 0 mV by the conductance from step 3 on
