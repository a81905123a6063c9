"""A deliberately plain numpy simulation of the pinned LIF semantics (adapters/spec/model.py),
written from the spec's docstring alone, used as the ground truth for the NEST adapter tests.

Step t (0-based; a spike "at step t" is recorded as step t, time t * dt):

1. every neuron that is not refractory at t integrates exactly
   ``v = v_inf + (v - v_inf) * P22 + g * c_syn`` (``g`` before this step's deliveries);
   ``g *= P11`` for every neuron (refractory or not);
2. threshold: spike when ``v > v_thresh`` and not refractory;
3. deliveries of spikes emitted at ``t - d`` (input spikes included): delta ``v += w`` unless
   the target is refractory at t (a neuron spiking at t counts as refractory), exponential
   ``g += w`` always;
4. reset ``v = v_reset`` of the neurons that spiked, ``last_spike = t``.

Refractory at t: spiked at s with ``t - s < R`` (R = t_ref / dt steps).
Only LIF with delta/exponential synapses (what the NEST adapter translates).
"""

from __future__ import annotations

import math

import numpy as np

from adapters.spec.materialise import MaterialisedNetwork
from adapters.spec.model import LIF, Exponential


def simulate(net: MaterialisedNetwork, input_spikes: np.ndarray, *,
             nest_mixed_deviation: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Run ``input_spikes`` (bool ``(n_steps, n_inputs)``) from the initial state; return
    ``{population: (steps, indices)}`` sorted by (step, index).

    ``nest_mixed_deviation`` reproduces the one documented deviation of the NEST adapter
    for populations receiving both synapse kinds: a delta delivery at step n is kept when
    the neuron integrates at n + 1 (``n + 1 - last_spike >= max(R, 1)``), even if n is the
    last refractory step (or the spike step), instead of being discarded."""
    spec = net.spec
    dt = net.dt
    n_steps = int(input_spikes.shape[0])
    pops = {p.name: p for p in net.populations}
    state = {}
    for name, p in pops.items():
        m = p.spec.model
        assert isinstance(m, LIF), "reference covers LIF only"
        tau_syn = None
        for proj in spec.projections:
            if proj.target == name and isinstance(proj.synapse, Exponential):
                tau_syn = proj.synapse.tau_syn
        p22 = math.exp(-dt / m.tau_m)
        if tau_syn is None:
            p11, c_syn = 0.0, 0.0
        else:
            p11 = math.exp(-dt / tau_syn)
            c_syn = tau_syn / (tau_syn - m.tau_m) * (p11 - p22)
        kinds = {type(p.synapse) for p in spec.projections if p.target == name}
        state[name] = dict(mixed=nest_mixed_deviation and len(kinds) == 2,
            v=p.initial["v"].astype(np.float64).copy(), g=np.zeros(p.size),
            last=np.full(p.size, -(10**9), dtype=np.int64), m=m, p22=p22, p11=p11,
            c_syn=c_syn, v_inf=m.v_rest + m.i_offset, R=int(round(m.t_ref / dt)))
    max_d = net.max_delay_steps
    ring = max_d + 1
    # Pending deliveries per target: delta (ring, n) and exponential (ring, n).
    buf_delta = {n: np.zeros((ring, p.size)) for n, p in pops.items()}
    buf_exp = {n: np.zeros((ring, p.size)) for n, p in pops.items()}
    # CSR-like lookup of each projection's synapses by presynaptic index.
    by_pre = []
    for proj in net.projections:
        n_pre = spec.size_of(proj.spec.source)
        starts = np.searchsorted(proj.pre, np.arange(n_pre + 1))
        by_pre.append((proj, starts))
    recorded = {n: ([], []) for n in pops}
    for t in range(n_steps):
        slot = t % ring
        spiked = {}
        for name, s in state.items():
            refractory = (t - s["last"]) < s["R"]
            v = s["v"]
            upd = s["v_inf"] + (v - s["v_inf"]) * s["p22"] + s["g"] * s["c_syn"]
            v = np.where(refractory, v, upd)
            s["g"] = s["g"] * s["p11"]
            spike = (~refractory) & (v > s["m"].v_thresh)
            # deliveries of this step
            blocked = refractory | spike
            s["g"] = s["g"] + buf_exp[name][slot]
            buf_exp[name][slot] = 0.0
            if s["mixed"]:
                v = np.where(spike, s["m"].v_reset, v)
                s["last"] = np.where(spike, t, s["last"])
                keep = (t + 1 - s["last"]) >= max(s["R"], 1)
                v = v + np.where(keep, buf_delta[name][slot], 0.0)
            else:
                v = v + np.where(blocked, 0.0, buf_delta[name][slot])
                v = np.where(spike, s["m"].v_reset, v)
                s["last"] = np.where(spike, t, s["last"])
            buf_delta[name][slot] = 0.0
            s["v"] = v
            spiked[name] = np.nonzero(spike)[0]
            recorded[name][0].append(np.full(spiked[name].size, t, dtype=np.int64))
            recorded[name][1].append(spiked[name].astype(np.int64))
        spiked[spec.input.name] = np.nonzero(input_spikes[t])[0]
        # schedule this step's spikes (delay d >= 1, so never into the slot just read)
        for proj, starts in by_pre:
            src = spiked[proj.spec.source]
            if src.size == 0:
                continue
            sel = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in src])
            if sel.size == 0:
                continue
            target = proj.spec.target
            buf = buf_exp if isinstance(proj.spec.synapse, Exponential) else buf_delta
            slots = (t + proj.delay_steps[sel]) % ring
            np.add.at(buf[target], (slots, proj.post[sel]), proj.weight[sel])
    return {n: (np.concatenate(st), np.concatenate(ix)) for n, (st, ix) in recorded.items()}
