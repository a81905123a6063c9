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
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

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


# Taylor coefficients 1/k! of exp, highest degree first (degree 13 for float64, 7 for
# float32: the truncation error is below a tenth of an ulp on |r| <= ln2/2).
_EXP_COEFS = {
    "float64": tuple(1.0 / float(math.factorial(k)) for k in range(13, -1, -1)),
    "float32": tuple(1.0 / float(math.factorial(k)) for k in range(7, -1, -1)),
}
# log2(e), ln2 split in a high part with trailing zero bits (n * LN2_HI is exact for every
# n reached) and the rest, the clamp range and the exponent layout, per dtype. kernels.cc
# (pinned_exp) holds the same literals.
_EXP_CONSTS = {
    "float64": dict(log2e=1.4426950408889634, ln2_hi=0.6931471803691238,
                    ln2_lo=1.9082149292705877e-10, lo=-760.0, hi=710.0, bias=1023, mbits=52,
                    ints=jnp.int64),
    "float32": dict(log2e=1.4426950408889634, ln2_hi=0.693359375, ln2_lo=-2.12194440e-4,
                    lo=-104.0, hi=89.0, bias=127, mbits=23, ints=jnp.int32),
}


def pinned_exp(x: Array) -> Array:
    """``exp`` written out in plain arithmetic so that the native kernel can repeat it
    operation for operation (``pinned_exp`` in kernels.cc): XLA's own ``exp`` is a
    polynomial of its own that C++ cannot reproduce bit for bit.

    ``x`` is clamped to ``[lo, hi]`` (beyond: the result is inf or 0 anyway; NaN stays
    NaN), ``n = round_half_even(x * log2(e))``, ``r = (x - n * ln2_hi) - n * ln2_lo``,
    ``p = `` the Taylor polynomial of degree 13 (float64) / 7 (float32) in Horner form,
    ``exp(x) = (p * 2**(n >> 1)) * 2**(n - (n >> 1))`` (two exact power-of-two factors, so
    no exponent overflows before the last rounding). On FMA hardware XLA:CPU contracts
    ``r - n * ln2_lo`` and each Horner step ``p * r + c`` into fused multiply-adds; the
    kernel writes SPARK_FMA at exactly those places. Results below the smallest normal
    number are 0 (XLA:CPU flushes denormals anyway). Accuracy (spark/native/NOTES.md):
    below 1 ulp from the correctly rounded value on every sampled argument (max 0.86 ulp
    float64, 0.93 ulp float32), correctly rounded on ~94 % of them (``jnp.exp``: max 1.6
    ulp float64, ~86 % correctly rounded)."""
    dtype = jnp.result_type(x)
    name = str(dtype)
    if name not in _EXP_CONSTS:
        raise TypeError(f"pinned_exp: float32 or float64 arguments only, got {name}")
    c = _EXP_CONSTS[name]

    def k(value):
        return jnp.asarray(value, dtype)

    x = jnp.clip(x, k(c["lo"]), k(c["hi"]))
    n = jnp.round(x * k(c["log2e"]))
    r = x - n * k(c["ln2_hi"])
    r = r - n * k(c["ln2_lo"])
    coefs = _EXP_COEFS[name]
    p = jnp.full_like(r, coefs[0])
    for coef in coefs[1:]:
        p = p * r + k(coef)
    ints = c["ints"]
    ni = n.astype(jnp.int32)
    n1 = jnp.right_shift(ni, 1)
    n2 = ni - n1

    def power_of_two(e):
        bits = jnp.left_shift((e + c["bias"]).astype(ints), ints(c["mbits"]))
        return lax.bitcast_convert_type(bits, dtype)

    out = (p * power_of_two(n1)) * power_of_two(n2)
    # Below the smallest normal number: 0, explicitly (XLA:CPU runs with denormals flushed
    # to zero, a C++ caller need not), so both paths agree whatever the FTZ mode.
    return jnp.where(out < jnp.finfo(dtype).tiny, jnp.zeros_like(out), out)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class AdExCells(AbstractCells):
    """Forward Euler of the AdEx pair; ``aux`` is the adaptation ``w`` (mV). The exponential
    is :func:`pinned_exp` (not ``jnp.exp``), so that the native fused kernel can match it
    bit for bit."""

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
        spike_term = self.delta_t * pinned_exp((v - self.v_t) / self.delta_t)
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
