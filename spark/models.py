"""What a Spark user writes: neuron models and plasticity rules as frozen hyperparameters.

These are Spark's own types (the engine imports nothing from the benchmark's spec layer).
Each neuron model builds the array-leaf pytree that updates a *segment* of neurons
(:mod:`spark.neurons`): parameters are computed once on the host in float64 and cast to
the network's dtype (round to nearest). Refractory periods and receptor time constants
are properties of a population (:class:`spark.definition.Population`), in whole steps and
ms, not of the model.

Discrete updates (every backend of the benchmark computes the same numbers):
LIF/ALIF use the exact propagator ``v' = v_inf + (v - v_inf) * exp(-dt/tau_m)
[+ g_r * tau_r/(tau_r - tau_m) * (exp(-dt/tau_r) - exp(-dt/tau_m)) per receptor r, in
order]`` (with conductance receptors, exponential Euler with the receptors held over the
step: :func:`spark.neurons._conductance_membrane`); AdEx and Izhikevich one forward-Euler
step with every right-hand side at the old state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from .neurons import AbstractCells, AdExCells, ALIFCells, IzhikevichCells, LIFCells


def _per_neuron(models: Sequence, sizes: Sequence[int], dtype: np.dtype,
                value: Callable[[object], float]):
    """One value per population, repeated per neuron, computed in float64, cast once."""
    col = np.concatenate([np.full(n, float(value(m))) for m, n in zip(models, sizes)])
    return jnp.asarray(col.astype(dtype))


def _no_conductance(kind: str, reversals: Sequence[tuple[float | None, ...]] | None) -> None:
    if reversals and any(e is not None for rev in reversals for e in rev):
        raise ValueError(f"{kind}: conductance receptors need an exactly integrated model "
                         "(LIF, ALIF)")


def _exact_parts(models: Sequence, sizes: Sequence[int], dt: float,
                 receptors: Sequence[tuple[float, ...]], n_receptors: int,
                 dtype: np.dtype, reversals: Sequence[tuple[float | None, ...]] | None = None,
                 ) -> dict:
    """The exact-membrane leaves LIF and ALIF share. ``syn_coef`` is ``(n,)`` for networks
    with at most one receptor per population, else ``(n_receptors, n)`` (0 where a
    population lacks that receptor). A segment with conductance receptors (``reversals``
    not None somewhere; the network splits segments so that this holds for all or none of
    its populations) gets the exponential-Euler leaves ``cond``, ``e_rev``, ``neg_dt_tau``."""
    rows = max(n_receptors, 1)
    reversals = reversals or [()] * len(models)
    conductance = any(e is not None for rev in reversals for e in rev)
    coefs = np.zeros((rows, sum(sizes)))
    cond = np.zeros((rows, sum(sizes)))
    e_rev = np.zeros((rows, sum(sizes)))
    start = 0
    for m, taus, rev, n in zip(models, receptors, reversals, sizes):
        for r, e in enumerate(rev):
            if e is not None:
                cond[r, start:start + n] = 1.0
                e_rev[r, start:start + n] = e
        for r, ts in enumerate(taus):
            if conductance:
                continue
            if ts == m.tau_m:
                raise ValueError(f"exponential receptor with tau_syn == tau_m ({ts} ms) has no "
                                 "exact propagator of the pinned form; choose another tau_syn")
            coefs[r, start:start + n] = ts / (ts - m.tau_m) * (np.exp(-dt / ts) - np.exp(-dt / m.tau_m))
        start += n
    syn = coefs[0] if rows == 1 else coefs
    parts = dict(decay=_per_neuron(models, sizes, dtype, lambda m: np.exp(-dt / m.tau_m)),
                 v_inf=_per_neuron(models, sizes, dtype, lambda m: m.v_rest + m.i_offset),
                 syn_coef=jnp.asarray(syn.astype(dtype)),
                 v_thresh=_per_neuron(models, sizes, dtype, lambda m: m.v_thresh),
                 has_syn=any(len(t) > 0 for t in receptors))
    if conductance:
        parts.update(cond=jnp.asarray(cond.astype(dtype)), e_rev=jnp.asarray(e_rev.astype(dtype)),
                     neg_dt_tau=_per_neuron(models, sizes, dtype, lambda m: -dt / m.tau_m),
                     conductance=True)
    return parts


class _ResetToVReset:
    """Behaviour shared by the models that reset ``v`` to ``v_reset`` and start their
    second state variable at 0 (LIF, ALIF, AdEx); no fields, never instantiated."""

    def default_state(self, var: str, v: np.ndarray) -> np.ndarray:
        """Initial value of a state variable other than ``v`` when none is given."""
        return np.zeros_like(v)

    @property
    def reset_value(self) -> float:
        return self.v_reset


@dataclass(frozen=True, kw_only=True)
class LIF(_ResetToVReset):
    """Leaky integrate-and-fire: ``dv/dt = (v_rest - v + i_offset + I_syn) / tau_m`` (ms,
    mV); spike when ``v > v_thresh``; reset ``v = v_reset``."""

    state_variables: ClassVar[tuple[str, ...]] = ("v",)
    tau_m: float = 10.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -50.0
    i_offset: float = 0.0

    @staticmethod
    def segment_cells(models: Sequence[LIF], sizes: Sequence[int], start: int, dt: float,
                      receptors: Sequence[tuple[float, ...]], n_receptors: int,
                      dtype: np.dtype, reversals=None) -> AbstractCells:
        return LIFCells(**_exact_parts(models, sizes, dt, receptors, n_receptors, dtype,
                                       reversals), start=start, stop=start + sum(sizes))


@dataclass(frozen=True, kw_only=True)
class ALIF(_ResetToVReset):
    """LIF with an adaptive threshold ``theta``: ``dtheta/dt = -theta / tau_adapt``; spike
    when ``v > v_thresh + theta``; ``theta += beta`` at a spike."""

    state_variables: ClassVar[tuple[str, ...]] = ("v", "theta")
    tau_m: float = 10.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -50.0
    i_offset: float = 0.0
    tau_adapt: float = 100.0
    beta: float = 1.0

    @staticmethod
    def segment_cells(models: Sequence[ALIF], sizes: Sequence[int], start: int, dt: float,
                      receptors: Sequence[tuple[float, ...]], n_receptors: int,
                      dtype: np.dtype, reversals=None) -> AbstractCells:
        return ALIFCells(**_exact_parts(models, sizes, dt, receptors, n_receptors, dtype,
                                        reversals), start=start,
                         stop=start + sum(sizes),
                         theta_decay=_per_neuron(models, sizes, dtype,
                                                 lambda m: np.exp(-dt / m.tau_adapt)),
                         beta=_per_neuron(models, sizes, dtype, lambda m: m.beta))


@dataclass(frozen=True, kw_only=True)
class AdEx(_ResetToVReset):
    """Adaptive exponential IF, forward Euler:
    ``dv/dt = (v_rest - v + delta_t*exp((v - v_t)/delta_t) - w + i_offset + I_syn) / tau_m``,
    ``dw/dt = (a*(v - v_rest) - w) / tau_w``; spike when ``v > v_peak``; reset
    ``v = v_reset``, ``w += b``."""

    state_variables: ClassVar[tuple[str, ...]] = ("v", "w")
    tau_m: float = 20.0
    v_rest: float = -70.0
    v_reset: float = -58.0
    v_t: float = -50.0
    delta_t: float = 2.0
    v_peak: float = 0.0
    tau_w: float = 100.0
    a: float = 0.5
    b: float = 2.0
    i_offset: float = 0.0

    @staticmethod
    def segment_cells(models: Sequence[AdEx], sizes: Sequence[int], start: int, dt: float,
                      receptors: Sequence[tuple[float, ...]], n_receptors: int,
                      dtype: np.dtype, reversals=None) -> AbstractCells:
        _no_conductance("AdEx", reversals)

        def col(fn):
            return _per_neuron(models, sizes, dtype, fn)

        return AdExCells(dt=jnp.asarray(np.asarray(dt, dtype=dtype)), tau_m=col(lambda m: m.tau_m),
                         v_rest=col(lambda m: m.v_rest), v_t=col(lambda m: m.v_t),
                         delta_t=col(lambda m: m.delta_t), i_offset=col(lambda m: m.i_offset),
                         tau_w=col(lambda m: m.tau_w), a=col(lambda m: m.a),
                         b=col(lambda m: m.b), v_peak=col(lambda m: m.v_peak), start=start,
                         stop=start + sum(sizes))


@dataclass(frozen=True, kw_only=True)
class Izhikevich:
    """Izhikevich (2003), forward Euler (ms, mV; currents in mV/ms):
    ``dv/dt = 0.04*v**2 + 5*v + 140 - u + i_offset + I_syn``, ``du/dt = a*(b*v - u)``;
    spike when ``v > v_peak``; reset ``v = c``, ``u += d``."""

    state_variables: ClassVar[tuple[str, ...]] = ("v", "u")
    a: float = 0.02
    b: float = 0.2
    c: float = -65.0
    d: float = 8.0
    v_peak: float = 30.0
    i_offset: float = 0.0

    def default_state(self, var: str, v: np.ndarray) -> np.ndarray:
        """``u`` starts at ``b * v`` (the model's resting relation)."""
        return self.b * v

    @property
    def reset_value(self) -> float:
        return self.c

    @staticmethod
    def segment_cells(models: Sequence[Izhikevich], sizes: Sequence[int], start: int,
                      dt: float, receptors: Sequence[tuple[float, ...]], n_receptors: int,
                      dtype: np.dtype, reversals=None) -> AbstractCells:
        _no_conductance("Izhikevich", reversals)

        def col(fn):
            return _per_neuron(models, sizes, dtype, fn)

        return IzhikevichCells(dt=jnp.asarray(np.asarray(dt, dtype=dtype)), a=col(lambda m: m.a),
                               b=col(lambda m: m.b), d=col(lambda m: m.d),
                               i_offset=col(lambda m: m.i_offset),
                               v_peak=col(lambda m: m.v_peak), start=start,
                               stop=start + sum(sizes))


NeuronModel = LIF | ALIF | AdEx | Izhikevich


# --------------------------------------------------------------------------- plasticity


@dataclass(frozen=True, kw_only=True)
class STDP:
    """Pair-based additive STDP with exponential traces (see :mod:`spark.plasticity` for
    the per-step order): ``w -= a_minus * x_post`` at a delivery, ``w += a_plus * x_pre``
    at a postsynaptic spike, clipped to ``[w_min, w_max]``."""

    tau_pre: float = 20.0
    tau_post: float = 20.0
    a_plus: float = 0.01
    a_minus: float = 0.012
    w_min: float = 0.0
    w_max: float = 1.0
    modulated: ClassVar[bool] = False

    @property
    def learning_rate(self) -> float:
        """Plain STDP has no three-factor update."""
        return 0.0

    def eligibility_decay(self, dt: float) -> float:
        return 0.0


@dataclass(frozen=True, kw_only=True)
class RewardSTDP:
    """Three-factor rule: STDP updates go into an eligibility trace (decay ``tau_elig``);
    ``w = clip(w + lr * modulator * e, w_min, w_max)`` once per chunk."""

    tau_pre: float = 20.0
    tau_post: float = 20.0
    tau_elig: float = 200.0
    a_plus: float = 0.01
    a_minus: float = 0.012
    lr: float = 1.0
    w_min: float = 0.0
    w_max: float = 1.0
    modulated: ClassVar[bool] = True

    @property
    def learning_rate(self) -> float:
        return self.lr

    def eligibility_decay(self, dt: float) -> float:
        return float(np.exp(-dt / self.tau_elig))


PlasticityRule = STDP | RewardSTDP
