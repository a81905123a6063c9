"""Spec -> BrainPy as BrainPy's users write the model: the **native** comparison class (pure:
no BrainPy import, so the registry can state capabilities without it).

What BrainPy 2.8's own E/I examples and docs write, and what we follow (the ``EINet`` of
``brainpy.dyn.FullProjAlignPostMg``'s docstring; BrainPy's COBA/CUBA examples;
``brainpy.dyn.PoissonInput``; ``brainpy.dyn.FullProjDelta``):

* every population a ``bp.dyn.LifRef`` (``method='exp_auto'``: exponential Euler, spike
  when ``V >= V_th``, refractory by ``t - t_last_spike <= tau_ref``) with the spec's
  parameters, ``R = 1`` and the spec's ``i_offset`` as its constant input;
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
from ..spec.materialise import MaterialisedNetwork, MaterialisedProjection

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
class Connection:
    """One BrainPy projection: the spec projection ``name``'s synapses with one delay, as a
    CSR matrix (``indices``, ``indptr``) over (pre, post), weight scalar or per synapse."""

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


def connections(net: MaterialisedNetwork) -> list[Connection]:
    """Every spec projection as one BrainPy projection per delay value (see the module
    docstring)."""
    check(net)
    sizes = {p.name: p.size for p in net.populations}
    sizes[net.input_name] = net.n_inputs
    out = []
    for proj in net.projections:
        if not proj.n_synapses:
            continue
        for steps in np.unique(proj.delay_steps):
            keep = proj.delay_steps == steps
            suffix = "" if keep.all() else f"_d{int(steps)}"
            out.append(_csr(proj, keep, f"{proj.name}{suffix}", float((steps - 1)) * net.dt,
                            sizes[proj.spec.source], sizes[proj.spec.target]))
    return out


def _csr(proj: MaterialisedProjection, keep: np.ndarray, name: str, delay_ms: float,
         pre_size: int, post_size: int) -> Connection:
    pre, post, weight = proj.pre[keep], proj.post[keep], proj.weight[keep]
    order = np.argsort(pre, kind="stable")
    indptr = np.zeros(pre_size + 1, dtype=np.int32)
    np.cumsum(np.bincount(pre, minlength=pre_size), out=indptr[1:])
    w = weight[order]
    syn = proj.spec.synapse
    return Connection(
        name=name, source=proj.spec.source, target=proj.spec.target, synapse=syn.kind,
        receptor_index=proj.receptor_index, tau_syn=syn.time_constant, e_rev=syn.reversal,
        delay_ms=delay_ms,
        pre_size=pre_size, post_size=post_size, indices=post[order].astype(np.int32),
        indptr=indptr, weight=float(w[0]) if np.all(w == w[0]) else w.astype(np.float64))
