"""Neuron models as pytrees: per-neuron parameters are array leaves, the slice is static.

Every model acts on one *segment*: a contiguous run ``[start, stop)`` of the global neuron
numbering (consecutive populations of the same model kind). All models share the global
state vectors ``v`` (membrane), ``g`` (exponential synaptic current) and ``aux`` (the
model's second variable: ALIF ``theta``, AdEx ``w``, Izhikevich ``u``; zeros for LIF), so a
network's state is a handful of flat arrays whatever the mix of models.

The discrete updates are exactly those pinned in :mod:`adapters.spec.model`: exact
propagators for LIF/ALIF, one forward-Euler step with old-state right-hand sides for AdEx
and Izhikevich. Refractory masking, deliveries and the reset value ``v_reset`` are applied
by the network step (:mod:`spark.network`), not here.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from adapters.spec.model import ALIF, LIF, AdEx, Izhikevich, NeuronModel

Array = jax.Array


class AbstractCells(abc.ABC):
    """One segment of neurons of one model. ``start``/``stop`` are static."""

    start: int
    stop: int

    @abc.abstractmethod
    def integrate(self, v: Array, g: Array, aux: Array) -> tuple[Array, Array]:
        """State update of one step (before refractory masking): new ``(v, aux)``."""

    @abc.abstractmethod
    def threshold(self, v: Array, aux: Array) -> Array:
        """Bool spike condition (strict ``>``) on the updated state."""

    @abc.abstractmethod
    def on_spike(self, aux: Array, spiked: Array) -> Array:
        """Jump of ``aux`` at a spike (``v`` is reset by the network)."""


def _static() -> dict:
    return field(metadata=dict(static=True))


def _exact_membrane(cells: "LIFCells | ALIFCells", v: Array, g: Array) -> Array:
    """The pinned exact LIF update shared by LIF and ALIF (same operation order, so the
    same roundings): ``v_inf + (v - v_inf) * decay [+ g * syn_coef]``."""
    v_new = cells.v_inf + (v - cells.v_inf) * cells.decay
    if cells.has_syn:
        v_new = v_new + g * cells.syn_coef
    return v_new


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LIFCells(AbstractCells):
    """``v' = v_inf + (v - v_inf) * decay + g * syn_coef`` (exact; ``syn_coef`` is the
    exponential-synapse propagator term, 0 where the population has no such input)."""

    decay: Array
    v_inf: Array
    syn_coef: Array
    v_thresh: Array
    start: int = _static()
    stop: int = _static()
    has_syn: bool = _static()

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
    start: int = _static()
    stop: int = _static()
    has_syn: bool = _static()

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
    start: int = _static()
    stop: int = _static()

    def integrate(self, v, g, aux):
        w = aux
        spike_term = self.delta_t * jnp.exp((v - self.v_t) / self.delta_t)
        dv = (self.v_rest - v + spike_term - w + self.i_offset + g) / self.tau_m
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
    start: int = _static()
    stop: int = _static()

    def integrate(self, v, g, aux):
        u = aux
        dv = 0.04 * v * v + 5.0 * v + 140.0 - u + self.i_offset + g
        du = self.a * (self.b * v - u)
        return v + self.dt * dv, u + self.dt * du

    def threshold(self, v, aux):
        return v > self.v_peak

    def on_spike(self, aux, spiked):
        return jnp.where(spiked, aux + self.d, aux)


def _col(models: list[NeuronModel], sizes: list[int], values) -> np.ndarray:
    """Per-neuron float64 array from one value per population."""
    return np.concatenate([np.full(n, float(values(m))) for m, n in zip(models, sizes)])


def make_cells(models: list[NeuronModel], sizes: list[int], start: int, dt: float,
               tau_syn: list[float | None], dtype: np.dtype) -> AbstractCells:
    """Cells for consecutive populations of one model kind, parameters computed in float64
    on the host and cast once to ``dtype`` (round to nearest).

    ``tau_syn`` is the exponential-synapse time constant per population (None: no such
    input)."""
    stop = start + sum(sizes)
    kind = models[0].kind

    def col(fn) -> Array:
        return jnp.asarray(_col(models, sizes, fn).astype(dtype))

    dt_arr = jnp.asarray(np.asarray(dt, dtype=dtype))
    if isinstance(models[0], (LIF, ALIF)):
        coefs = []
        for m, ts in zip(models, tau_syn):
            if ts is None:
                coefs.append(0.0)
            elif ts == m.tau_m:
                raise ValueError(
                    f"exponential synapse with tau_syn == tau_m ({ts} ms) has no exact "
                    "propagator of the pinned form; choose a different tau_syn")
            else:
                coefs.append(ts / (ts - m.tau_m) * (np.exp(-dt / ts) - np.exp(-dt / m.tau_m)))
        syn = jnp.asarray(np.concatenate([np.full(n, c) for c, n in zip(coefs, sizes)]).astype(dtype))
        common = dict(decay=col(lambda m: np.exp(-dt / m.tau_m)),
                      v_inf=col(lambda m: m.v_rest + m.i_offset), syn_coef=syn,
                      v_thresh=col(lambda m: m.v_thresh), start=start, stop=stop,
                      has_syn=any(ts is not None for ts in tau_syn))
        if kind == LIF.kind:
            return LIFCells(**common)
        return ALIFCells(**common, theta_decay=col(lambda m: np.exp(-dt / m.tau_adapt)),
                         beta=col(lambda m: m.beta))
    if isinstance(models[0], AdEx):
        return AdExCells(dt=dt_arr, tau_m=col(lambda m: m.tau_m), v_rest=col(lambda m: m.v_rest),
                         v_t=col(lambda m: m.v_t), delta_t=col(lambda m: m.delta_t),
                         i_offset=col(lambda m: m.i_offset), tau_w=col(lambda m: m.tau_w),
                         a=col(lambda m: m.a), b=col(lambda m: m.b),
                         v_peak=col(lambda m: m.v_peak), start=start, stop=stop)
    if isinstance(models[0], Izhikevich):
        return IzhikevichCells(dt=dt_arr, a=col(lambda m: m.a), b=col(lambda m: m.b),
                               d=col(lambda m: m.d), i_offset=col(lambda m: m.i_offset),
                               v_peak=col(lambda m: m.v_peak), start=start, stop=stop)
    raise TypeError(f"unknown neuron model {models[0]!r}")


def aux_name(model: NeuronModel) -> str | None:
    """The state variable stored in ``aux`` for this model (None for LIF)."""
    if isinstance(model, ALIF):
        return "theta"
    if isinstance(model, AdEx):
        return "w"
    if isinstance(model, Izhikevich):
        return "u"
    return None
