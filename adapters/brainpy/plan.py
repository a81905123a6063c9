"""Spec -> BrainPy as BrainPy's users write the model: the **native** comparison class (pure:
no BrainPy import, so the registry can state capabilities without it).

What BrainPy 2.8's own E/I examples and docs write, and what we follow (the ``EINet`` of
``brainpy.dyn.FullProjAlignPostMg``'s docstring; BrainPy's COBA/CUBA examples;
``brainpy.dyn.PoissonInput``; ``brainpy.dyn.FullProjDelta``):

* populations with the same neuron parameters, receptors and drives as one
  ``bp.dyn.LifRef`` group (``method='exp_auto'``: exponential Euler, spike when
  ``V >= V_th``, refractory by ``t - t_last_spike <= tau_ref``) with the spec's parameters,
  ``R = 1`` and the spec's ``i_offset`` as its constant input: the ``EINet`` of
  ``HalfProjAlignPostMg``'s and ``VanillaProj``'s docstrings is one ``LifRef(4000)`` for E
  and I, and every projection into or
  out of a group is then one operator call per step instead of one per population pair
  (paper8's 72 projections were 472 BrainPy projections, 23 ms a step, before grouping);
* a current synapse: ``bp.dyn.Expon.desc(tau=tau_syn)`` + ``bp.dyn.CUBA.desc()``; a
  conductance synapse: ``Expon`` + ``bp.dyn.COBA.desc(E=e_rev)`` (its ``g`` set to the
  spec's initial receptor values after each reset, as COBA's random initial conductances
  are written); both through
  ``bp.dyn.FullProjAlignPostMg`` (projections with the same time constant and output share
  one synaptic variable, BrainPy's merging), a delta synapse through
  ``bp.dyn.FullProjDelta`` (a jump of V, dropped while refractory);
* connectivity as the spec's explicit synapses in BrainPy's event-driven CSR operator
  ``bp.dnn.EventCSRLinear`` (a scalar weight when all weights of a projection are equal,
  as BrainPy's examples write them; else one weight per synapse, in CSR order);
* a delay of ``(delay_steps - 1) * dt`` ms per projection (BrainPy's projections read the
  delayed spike before the neurons update, which is one step already). BrainPy takes one
  delay per projection, so a projection with several delays is split into one projection
  per delay value, up to :data:`MAX_DELAYS`;
* each Poisson drive into a receptor a ``bp.dyn.PoissonInput`` into its synaptic variable
  (binomial draws, BrainPy's normal approximation for large counts); a drive into V a
  ``bp.dyn.HalfProjDelta`` fed a binomial count per neuron and step. Not ``PoissonInput``
  into V: it adds to V before the neuron's update, so drive spikes that arrive while the
  neuron is refractory are kept, not dropped as for every delta synapse; on
  ``brunel2000_small`` that gave 66 Hz against the exact class's 49 Hz (5 seeds, 200 ms),
  and the delta half-projection 49.5 Hz. Draws come from ``brainpy.math.random``, seeded
  with the instance seed at every reset;
* the closed-loop input (the environment's spikes, shared by every class) through a
  ``bp.dyn.InputGroup``; chunks of k steps are one ``bm.for_loop`` jitted per k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base import Capabilities, UnsupportedSpec
from ..spec.materialise import MaterialisedNetwork

MAX_DELAYS = 16
"""The most distinct delays one projection may have (each becomes a BrainPy projection)."""

WHY_NOT = {
    "alif": "BrainPy 2.8 has no LIF with an additive, decaying threshold among its "
            "standard neurons (bp.dyn); a user would write a custom NeuDyn",
    "adex": "not mapped yet (bp.dyn.AdExIFRef is BrainPy's AdEx)",
    "izhikevich": "not mapped yet (bp.dyn.IzhikevichRef is BrainPy's Izhikevich)",
    "stdp": "not mapped yet (BrainPy's STDP projection, bp.dyn.STDP_Song2000)",
    "reward_stdp": "BrainPy has no standard three-factor rule with a host-given modulator",
}

FEATURES = dict(neuron_models=frozenset({"lif"}),
                synapses=frozenset({"delta", "exponential", "conductance"}),
                drives=True, receptor_initial=True, why_not=WHY_NOT)
"""What the plan expresses (the ``brainpy`` and ``brainpy-gpu`` capabilities)."""

_TRANSLATABLE = Capabilities(closed_loop=True, open_loop=True, **FEATURES)


@dataclass(frozen=True)
class Member:
    """A spec population inside a group: its neurons are ``start:stop`` of the group."""

    name: str
    start: int
    stop: int


@dataclass(frozen=True)
class Group:
    """One BrainPy neuron group: spec populations that share a model, receptors and drives,
    concatenated in declaration order."""

    name: str
    members: tuple[Member, ...]
    model: object  # the shared spec LIF model
    receptor_taus: tuple[float, ...]
    receptor_reversals: tuple[float | None, ...]
    drives: tuple[object, ...]  # the MaterialisedDrives of its first member (all equal)
    initial: dict  # state variable or receptor ("g0", ...) -> concatenated initial values

    @property
    def size(self) -> int:
        return self.members[-1].stop


@dataclass(frozen=True)
class Connection:
    """One BrainPy projection: every synapse from group ``source`` (or the input) to group
    ``target`` through one receptor with one delay, as a CSR matrix (``indices``,
    ``indptr``) over (pre, post), weight scalar or per synapse; ``name`` lists the spec
    projections it holds."""

    name: str
    source: str
    target: str
    synapse: str  # "delta", "exponential" or "conductance"
    receptor_index: int | None  # which receptor of the target (None: delta)
    tau_syn: float | None
    e_rev: float | None
    delay_ms: float
    pre_size: int
    post_size: int
    indices: np.ndarray
    indptr: np.ndarray
    weight: float | np.ndarray


def check(net: MaterialisedNetwork) -> None:
    """Raise :class:`UnsupportedSpec` with the reason for what BrainPy's users could not
    write with its standard models."""
    reason = _TRANSLATABLE.refusal(net.spec)
    if reason is not None:
        raise UnsupportedSpec(f"brainpy: {reason}")
    for proj in net.projections:
        delays = np.unique(proj.delay_steps)
        if delays.size > MAX_DELAYS:
            raise UnsupportedSpec(
                f"brainpy: projection {proj.name!r} has {delays.size} distinct delays; BrainPy "
                f"takes one delay per projection, and this plan splits up to {MAX_DELAYS}")


def _drive_key(drive) -> tuple:
    spec = drive.spec
    return (spec.rate, spec.n_sources, spec.weight, spec.synapse, drive.receptor_index)


def groups(net: MaterialisedNetwork) -> list[Group]:
    """The populations merged into BrainPy groups (see the module docstring): two
    populations share a group when model, receptors, the receptors given initial values
    and the drives they receive are equal."""
    check(net)
    drives = {p.name: tuple(d for d in net.drives if d.target == p.name) for p in net.populations}
    keyed: dict[tuple, list] = {}
    for pop in net.populations:
        key = (pop.model, pop.receptor_taus, pop.receptor_reversals,
               tuple(sorted(pop.initial)), tuple(sorted(map(_drive_key, drives[pop.name]), key=repr)))
        keyed.setdefault(key, []).append(pop)
    out = []
    for pops in keyed.values():
        members, start = [], 0
        for pop in pops:
            members.append(Member(pop.name, start, start + pop.size))
            start += pop.size
        initial = {var: np.concatenate([p.initial[var] for p in pops]) for var in pops[0].initial}
        out.append(Group(name="+".join(p.name for p in pops), members=tuple(members),
                         model=pops[0].model, receptor_taus=pops[0].receptor_taus,
                         receptor_reversals=pops[0].receptor_reversals,
                         drives=drives[pops[0].name], initial=initial))
    return out


def connections(net: MaterialisedNetwork, grouped: list[Group] | None = None) -> list[Connection]:
    """Every synapse as BrainPy projections: one per (source group or input, target group,
    receptor, delay), see the module docstring."""
    grouped = groups(net) if grouped is None else grouped
    where = {m.name: (g.name, m.start) for g in grouped for m in g.members}
    where[net.input_name] = (net.input_name, 0)
    sizes = {g.name: g.size for g in grouped}
    sizes[net.input_name] = net.n_inputs
    parts: dict[tuple, list] = {}
    for proj in net.projections:
        if not proj.n_synapses:
            continue
        (src, src_at), (dst, dst_at) = where[proj.spec.source], where[proj.spec.target]
        syn = proj.spec.synapse
        for steps in np.unique(proj.delay_steps):
            keep = proj.delay_steps == steps
            key = (src, dst, syn.kind, proj.receptor_index, syn.time_constant, syn.reversal,
                   int(steps))
            parts.setdefault(key, []).append(
                (proj.name, proj.pre[keep] + src_at, proj.post[keep] + dst_at, proj.weight[keep]))
    out = []
    for (src, dst, kind, receptor, tau, e_rev, steps), held in parts.items():
        pre = np.concatenate([h[1] for h in held])
        post = np.concatenate([h[2] for h in held])
        weight = np.concatenate([h[3] for h in held])
        names = "+".join(dict.fromkeys(h[0] for h in held))
        out.append(_csr(f"{names}_d{steps}", src, dst, kind, receptor, tau, e_rev,
                        float(steps - 1) * net.dt, sizes[src], sizes[dst], pre, post, weight))
    return out


def _csr(name: str, source: str, target: str, kind: str, receptor: int | None,
         tau: float | None, e_rev: float | None, delay_ms: float, pre_size: int,
         post_size: int, pre: np.ndarray, post: np.ndarray, weight: np.ndarray) -> Connection:
    order = np.argsort(pre, kind="stable")
    indptr = np.zeros(pre_size + 1, dtype=np.int32)
    np.cumsum(np.bincount(pre, minlength=pre_size), out=indptr[1:])
    w = weight[order]
    return Connection(
        name=name, source=source, target=target, synapse=kind, receptor_index=receptor,
        tau_syn=tau, e_rev=e_rev, delay_ms=delay_ms, pre_size=pre_size, post_size=post_size,
        indices=post[order].astype(np.int32), indptr=indptr,
        weight=float(w[0]) if np.all(w == w[0]) else w.astype(np.float64))
