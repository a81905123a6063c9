"""A plain-Python reference of the pinned semantics of :mod:`adapters.spec.model` (LIF and
ALIF, delta and exponential synapses), written from the docstring's formulas, not from
the Brian2 adapter.

Deliveries of one step are applied one synapse at a time in the order Brian2's spike
queues use, so float64 results can be compared bit for bit. The order follows the
adapter's merge rule (NOTES.md), restated here independently: populations with the same
model (and exponential-synapse tau) form one group, concatenated in spec order;
projections with the same (source group or input, target group, synapse kind) form one
pathway (merged ones with synapses sorted by (group-global pre, post), stable), numbered
``syn0000``, ``syn0001``, ... in order of first appearance. Pathways are applied by name
(so in that order), then emission step, then group-global presynaptic index, then synapse
index.
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
    paths = _pathways(net, taus)
    # per pathway: step -> list of synapse indices, in push order
    queues = [defaultdict(list) for _ in paths]
    by_pre = []
    for path in paths:
        rows = defaultdict(list)
        for s, syn in enumerate(path["synapses"]):
            rows[syn[0]].append(s)
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
        for q, path, rows in zip(queues, paths, by_pre):
            # the source's spikes in group-global index order
            pres = [off + int(i) for name, off in path["source"] for i in spiked[name]]
            for pre in pres:
                for s in rows.get(pre, ()):
                    q[t + path["synapses"][s][5]].append(s)
        for q, path in zip(queues, paths):
            for s in q.pop(t, ()):
                _, _, tgt, j, w, _, exponential = path["synapses"][s]
                if exponential:
                    g[tgt][j] = g[tgt][j] + w
                elif notref[tgt][j]:
                    v[tgt][j] = v[tgt][j] + w
        for n, p in pops.items():
            m = p.spec.model
            v[n][spiked[n]] = m.v_reset
            if isinstance(m, ALIF):
                theta[n][spiked[n]] += m.beta
    return {n: (np.asarray(s, np.int64), np.asarray(i, np.int64)) for n, (s, i) in out.items()}


def _pathways(net: MaterialisedNetwork, taus: dict[str, float]) -> list[dict]:
    """Brian2 pathways in schedule (name) order: ``source`` = [(population, offset)] of the
    source group (or the input), ``synapses`` = (pre, post, target population, local post,
    weight, delay steps, exponential) in synapse index order."""
    in_name = net.spec.input.name
    buckets: dict[tuple, list[str]] = {}
    for p in net.populations:
        buckets.setdefault((p.spec.model, taus.get(p.name)), []).append(p.name)
    group_of, offset = {}, {}
    for members in buckets.values():
        start = 0
        for name in members:
            group_of[name], offset[name] = members[0], start
            start += net.population(name).size
    keyed: dict[tuple, list] = {}
    for proj in net.projections:
        src = in_name if proj.spec.source == in_name else group_of[proj.spec.source]
        keyed.setdefault((src, group_of[proj.spec.target], proj.spec.synapse.kind), []).append(proj)
    paths = []
    for index, ((src, _, _), projs) in enumerate(keyed.items()):
        name = f"syn{index:04d}"
        syns = []
        for proj in projs:
            src_off = 0 if src == in_name else offset[proj.spec.source]
            tgt = proj.spec.target
            exponential = isinstance(proj.spec.synapse, Exponential)
            for s in range(proj.n_synapses):
                syns.append((int(proj.pre[s]) + src_off, int(proj.post[s]) + offset[tgt], tgt,
                             int(proj.post[s]), proj.weight[s], int(proj.delay_steps[s]),
                             exponential))
        if len(projs) > 1:
            syns.sort(key=lambda x: (x[0], x[1]))  # stable
        source = ([(in_name, 0)] if src == in_name else
                  [(n, offset[n]) for n in buckets_members(buckets, src)])
        paths.append({"name": name, "source": source, "synapses": syns})
    return sorted(paths, key=lambda p: p["name"])


def buckets_members(buckets: dict[tuple, list[str]], first: str) -> list[str]:
    return next(m for m in buckets.values() if m[0] == first)
