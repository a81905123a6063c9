"""A plain-Python reference of the pinned semantics of :mod:`adapters.spec.model` (LIF and
ALIF, delta and exponential synapses), written from the docstring's formulas, not from
the Brian2 adapter.

Deliveries of one step are applied one synapse at a time in the order Brian2's spike
queues use (projections by Brian2 object name ``syn_<projection>``, then emission step,
then presynaptic index, then synapse index), so float64 results can be compared bit for
bit.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from adapters.spec.materialise import MaterialisedNetwork
from adapters.spec.model import ALIF, Exponential


def simulate(net: MaterialisedNetwork, inputs: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Spikes ``{population: (steps, indices)}`` for input spikes ``(n_steps, n_inputs)``."""
    dt = net.dt
    n_steps = inputs.shape[0]
    pops = {p.name: p for p in net.populations}
    v = {n: p.initial["v"].astype(np.float64).copy() for n, p in pops.items()}
    theta = {n: (p.initial["theta"].astype(np.float64).copy() if "theta" in p.initial else None)
             for n, p in pops.items()}
    g = {n: np.zeros(p.size) for n, p in pops.items()}
    taus = {proj.spec.target: proj.spec.synapse.tau_syn for proj in net.projections
            if isinstance(proj.spec.synapse, Exponential)}
    last = {n: np.full(p.size, -10**9, dtype=np.int64) for n, p in pops.items()}
    R = {n: int(round(p.spec.model.t_ref / dt)) for n, p in pops.items()}
    projs = sorted(net.projections, key=lambda p: f"syn_{p.name}")
    # per projection: step -> list of synapse indices, in push order
    queues = [defaultdict(list) for _ in projs]
    by_pre = []
    for proj in projs:
        rows = defaultdict(list)
        for s, pre in enumerate(proj.pre):
            rows[int(pre)].append(s)
        by_pre.append(rows)
    out = {n: ([], []) for n in pops}
    for t in range(n_steps):
        notref = {n: (t - last[n]) >= R[n] for n in pops}
        spiked = {}
        for n, p in pops.items():
            m = p.spec.model
            v_inf = m.v_rest + m.i_offset
            p_m = math.exp(-dt / m.tau_m)
            new = v_inf + (v[n] - v_inf) * p_m
            if n in taus:
                p_g = math.exp(-dt / taus[n])
                p_gm = taus[n] / (taus[n] - m.tau_m) * (p_g - p_m)
                new = new + g[n] * p_gm
                g[n] = g[n] * p_g
            v[n] = np.where(notref[n], new, v[n])
            if isinstance(m, ALIF):
                theta[n] = theta[n] * math.exp(-dt / m.tau_adapt)
            th = m.v_thresh + (theta[n] if isinstance(m, ALIF) else 0.0)
            spk = (v[n] > th) & notref[n]
            spiked[n] = np.nonzero(spk)[0]
            last[n][spk] = t
            notref[n] = notref[n] & ~spk
            for i in spiked[n]:
                out[n][0].append(t)
                out[n][1].append(int(i))
        spiked[net.spec.input.name] = np.nonzero(inputs[t])[0]
        for q, proj, rows in zip(queues, projs, by_pre):
            for pre in spiked[proj.spec.source]:
                for s in rows.get(int(pre), ()):
                    q[t + int(proj.delay_steps[s])].append(s)
        for q, proj in zip(queues, projs):
            tgt = proj.spec.target
            for s in q.pop(t, ()):
                j = int(proj.post[s])
                if isinstance(proj.spec.synapse, Exponential):
                    g[tgt][j] = g[tgt][j] + proj.weight[s]
                elif notref[tgt][j]:
                    v[tgt][j] = v[tgt][j] + proj.weight[s]
        for n, p in pops.items():
            m = p.spec.model
            v[n][spiked[n]] = m.v_reset
            if isinstance(m, ALIF):
                theta[n][spiked[n]] += m.beta
    return {n: (np.asarray(s, np.int64), np.asarray(i, np.int64)) for n, (s, i) in out.items()}
