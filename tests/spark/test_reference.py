"""Spark against an independent, deliberately naive NumPy loop written from the pinned
semantics of :mod:`adapters.spec.model` (LIF, ALIF, AdEx, Izhikevich, delta and exponential
synapses, per-synapse delays, refractoriness) on random float64 networks. Spike trains must
be identical."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from adapters.spark.translate import to_spark
from adapters.spec.inputs import InputStream
import pytest

from adapters.spec.model import (
    ALIF, LIF, AdEx, Constant, Exponential, FixedProbability, Izhikevich, Normal, Uniform,
)
from spark.engine import Simulator

from .nets import DT, NetworkBuilder, random_network


def euler_network() -> NetworkBuilder:
    """AdEx and Izhikevich populations, delta and exponential inputs, refractoriness."""
    b = NetworkBuilder("euler", dt=DT, duration=40.0, dtype="float64")
    b.population("ad", 30, AdEx(i_offset=22.0, t_ref=0.3), initial={"v": Uniform(low=-70.0, high=-55.0)})
    b.population("iz", 25, Izhikevich(i_offset=6.0, t_ref=0.2), initial={"v": Uniform(low=-70.0, high=-60.0)})
    b.inputs(12, rate=200.0)
    delays = Uniform(low=0.1, high=0.5)
    b.connect("input", "ad", FixedProbability(p=0.5), weight=Normal(mean=4.0, std=1.0), delay=delays)
    b.connect("input", "iz", FixedProbability(p=0.5), weight=Normal(mean=30.0, std=5.0),
              delay=Constant(value=0.1), synapse=Exponential(tau_syn=2.0))
    b.connect("ad", "iz", FixedProbability(p=0.3), weight=Normal(mean=20.0, std=3.0), delay=delays,
              synapse=Exponential(tau_syn=2.0))
    b.connect("iz", "ad", FixedProbability(p=0.3), weight=Normal(mean=2.0, std=0.5), delay=delays)
    b.connect("ad", "ad", FixedProbability(p=0.2), weight=Normal(mean=-1.0, std=0.3), delay=delays)
    return b


def receptor_network() -> NetworkBuilder:
    """Several exponential receptors per population (CUBA-like 5 ms excitation, 12 ms
    inhibition, plus delta input) on LIF, ALIF, AdEx and Izhikevich targets."""
    b = NetworkBuilder("receptors", dt=DT, duration=40.0, dtype="float64")
    init = {"v": Uniform(low=-65.0, high=-52.0)}
    b.population("e", 40, LIF(i_offset=12.0, t_ref=0.5), initial=init)
    b.population("a", 20, ALIF(i_offset=13.0, t_ref=0.3, beta=2.0), initial=init)
    b.population("ad", 15, AdEx(i_offset=22.0, t_ref=0.3), initial={"v": Uniform(low=-70.0, high=-55.0)})
    b.population("iz", 15, Izhikevich(i_offset=6.0), initial={"v": Uniform(low=-70.0, high=-60.0)})
    b.inputs(12, rate=200.0)
    delays = Uniform(low=0.1, high=0.5)
    fast, slow = Exponential(tau_syn=5.0), Exponential(tau_syn=12.0)
    for target, w in (("e", 4.0), ("a", 4.0), ("ad", 6.0), ("iz", 40.0)):
        b.connect("input", target, FixedProbability(p=0.5), weight=Normal(mean=w, std=1.0),
                  delay=delays, synapse=fast)
        b.connect("e", target, FixedProbability(p=0.2), weight=Normal(mean=w / 4, std=0.3),
                  delay=delays, synapse=fast)
        b.connect("a", target, FixedProbability(p=0.3), weight=Normal(mean=-w / 2, std=0.3),
                  delay=delays, synapse=slow)
    b.connect("input", "e", FixedProbability(p=0.3), weight=Normal(mean=2.0, std=0.5), delay=delays)
    return b


def reference_run(net, x: np.ndarray) -> list[tuple[int, str, int]]:
    dt = net.dt
    pops = {p.name: p for p in net.populations}
    v = {n: p.initial["v"].copy() for n, p in pops.items()}
    aux_name = {"alif": "theta", "adex": "w", "izhikevich": "u", "lif": None}
    aux = {n: (p.initial[aux_name[p.spec.model.kind]].copy() if aux_name[p.spec.model.kind]
               else np.zeros(p.size)) for n, p in pops.items()}
    last = {n: np.full(p.size, -10**9) for n, p in pops.items()}
    # Receptors: one per distinct tau_syn into a population, in order of first appearance.
    taus: dict[str, list[float]] = {n: [] for n in pops}
    for pr in net.projections:
        if isinstance(pr.spec.synapse, Exponential) and pr.spec.synapse.tau_syn not in taus[pr.spec.target]:
            taus[pr.spec.target].append(pr.spec.synapse.tau_syn)
    g = {n: [np.zeros(p.size) for _ in taus[n]] for n, p in pops.items()}
    pending = defaultdict(lambda: {n: [np.zeros(p.size) for _ in range(1 + len(taus[n]))]
                                   for n, p in pops.items()})
    spikes_out = []
    for t in range(len(x)):
        spiked, refractory = {}, {}
        for n, p in pops.items():
            m = p.spec.model
            refr = (t - last[n]) < int(round(m.t_ref / dt))
            if isinstance(m, (LIF, ALIF)):
                v_inf = m.v_rest + m.i_offset
                new = v_inf + (v[n] - v_inf) * np.exp(-dt / m.tau_m)
                for gr, ts in zip(g[n], taus[n]):
                    new = new + gr * (ts / (ts - m.tau_m) * (np.exp(-dt / ts) - np.exp(-dt / m.tau_m)))
                threshold = m.v_thresh
                if isinstance(m, ALIF):
                    aux[n] = aux[n] * np.exp(-dt / m.tau_adapt)
                    threshold = m.v_thresh + aux[n]
            elif isinstance(m, AdEx):
                vv, w = v[n], aux[n]
                drive = m.v_rest - vv + m.delta_t * np.exp((vv - m.v_t) / m.delta_t) - w + m.i_offset
                for gr in g[n]:
                    drive = drive + gr
                dv = drive / m.tau_m
                dw = (m.a * (vv - m.v_rest) - w) / m.tau_w
                new, aux[n], threshold = vv + dt * dv, w + dt * dw, m.v_peak
            else:
                vv, u = v[n], aux[n]
                dv = 0.04 * vv * vv + 5.0 * vv + 140.0 - u + m.i_offset
                for gr in g[n]:
                    dv = dv + gr
                du = m.a * (m.b * vv - u)
                new, aux[n], threshold = vv + dt * dv, u + dt * du, m.v_peak
            g[n] = [gr * np.exp(-dt / ts) for gr, ts in zip(g[n], taus[n])]
            v[n] = np.where(refr, v[n], new)
            spiked[n] = (v[n] > threshold) & ~refr
            refractory[n] = refr
        arriving = pending.pop(t, None)
        if arriving is not None:
            for n in pops:
                v[n] = np.where(refractory[n], v[n], v[n] + arriving[n][0])
                g[n] = [gr + add for gr, add in zip(g[n], arriving[n][1:])]
        for pr in net.projections:
            src = x[t] if pr.spec.source == net.spec.input.name else spiked[pr.spec.source]
            fire = src[pr.pre]
            syn = pr.spec.synapse
            channel = (1 + taus[pr.spec.target].index(syn.tau_syn)
                       if isinstance(syn, Exponential) else 0)
            for post, w, d in zip(pr.post[fire], pr.weight[fire], pr.delay_steps[fire]):
                pending[t + int(d)][pr.spec.target][channel][post] += w
        for n, p in pops.items():
            m = p.spec.model
            v[n] = np.where(spiked[n], m.c if isinstance(m, Izhikevich) else m.v_reset, v[n])
            if not isinstance(m, LIF):
                aux[n] = np.where(spiked[n], aux[n] + _jump(m), aux[n])
            last[n] = np.where(spiked[n], t, last[n])
            spikes_out += [(t, n, int(i)) for i in np.nonzero(spiked[n])[0]]
    return sorted(spikes_out)


def _jump(m) -> float:
    if isinstance(m, ALIF):
        return m.beta
    if isinstance(m, AdEx):
        return m.b
    return m.d


@pytest.mark.parametrize("builder", [random_network, euler_network, receptor_network])
@pytest.mark.parametrize("method,k_bound", [("event", None), ("event", 2), ("dense", None),
                                            ("native", None)])
def test_spark_matches_naive_reference(builder, method, k_bound):
    net = builder("float64").materialise(21) if builder is random_network else builder().materialise(21)
    x = InputStream(net.spec, 300).open_loop()
    expected = reference_run(net, x)
    sim = Simulator(to_spark(net), method=method, k_bound=k_bound, record_spikes=True)
    sim.run_chunk(x)
    steps, idx = sim.recorded()
    names = [(p.name, p.offset, p.size) for p in net.populations]
    got = sorted((int(s), name, int(i - off)) for s, i in zip(steps, idx)
                 for name, off, size in names if off <= i < off + size)
    assert len(expected) > 100
    assert got == expected
