"""Delivery timing through the ring buffer and the exponential-synapse propagator."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from adapters.spark.translate import to_spark
from adapters.spec.model import LIF, Constant, Explicit, Exponential

from .nets import DT, NetworkBuilder, run_steps, stepper

QUIET = LIF(tau_m=10.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, i_offset=0.0, t_ref=0.0)


def _delay_net(delays: list[int], method: str) -> tuple:
    b = NetworkBuilder("delays", dt=DT, dtype="float64")
    b.population("n", len(delays), QUIET, initial={"v": Constant(value=-65.0)})
    b.inputs(1)
    for i, d in enumerate(delays):
        b.connect("input", "n", Explicit(pre=(0,), post=(i,)), weight=Constant(value=1.0 + i),
                  delay=Constant(value=d * DT))
    net = to_spark(b.materialise())
    from spark.engine import precision
    from spark.network import build, make_layout, step

    with precision(net.dtype):
        params, state = build(net, make_layout([net], method=method))
    jitted = jax.jit(step)

    def fn(params, state, x):
        with precision(net.dtype):
            return jitted(params, state, x)

    return params, state, fn


@pytest.mark.parametrize("method", ["event", "dense"])
def test_delivery_exactly_d_steps_later_including_max_delay(method):
    delays = [1, 2, 7, 15]  # ring = 16: the max delay lands on the slot just behind t
    params, state, fn = _delay_net(delays, method)
    assert params.ring == max(delays) + 1
    x = np.zeros((60, 1))
    t0s = (3, 20, 21)  # several spikes, one per step in a row, to exercise the wrap-around
    for t0 in t0s:
        x[t0, 0] = 1
    _, vs, *_ = run_steps(params, state, fn, x)
    for i, d in enumerate(delays):
        jumps = np.nonzero(np.diff(vs[:, i], prepend=-65.0) > 0.5)[0]  # decay is < 0.2 per step
        assert list(jumps) == [t0 + d for t0 in t0s], (d, jumps)
        assert vs[3 + d, i] == pytest.approx(-65.0 + 1.0 + i, abs=1e-12)


def test_exponential_synapse_exact_propagator():
    tau_syn, tau_m, w = 2.0, 10.0, 3.0
    b = NetworkBuilder("exp", dt=DT, dtype="float64")
    b.population("n", 1, QUIET, initial={"v": Constant(value=-65.0)})
    b.inputs(1)
    b.connect("input", "n", Explicit(pre=(0,), post=(0,)), weight=Constant(value=w),
              delay=Constant(value=2 * DT), synapse=Exponential(tau_syn=tau_syn))
    params, state, fn = stepper(b.materialise())
    x = np.zeros((40, 1))
    x[5, 0] = 1  # delivered at step 7
    _, vs, _, gs, _ = run_steps(params, state, fn, x)
    assert np.all(gs[:7, 0] == 0.0) and gs[7, 0] == w
    assert np.all(vs[:8, 0] == -65.0)  # the delivery step itself still used g = 0
    coef = tau_syn / (tau_syn - tau_m) * (np.exp(-DT / tau_syn) - np.exp(-DT / tau_m))
    v, g = -65.0, w
    for t in range(8, 40):
        v = -65.0 + (v + 65.0) * np.exp(-DT / tau_m) + g * coef
        g = g * np.exp(-DT / tau_syn)
        assert vs[t, 0] == pytest.approx(v, rel=0, abs=1e-12)
        assert gs[t, 0] == pytest.approx(g, rel=1e-13)
