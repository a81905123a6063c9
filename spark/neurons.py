"""Neuron models as pytrees: per-neuron parameters are array leaves, the slice is static.

Every model acts on one *segment*: a contiguous run ``[start, stop)`` of the global neuron
numbering (consecutive populations of the same model kind). All models share the global
state vectors ``v`` (membrane), ``g`` (exponential synaptic current) and ``aux`` (the
model's second variable: ALIF ``theta``, AdEx ``w``, Izhikevich ``u``; zeros for LIF), so a
network's state is a handful of flat arrays whatever the mix of models.

The discrete updates are those documented in :mod:`spark.models` (which builds these
cells): exact propagators for LIF/ALIF, one forward-Euler step with old-state right-hand
sides for AdEx and Izhikevich. Refractory masking, deliveries and the reset value are
applied by the network step (:mod:`spark.network`), not here.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from .pytree import static

Array = jax.Array


class AbstractCells(abc.ABC):
    """One segment of neurons of one model. ``start``/``stop`` are static."""

    start: int
    stop: int

    @abc.abstractmethod
    def integrate(self, v: Array, g: Array, aux: Array) -> tuple[Array, Array]:
        """State update of one step (before refractory masking): new ``(v, aux)``. ``g``
        is the segment's receptor currents, ``(n,)`` or ``(R, n)``."""

    @abc.abstractmethod
    def threshold(self, v: Array, aux: Array) -> Array:
        """Bool spike condition (strict ``>``) on the updated state."""

    @abc.abstractmethod
    def on_spike(self, aux: Array, spiked: Array) -> Array:
        """Jump of ``aux`` at a spike (``v`` is reset by the network)."""


def receptor_sum(base: Array, g: Array) -> Array:
    """``base + g_0 + g_1 + ...`` left to right: ``g`` is ``(n,)`` (one receptor) or
    ``(R, n)`` (R receptors, in receptor order)."""
    if g.ndim == 1:
        return base + g
    for r in range(g.shape[0]):
        base = base + g[r]
    return base


def _conductance_membrane(cells: "LIFCells | ALIFCells", v: Array, g: Array) -> Array:
    """The pinned exponential-Euler update of a segment with conductance receptors, every
    receptor held at its old value, left to right in receptor order:
    ``G = 1 + gc_0 + ...``, ``N = v_inf + s_0 + ...`` (``s_r = g_r * e_rev_r`` for a
    conductance receptor, ``g_r`` for a current one), ``v_eq = N / G``,
    ``v' = v_eq + (v - v_eq) * exp(G * neg_dt_tau)``. ``cond`` (0/1) and ``e_rev`` are
    ``(R, n)``; a receptor a population lacks has ``g = 0`` and adds exactly nothing."""
    rows = g.reshape(-1, v.shape[0])
    total = jnp.ones_like(v)
    drive = cells.v_inf
    for r in range(rows.shape[0]):
        is_cond = cells.cond[r] > 0
        total = jnp.where(is_cond, total + rows[r], total)
        drive = drive + jnp.where(is_cond, rows[r] * cells.e_rev[r], rows[r])
    v_eq = drive / total
    return v_eq + (v - v_eq) * jnp.exp(total * cells.neg_dt_tau)


def _exact_membrane(cells: "LIFCells | ALIFCells", v: Array, g: Array) -> Array:
    """The pinned exact LIF update shared by LIF and ALIF (same operation order, so the
    same roundings): ``v_inf + (v - v_inf) * decay [+ g_r * syn_coef_r per receptor]``;
    segments with conductance receptors use :func:`_conductance_membrane`."""
    if cells.conductance:
        return _conductance_membrane(cells, v, g)
    v_new = cells.v_inf + (v - cells.v_inf) * cells.decay
    if cells.has_syn:
        if g.ndim == 1:
            return v_new + g * cells.syn_coef
        for r in range(g.shape[0]):
            v_new = v_new + g[r] * cells.syn_coef[r]
    return v_new


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LIFCells(AbstractCells):
    """``v' = v_inf + (v - v_inf) * decay + g * syn_coef`` (exact; ``syn_coef`` is the
    exponential-synapse propagator term, 0 where the population has no such input); with
    conductance receptors (``conductance``) the exponential-Euler update instead."""

    decay: Array
    v_inf: Array
    syn_coef: Array
    v_thresh: Array
    cond: Array | None = None  # (R, n) 1 where receptor r is conductance-based
    e_rev: Array | None = None  # (R, n) reversal potentials (conductance segments only)
    neg_dt_tau: Array | None = None  # (n,) -dt/tau_m (conductance segments only)
    start: int = static(default=0)
    stop: int = static(default=0)
    has_syn: bool = static(default=False)
    conductance: bool = static(default=False)

    def integrate(self, v, g, aux):
        return _exact_membrane(self, v, g), aux

    def threshold(self, v, aux):
        return v > self.v_thresh

    def on_spike(self, aux, spiked):
        return aux


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ALIFCells(AbstractCells):
    """LIF membrane plus adaptive threshold ``theta`` (in ``aux``): decays exactly, spike
    when ``v > v_thresh + theta``, ``theta += beta`` at a spike."""

    decay: Array
    v_inf: Array
    syn_coef: Array
    v_thresh: Array
    theta_decay: Array
    beta: Array
    cond: Array | None = None
    e_rev: Array | None = None
    neg_dt_tau: Array | None = None
    start: int = static(default=0)
    stop: int = static(default=0)
    has_syn: bool = static(default=False)
    conductance: bool = static(default=False)

    def integrate(self, v, g, aux):
        return _exact_membrane(self, v, g), aux * self.theta_decay

    def threshold(self, v, aux):
        return v > self.v_thresh + aux

    def on_spike(self, aux, spiked):
        return jnp.where(spiked, aux + self.beta, aux)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class AdExCells(AbstractCells):
    """Forward Euler of the AdEx pair; ``aux`` is the adaptation ``w`` (mV)."""

    dt: Array
    tau_m: Array
    v_rest: Array
    v_t: Array
    delta_t: Array
    i_offset: Array
    tau_w: Array
    a: Array
    b: Array
    v_peak: Array
    start: int = static()
    stop: int = static()

    def integrate(self, v, g, aux):
        w = aux
        spike_term = self.delta_t * jnp.exp((v - self.v_t) / self.delta_t)
        dv = receptor_sum(self.v_rest - v + spike_term - w + self.i_offset, g) / self.tau_m
        dw = (self.a * (v - self.v_rest) - w) / self.tau_w
        return v + self.dt * dv, w + self.dt * dw

    def threshold(self, v, aux):
        return v > self.v_peak

    def on_spike(self, aux, spiked):
        return jnp.where(spiked, aux + self.b, aux)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class IzhikevichCells(AbstractCells):
    """Forward Euler of Izhikevich (2003); ``aux`` is ``u``; ``g`` is in mV/ms."""

    dt: Array
    a: Array
    b: Array
    d: Array
    i_offset: Array
    v_peak: Array
    start: int = static()
    stop: int = static()

    def integrate(self, v, g, aux):
        u = aux
        dv = receptor_sum(0.04 * v * v + 5.0 * v + 140.0 - u + self.i_offset, g)
        du = self.a * (self.b * v - u)
        return v + self.dt * dv, u + self.dt * du

    def threshold(self, v, aux):
        return v > self.v_peak

    def on_spike(self, aux, spiked):
        return jnp.where(spiked, aux + self.d, aux)
