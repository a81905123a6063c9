"""The shared network specification: plain, frozen, simulator-free data.

Every backend simulates exactly what these types say, so every semantic point that
could make two simulators disagree is pinned here, in the docstrings, once:

Time grid and step order
    Time advances in steps of ``dt`` (ms). One step ``t -> t+1`` does, in this order
    (Brian2's default schedule): (1) state update of every non-refractory neuron with the
    model's pinned integration scheme, using the synaptic currents *before* this step's
    deliveries; synaptic currents decay exactly; (2) threshold: a neuron spikes at step t
    when ``v > threshold`` (strict); (3) synaptic propagation: every spike emitted at step
    ``t - d`` by a presynaptic neuron with a synapse of delay ``d`` steps is delivered now
    (input-population spikes of step t included; a delay is ``d >= 1`` whole steps, so
    a spike emitted at step t arrives at step t + d); (4) reset of the neurons that
    spiked (``v = v_reset``, model-specific jumps) and the refractory clock starts.

Refractoriness
    ``t_ref`` is a whole number of steps R (validated). A neuron is *refractory* at step t
    when it spiked at step s with ``t - s < R`` (Brian2's rule ``timestep(t - lastspike)
    < timestep(refractory)``). While refractory its membrane ``v`` is not integrated (it
    stays at ``v_reset``), it cannot spike, and *delta* inputs delivered to it are
    discarded. Other state variables (``g``, ``theta``, ``w``, ``u``) keep evolving. So
    after a spike at s the first integrating update is at step s + R (R <= 1: none skipped).

Discrete updates (what "exact" means, so every backend computes the same numbers)
    LIF/ALIF membrane, delta synapses only: ``v' = v_inf + (v - v_inf) * exp(-dt/tau_m)``
    with ``v_inf = v_rest + i_offset``. With an exponential synapse current g (the exact
    propagator of the linear pair, as NEST's ``iaf_psc_exp``; needs tau_syn != tau_m):
    ``v' = v_inf + (v - v_inf) * exp(-dt/tau_m)
           + g * tau_syn/(tau_syn - tau_m) * (exp(-dt/tau_syn) - exp(-dt/tau_m))`` (one such
    term per receptor, added in receptor order) and ``g' = g * exp(-dt/tau_syn)``. ALIF: ``theta' = theta * exp(-dt/tau_adapt)``.
    LIF/ALIF with conductance receptors (COBA): exponential Euler with every receptor held
    at its old value over the step, evaluated left to right as written, receptors in
    receptor order: ``G = 1 + gc_0 + gc_1 + ...`` (conductance receptors only),
    ``N = v_inf + s_0 + s_1 + ...`` with ``s_r = g_r * e_rev_r`` for a conductance
    receptor and ``s_r = g_r`` for a current one, ``v_eq = N / G``,
    ``v' = v_eq + (v - v_eq) * exp(G * (-dt/tau_m))`` (``-dt/tau_m`` computed once on the
    host in float64, then cast); every ``g`` decays exactly as above.
    AdEx/Izhikevich: one forward-Euler step with every right-hand side evaluated at the
    old state, each formula of the model docstrings evaluated left to right as written
    (``x' = x + dt * (dx/dt)``, with ``dx/dt = (...) / tau`` divided, not multiplied by a
    precomputed ``dt/tau``; ``0.04*v**2`` as ``(0.04*v)*v``); g decays exactly as above.

Synapses
    ``Delta``: ``v += w`` (w in mV). ``Exponential``: ``g += w`` and ``dg/dt = -g/tau_syn``
    (exact decay), entering the membrane equation as the current ``I_syn = g`` in the
    state variable's own units (mV for LIF/ALIF/AdEx, mV/ms for Izhikevich).
    ``Conductance``: ``g += w`` (in units of the leak conductance), exact decay, entering
    the membrane as ``g * (e_rev - v)`` (see above).
    Receptors: the exponential (or conductance) projections and drives into one population
    with an equal synapse model (same kind, ``tau_syn`` and ``e_rev``) share one ``g`` (a
    *receptor*); each distinct one is a receptor of its own (CUBA's 5 ms excitatory and
    10 ms inhibitory currents), numbered in order of first appearance among the
    projections, then the drives. ``I_syn`` is the sum of the receptors' ``g``, added
    in that order, and each receptor contributes its own exact propagator term to the
    LIF/ALIF update. The sign of ``w`` carries excitation/inhibition.

External Poisson drive (:class:`PoissonDrive`, Brunel 2000's C_ext inputs)
    Every target neuron i has ``n_sources`` private sources of ``rate`` Hz. Their spike
    count emitted at step s is ``c_i(s) ~ Binomial(n_sources, rate * dt)``, drawn on the
    host from the input seed (one draw per (step, neuron), step-major, so it does not
    depend on chunking or backend), and delivered at step ``s + 1`` (one step of delay,
    NEST's minimum) in the propagation phase, like ``c_i(s)`` spikes through synapses of
    weight ``w``: delta ``v += w * c`` (discarded while refractory), exponential or
    conductance ``g_r += w * c``. Step 0 receives no drive.

Connectivity, weights, delays, initial state and input spikes are *materialised once*
on the host from seeds (see :mod:`adapters.spec.materialise`); backends never draw
random numbers of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

if TYPE_CHECKING:  # only for annotations: validation calls back into the checker
    from .validate import Check

FORMAT_VERSION = 1
"""Written into every spec file and checked on read."""

NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]{0,63}"
"""Population/projection names: identifiers only, so they are safe in generated code."""

DType = Literal["float32", "float64"]


# --------------------------------------------------------------------------- distributions


@dataclass(frozen=True, kw_only=True)
class Constant:
    """Every draw equals ``value``."""

    kind: ClassVar[str] = "constant"
    value: float

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` float64 draws (a constant consumes no random numbers)."""
        return np.full(n, float(self.value))

    def short(self) -> str:
        """A compact label for summaries: ``2.5``, ``uniform(1,2)``."""
        return f"{self.value:g}"

    def check(self, check: Check, path: str) -> None:
        pass

    def check_delay(self, check: Check, path: str) -> None:
        if self.value == 0:
            check.fail(path, self.value, f">= one step ({check.dt} ms): zero-delay synapses "
                       "are refused because delivery is pinned at step t + d with d >= 1 and "
                       "NEST's minimum delay is one step (write one step; CUBA does)")
        check.whole_steps(path, self.value, minimum=1)


@dataclass(frozen=True, kw_only=True)
class Uniform:
    """Uniform on ``[low, high)``."""

    kind: ClassVar[str] = "uniform"
    low: float
    high: float

    def short(self) -> str:
        return f"{self.kind}(" + ",".join(f"{v:g}" for v in (self.low, self.high)) + ")"

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.low, self.high, size=n)

    def check(self, check: Check, path: str) -> None:
        if not self.high >= self.low:
            check.fail(f"{path}.high", self.high, f">= low ({self.low})")

    def check_delay(self, check: Check, path: str) -> None:
        if self.low < check.dt * (1 - check.step_tolerance):
            check.fail(f"{path}.low", self.low,
                       f">= dt ({check.dt} ms): delays are at least one step")


@dataclass(frozen=True, kw_only=True)
class Normal:
    """Gaussian with ``mean`` and ``std`` (no clipping: a weight may change sign)."""

    kind: ClassVar[str] = "normal"
    mean: float
    std: float

    def short(self) -> str:
        return f"{self.kind}(" + ",".join(f"{v:g}" for v in (self.mean, self.std)) + ")"

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(self.mean, self.std, size=n)

    def check(self, check: Check, path: str) -> None:
        if self.std < 0:
            check.fail(f"{path}.std", self.std, "a standard deviation >= 0")

    def check_delay(self, check: Check, path: str) -> None:
        if self.mean < check.dt:
            check.fail(f"{path}.mean", self.mean,
                       f">= dt ({check.dt} ms); draws below one step are set to one step")


@dataclass(frozen=True, kw_only=True)
class TruncatedNormal:
    """Gaussian with ``mean`` and ``std`` restricted to ``[low, high]`` by redrawing: ``n``
    values are drawn, then every value outside the interval is replaced, in index order, by
    a fresh draw, until none is left (NEST's ``redraw``; the Potjans-Diesmann microcircuit
    draws its weights and delays this way). A bound may be omitted (None). The interval must
    hold at least 1 % of the Gaussian's mass, so the redrawing ends quickly."""

    kind: ClassVar[str] = "truncated_normal"
    mean: float
    std: float
    low: float | None = None
    high: float | None = None

    MIN_MASS: ClassVar[float] = 0.01
    MAX_ROUNDS: ClassVar[int] = 10_000

    def _outside(self, x: np.ndarray) -> np.ndarray:
        bad = np.zeros(x.shape, bool)
        if self.low is not None:
            bad |= x < self.low
        if self.high is not None:
            bad |= x > self.high
        return bad

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        x = rng.normal(self.mean, self.std, size=n)
        for _ in range(self.MAX_ROUNDS):
            bad = np.flatnonzero(self._outside(x))
            if bad.size == 0:
                return x
            x[bad] = rng.normal(self.mean, self.std, size=bad.size)
        raise RuntimeError(f"truncated_normal: {bad.size} draws still outside after "
                           f"{self.MAX_ROUNDS} rounds")  # prevented by check()

    def mass(self) -> float:
        """Probability that one Gaussian draw falls inside ``[low, high]``."""
        if self.std == 0:
            return float(not self._outside(np.array([self.mean]))[0])
        from math import erf, inf, sqrt

        def cdf(v: float) -> float:
            return 0.5 * (1.0 + erf((v - self.mean) / (self.std * sqrt(2.0))))

        lo = -inf if self.low is None else self.low
        hi = inf if self.high is None else self.high
        return (cdf(hi) if hi != inf else 1.0) - (cdf(lo) if lo != -inf else 0.0)

    def short(self) -> str:
        bounds = ",".join("" if b is None else f"{b:g}" for b in (self.low, self.high))
        return f"{self.kind}({self.mean:g},{self.std:g},[{bounds}])"

    def check(self, check: Check, path: str) -> None:
        if self.std < 0:
            check.fail(f"{path}.std", self.std, "a standard deviation >= 0")
        if self.low is not None and self.high is not None and not self.high > self.low:
            check.fail(f"{path}.high", self.high, f"> low ({self.low})")
        if self.mass() < self.MIN_MASS:
            check.fail(path, self.short(), f"bounds holding >= {self.MIN_MASS:.0%} of the "
                       f"Gaussian's mass (they hold {self.mass():.2g})")

    def check_delay(self, check: Check, path: str) -> None:
        """A lower bound of at least half a step: draws in [dt/2, 3dt/2) become one step
        (NEST's microcircuit redraws below dt/2, so that its minimum delay is dt)."""
        if self.low is None or self.low < 0.5 * check.dt * (1 - check.step_tolerance):
            check.fail(f"{path}.low", self.low,
                       f">= dt/2 ({0.5 * check.dt:g} ms): delays round to at least one step")


Distribution = Constant | Uniform | Normal | TruncatedNormal


# --------------------------------------------------------------------------- neuron models


class _ExactMembrane:
    """Behaviour shared by the exactly integrated models (LIF, ALIF); no fields, never
    instantiated: the concrete classes below declare their parameters themselves."""

    @property
    def spike_threshold(self) -> float:
        """The (static part of the) threshold, compared with a strict ``>``."""
        return self.v_thresh

    @property
    def reset_potential(self) -> float:
        """``v`` after a spike and while refractory."""
        return self.v_reset

    @property
    def exact_tau_m(self) -> float | None:
        """The membrane time constant of the exact propagator (None: Euler model)."""
        return self.tau_m

    def default_initial(self, var: str, state: dict[str, np.ndarray], size: int) -> np.ndarray:
        """Initial value of a state variable the spec does not set."""
        return np.full(size, float(self.v_rest)) if var == "v" else np.zeros(size)

    def check(self, check: Check, path: str) -> None:
        check.positive(f"{path}.tau_m", self.tau_m)
        if not self.v_thresh > self.v_reset:
            check.fail(f"{path}.v_thresh", self.v_thresh, f"> v_reset ({self.v_reset})")


@dataclass(frozen=True, kw_only=True)
class LIF(_ExactMembrane):
    """Leaky integrate-and-fire, exact (exponential) integration.

    ``dv/dt = (v_rest - v + i_offset + I_syn) / tau_m``; spike when ``v > v_thresh``;
    reset ``v = v_reset``. Units: ms and mV (``i_offset`` is the steady depolarisation
    the constant drive would cause, in mV). With an exponential synapse the pair
    (v, g) is integrated with the exact linear propagator (as NEST's ``iaf_psc_exp``).
    """

    kind: ClassVar[str] = "lif"
    state_variables: ClassVar[tuple[str, ...]] = ("v",)
    integration: ClassVar[str] = "exact"
    tau_m: float = 10.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -50.0
    t_ref: float = 2.0
    i_offset: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ALIF(_ExactMembrane):
    """LIF with an adaptive threshold ``theta`` (exact integration).

    As :class:`LIF`, plus ``dtheta/dt = -theta / tau_adapt``; spike when
    ``v > v_thresh + theta``; at a spike ``theta += beta`` (mV).
    """

    kind: ClassVar[str] = "alif"
    state_variables: ClassVar[tuple[str, ...]] = ("v", "theta")
    integration: ClassVar[str] = "exact"
    tau_m: float = 10.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -50.0
    t_ref: float = 2.0
    i_offset: float = 0.0
    tau_adapt: float = 100.0
    beta: float = 1.0

    def check(self, check: Check, path: str) -> None:
        super().check(check, path)
        check.positive(f"{path}.tau_adapt", self.tau_adapt)


@dataclass(frozen=True, kw_only=True)
class AdEx:
    """Adaptive exponential integrate-and-fire, forward Euler.

    ``dv/dt = (v_rest - v + delta_t*exp((v - v_t)/delta_t) - w + i_offset + I_syn) / tau_m``
    ``dw/dt = (a*(v - v_rest) - w) / tau_w``  (w expressed in mV, a dimensionless)
    spike when ``v > v_peak``; reset ``v = v_reset``, ``w += b`` (mV).
    """

    kind: ClassVar[str] = "adex"
    state_variables: ClassVar[tuple[str, ...]] = ("v", "w")
    integration: ClassVar[str] = "euler"
    tau_m: float = 20.0
    v_rest: float = -70.0
    v_reset: float = -58.0
    v_t: float = -50.0
    delta_t: float = 2.0
    v_peak: float = 0.0
    tau_w: float = 100.0
    a: float = 0.5
    b: float = 2.0
    t_ref: float = 0.0
    i_offset: float = 0.0

    @property
    def spike_threshold(self) -> float:
        return self.v_peak

    @property
    def reset_potential(self) -> float:
        return self.v_reset

    @property
    def exact_tau_m(self) -> float | None:
        return None

    def default_initial(self, var: str, state: dict[str, np.ndarray], size: int) -> np.ndarray:
        return np.full(size, float(self.v_rest)) if var == "v" else np.zeros(size)

    def check(self, check: Check, path: str) -> None:
        check.positive(f"{path}.tau_m", self.tau_m)
        check.positive(f"{path}.tau_w", self.tau_w)
        check.positive(f"{path}.delta_t", self.delta_t)
        if not self.v_peak > self.v_reset:
            check.fail(f"{path}.v_peak", self.v_peak, f"> v_reset ({self.v_reset})")


@dataclass(frozen=True, kw_only=True)
class Izhikevich:
    """Izhikevich (2003), forward Euler, time in ms, v in mV.

    ``dv/dt = 0.04*v**2 + 5*v + 140 - u + i_offset + I_syn``;
    ``du/dt = a*(b*v - u)``; spike when ``v > v_peak``; reset ``v = c``, ``u += d``.
    ``i_offset`` and ``I_syn`` are in mV/ms. Initial ``u`` defaults to ``b * v``.
    """

    kind: ClassVar[str] = "izhikevich"
    state_variables: ClassVar[tuple[str, ...]] = ("v", "u")
    integration: ClassVar[str] = "euler"
    a: float = 0.02
    b: float = 0.2
    c: float = -65.0
    d: float = 8.0
    v_peak: float = 30.0
    t_ref: float = 0.0
    i_offset: float = 0.0

    @property
    def spike_threshold(self) -> float:
        return self.v_peak

    @property
    def reset_potential(self) -> float:
        return self.c

    @property
    def exact_tau_m(self) -> float | None:
        return None

    def default_initial(self, var: str, state: dict[str, np.ndarray], size: int) -> np.ndarray:
        """``v`` starts at ``c``; ``u`` at ``b * v`` (``v`` is drawn first)."""
        return np.full(size, float(self.c)) if var == "v" else self.b * state["v"]

    def check(self, check: Check, path: str) -> None:
        if not self.v_peak > self.c:
            check.fail(f"{path}.v_peak", self.v_peak, f"> c ({self.c})")


NeuronModel = LIF | ALIF | AdEx | Izhikevich


# --------------------------------------------------------------------------- synapses


@dataclass(frozen=True, kw_only=True)
class Delta:
    """``v += w`` at delivery (discarded while the target is refractory)."""

    kind: ClassVar[str] = "delta"

    def short(self) -> str:
        return self.kind

    @property
    def time_constant(self) -> float | None:
        """The receptor's decay time constant (None: an instantaneous jump)."""
        return None

    @property
    def reversal(self) -> float | None:
        """The reversal potential (None: not conductance-based)."""
        return None


@dataclass(frozen=True, kw_only=True)
class Exponential:
    """Current-based exponential: ``g += w`` at delivery, ``dg/dt = -g/tau_syn`` (ms)."""

    kind: ClassVar[str] = "exponential"
    tau_syn: float = 5.0

    def short(self) -> str:
        """With its time constant: each distinct one is a receptor of the target."""
        return f"{self.kind}({self.tau_syn:g} ms)"

    @property
    def time_constant(self) -> float | None:
        return self.tau_syn

    @property
    def reversal(self) -> float | None:
        return None


@dataclass(frozen=True, kw_only=True)
class Conductance:
    """Conductance-based exponential (COBA): ``g += w`` at delivery, ``dg/dt = -g/tau_syn``
    (exact decay), entering the membrane equation as ``g * (e_rev - v)``. ``g`` is
    dimensionless, in units of the leak conductance (``w = 0.6`` is 0.6 x g_leak); ``e_rev``
    is the reversal potential (mV). Only for the exactly integrated models (LIF, ALIF),
    whose update then becomes the exponential-Euler step pinned in the module docstring."""

    kind: ClassVar[str] = "conductance"
    tau_syn: float = 5.0
    e_rev: float = 0.0

    def short(self) -> str:
        return f"{self.kind}({self.tau_syn:g} ms, {self.e_rev:g} mV)"

    @property
    def time_constant(self) -> float | None:
        return self.tau_syn

    @property
    def reversal(self) -> float | None:
        """The reversal potential (None: a current-based receptor)."""
        return self.e_rev


SynapseModel = Delta | Exponential | Conductance


# --------------------------------------------------------------------------- plasticity


@dataclass(frozen=True, kw_only=True)
class STDP:
    """Pair-based additive STDP with exponential traces (nearest-neighbour free, all-to-all).

    Traces decay exactly with ``tau_pre``/``tau_post`` (ms). At a presynaptic delivery:
    ``x_pre += 1; w = clip(w - a_minus * x_post, w_min, w_max)``. At a postsynaptic spike:
    ``x_post += 1; w = clip(w + a_plus * x_pre, w_min, w_max)``. Only existing synapses
    change.
    """

    kind: ClassVar[str] = "stdp"
    tau_pre: float = 20.0
    tau_post: float = 20.0
    a_plus: float = 0.01
    a_minus: float = 0.012
    w_min: float = 0.0
    w_max: float = 1.0

    def check(self, check: Check, path: str) -> None:
        check.positive(f"{path}.tau_pre", self.tau_pre)
        check.positive(f"{path}.tau_post", self.tau_post)
        if not self.w_max >= self.w_min:
            check.fail(f"{path}.w_max", self.w_max, f">= w_min ({self.w_min})")


@dataclass(frozen=True, kw_only=True)
class RewardModulatedSTDP:
    """Three-factor rule: STDP updates go into an eligibility trace ``e`` (decays with
    ``tau_elig``), and ``w = clip(w + lr * modulator * e, w_min, w_max)`` once per chunk,
    where ``modulator`` is the reward signal the closed loop hands in with the chunk.
    """

    kind: ClassVar[str] = "reward_stdp"
    tau_pre: float = 20.0
    tau_post: float = 20.0
    tau_elig: float = 200.0
    a_plus: float = 0.01
    a_minus: float = 0.012
    lr: float = 1.0
    w_min: float = 0.0
    w_max: float = 1.0

    def check(self, check: Check, path: str) -> None:
        check.positive(f"{path}.tau_pre", self.tau_pre)
        check.positive(f"{path}.tau_post", self.tau_post)
        if not self.w_max >= self.w_min:
            check.fail(f"{path}.w_max", self.w_max, f">= w_min ({self.w_min})")
        check.positive(f"{path}.tau_elig", self.tau_elig)


Plasticity = STDP | RewardModulatedSTDP


# --------------------------------------------------------------------------- connectors


def _sorted_pairs(pre: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((post, pre))
    return pre[order].astype(np.int32), post[order].astype(np.int32)


_EMPTY = np.zeros(0, np.int32)


@dataclass(frozen=True, kw_only=True)
class FixedProbability:
    """Each (pre, post) pair is connected independently with probability ``p``."""

    kind: ClassVar[str] = "fixed_probability"
    p: float
    allow_self: bool = False

    def connect(self, n_pre: int, n_post: int, same_population: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(pre, post) int32 arrays sorted by (pre, post). Bernoulli draws row by row in
        blocks (memory stays bounded; the stream equals one big draw because numpy fills
        arrays sequentially)."""
        no_self = same_population and not self.allow_self
        rows_per_block = max(1, 4_000_000 // max(n_post, 1))
        pre_parts, post_parts = [], []
        for start in range(0, n_pre, rows_per_block):
            stop = min(n_pre, start + rows_per_block)
            hit = rng.random((stop - start, n_post)) < self.p
            if no_self:
                rows = np.arange(start, stop)
                hit[rows - start, rows] = False
            i, j = np.nonzero(hit)
            pre_parts.append(i + start)
            post_parts.append(j)
        if not pre_parts:
            return _EMPTY, _EMPTY
        return _sorted_pairs(np.concatenate(pre_parts), np.concatenate(post_parts))

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> float:
        """Expected number of synapses (what the cost estimate uses)."""
        pairs = n_pre * n_post - (min(n_pre, n_post) if same and not self.allow_self else 0)
        return self.p * pairs

    def check(self, check: Check, path: str, n_pre: int, n_post: int, same: bool) -> None:
        if not 0.0 <= self.p <= 1.0:
            check.fail(f"{path}.p", self.p, "a probability in [0, 1]")


@dataclass(frozen=True, kw_only=True)
class FixedInDegree:
    """Each target receives exactly ``n`` distinct sources, drawn without replacement."""

    kind: ClassVar[str] = "fixed_indegree"
    n: int
    allow_self: bool = False

    def connect(self, n_pre: int, n_post: int, same_population: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        no_self = same_population and not self.allow_self
        pre_parts, post_parts = [], []
        for j in range(n_post):
            candidates = np.delete(np.arange(n_pre), j) if no_self else np.arange(n_pre)
            pre_parts.append(np.sort(rng.choice(candidates, size=self.n, replace=False)))
            post_parts.append(np.full(self.n, j))
        if not pre_parts:
            return _EMPTY, _EMPTY
        return _sorted_pairs(np.concatenate(pre_parts), np.concatenate(post_parts))

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> float:
        return float(self.n) * n_post

    def check(self, check: Check, path: str, n_pre: int, n_post: int, same: bool) -> None:
        available = n_pre - (1 if same and not self.allow_self else 0)
        if not 0 <= self.n <= available:
            check.fail(f"{path}.n", self.n,
                       f"an in-degree in [0, {available}] (distinct sources available)")


@dataclass(frozen=True, kw_only=True)
class FixedTotalNumber:
    """Exactly ``n`` synapses, each with a source and a target drawn independently and
    uniformly, with replacement: multiple synapses between one pair and self-connections
    are allowed (NEST's ``fixed_total_number``, which the Potjans-Diesmann microcircuit
    uses). Drawn as ``n`` source indices, then ``n`` target indices."""

    kind: ClassVar[str] = "fixed_total_number"
    n: int

    def connect(self, n_pre: int, n_post: int, same_population: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.n == 0 or n_pre == 0 or n_post == 0:
            return _EMPTY, _EMPTY
        pre = rng.integers(0, n_pre, size=self.n)
        post = rng.integers(0, n_post, size=self.n)
        return _sorted_pairs(pre, post)

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> float:
        return float(self.n)

    def check(self, check: Check, path: str, n_pre: int, n_post: int, same: bool) -> None:
        if self.n < 0:
            check.fail(f"{path}.n", self.n, "a number of synapses >= 0")


@dataclass(frozen=True, kw_only=True)
class OneToOne:
    """``i -> i``; source and target sizes must be equal."""

    kind: ClassVar[str] = "one_to_one"

    def connect(self, n_pre: int, n_post: int, same_population: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        pre = np.arange(n_pre, dtype=np.int32)
        return pre, pre.copy()

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> float:
        return float(min(n_pre, n_post))

    def check(self, check: Check, path: str, n_pre: int, n_post: int, same: bool) -> None:
        if n_pre != n_post:
            check.fail(path, f"{n_pre} -> {n_post}", "equal source and target sizes for one_to_one")


@dataclass(frozen=True, kw_only=True)
class AllToAll:
    """Every source to every target."""

    kind: ClassVar[str] = "all_to_all"
    allow_self: bool = False

    def connect(self, n_pre: int, n_post: int, same_population: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        pre, post = (a.ravel() for a in np.meshgrid(np.arange(n_pre), np.arange(n_post),
                                                     indexing="ij"))
        if same_population and not self.allow_self:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return _sorted_pairs(pre, post)

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> float:
        return float(n_pre * n_post - (min(n_pre, n_post) if same and not self.allow_self else 0))

    def check(self, check: Check, path: str, n_pre: int, n_post: int, same: bool) -> None:
        pass


@dataclass(frozen=True, kw_only=True)
class Explicit:
    """An explicit list of (pre, post) index pairs, given as two equal-length lists
    (self-connections included as listed)."""

    kind: ClassVar[str] = "explicit"
    pre: tuple[int, ...]
    post: tuple[int, ...]

    def connect(self, n_pre: int, n_post: int, same_population: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return _sorted_pairs(np.asarray(self.pre, dtype=np.int64),
                             np.asarray(self.post, dtype=np.int64))

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> float:
        return float(len(self.pre))

    def check(self, check: Check, path: str, n_pre: int, n_post: int, same: bool) -> None:
        if len(self.pre) != len(self.post):
            check.fail(f"{path}.post", len(self.post), f"as many entries as pre ({len(self.pre)})")
        for name, idx, size in (("pre", self.pre, n_pre), ("post", self.post, n_post)):
            for j, v in enumerate(idx):
                if not 0 <= v < size:
                    check.fail(f"{path}.{name}[{j}]", v, f"an index in [0, {size})")


Connector = FixedProbability | FixedInDegree | FixedTotalNumber | OneToOne | AllToAll | Explicit


# --------------------------------------------------------------------------- network parts


@dataclass(frozen=True, kw_only=True)
class Population:
    """``size`` neurons of one model; ``initial`` maps state-variable names to distributions
    (missing variables start at ``v_rest``/``c`` for ``v``, ``b*v`` for Izhikevich ``u``,
    and 0 otherwise). ``g0``, ``g1``, ... set the population's receptors (in receptor
    order, see the module docstring; 0 when not given), drawn after the model's
    variables."""

    name: str
    size: int
    model: NeuronModel
    initial: dict[str, Distribution] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PoissonInput:
    """The input population: ``size`` spike sources driven by the closed-loop controller.

    Input neuron i is assigned to readout channel ``i % n_readouts``. For chunk n+1 every
    neuron of channel j fires at step t with probability ``rate_j * dt`` (compared with a
    host-drawn uniform number fixed per (step, neuron) by the input seed), where
    ``rate_j = clip(rate * (1 + feedback_gain * (c_j - mean(c)) / (mean(c) + 1)), 0, max_rate)``
    and ``c`` are chunk n's readout counts per neuron. Chunk 0 sees ``c = 0``, so with
    ``feedback_gain = 0`` the input is open loop and independent of the chunk length k.
    """

    name: str = "input"
    size: int
    rate: float  # Hz
    max_rate: float = 1000.0  # Hz
    feedback_gain: float = 0.0


@dataclass(frozen=True, kw_only=True)
class PoissonDrive:
    """Independent external Poisson drive of every neuron of ``target``: ``n_sources``
    private sources per neuron at ``rate`` Hz each, through synapses of weight ``weight``
    and kind ``synapse`` with one step of delay (see the module docstring: drawn on the
    host from the input seed, so every backend receives the same counts). Brunel (2000)'s
    ``C_ext`` inputs and the microcircuit's Poisson background are drives; unlike the
    input population, a drive is open loop and may deliver several spikes per step."""

    name: str
    target: str
    rate: float  # Hz per source
    n_sources: int
    weight: float
    synapse: SynapseModel = field(default_factory=Delta)

    MAX_SOURCES: ClassVar[int] = 65_535

    @property
    def count_dtype(self) -> np.dtype:
        """The counts' integer type: the smallest that holds ``n_sources``."""
        return np.dtype(np.uint8 if self.n_sources <= 255 else np.uint16)


@dataclass(frozen=True, kw_only=True)
class Projection:
    """Synapses from ``source`` (a population or the input) to ``target``.

    Weights are in the target variable's units (see module docstring); delays in ms and
    materialised as ``max(1, rint(delay / dt))`` steps (validated >= dt where fixed).
    """

    name: str
    source: str
    target: str
    connector: Connector
    weight: Distribution
    delay: Distribution = field(default_factory=lambda: Constant(value=1.0))
    synapse: SynapseModel = field(default_factory=Delta)
    plasticity: Plasticity | None = None


DEFAULT_TIMESTEPS = (1, 10, 100, 1000, 10000)
"""The execution timesteps a spec sweeps when it names none (those that divide its run)."""


def default_timesteps(dt: float, duration: float) -> tuple[int, ...]:
    """The :data:`DEFAULT_TIMESTEPS` that divide the run's ``duration / dt`` steps (all of
    them where the step count is not a positive whole number yet: validation says why)."""
    try:
        n_steps = round(duration / dt)
    except (TypeError, ZeroDivisionError, ValueError, OverflowError):
        return DEFAULT_TIMESTEPS
    if not isinstance(n_steps, int) or n_steps < 1:
        return DEFAULT_TIMESTEPS
    return tuple(k for k in DEFAULT_TIMESTEPS if n_steps % k == 0) or (1,)


@dataclass(frozen=True, kw_only=True)
class Simulation:
    """Run settings: ``dt`` and ``duration`` in ms; ``timesteps`` are the execution
    timesteps k swept by default (each must divide the number of steps; when not given,
    those of :data:`DEFAULT_TIMESTEPS` that divide the run's steps, so a spec that sets
    only dt and duration is valid); ``seed`` is the first network-instance seed (instance
    i uses ``seed + i``); ``input_seed`` fixes the input spikes."""

    dt: float = 0.1
    duration: float = 1000.0
    timesteps: tuple[int, ...] | None = None
    dtype: DType = "float32"
    seed: int = 1
    input_seed: int = 12345

    def __post_init__(self) -> None:
        if self.timesteps is None:
            object.__setattr__(self, "timesteps", default_timesteps(self.dt, self.duration))

    @property
    def n_steps(self) -> int:
        return int(round(self.duration / self.dt))


@dataclass(frozen=True, kw_only=True)
class NetworkSpec:
    """A whole network: populations, one input, projections, external drives, readouts,
    run settings.

    ``readouts`` lists the populations whose spike counts are read back after every chunk
    (empty means every population, in declaration order).
    """

    name: str
    description: str = ""
    populations: tuple[Population, ...]
    input: PoissonInput
    projections: tuple[Projection, ...]
    drives: tuple[PoissonDrive, ...] = ()
    readouts: tuple[str, ...] = ()
    simulation: Simulation = field(default_factory=Simulation)

    def overridden(self, *, dtype: str | None = None, duration: float | None = None,
                   ) -> NetworkSpec:
        """The same network with another precision and/or run duration (ms); None keeps
        the spec's own. The one way the harness overrides a spec's run settings."""
        sim = self.simulation
        return replace(self, simulation=replace(sim, dtype=dtype or sim.dtype,
                                                duration=duration or sim.duration))

    @property
    def readout_names(self) -> tuple[str, ...]:
        return self.readouts or tuple(p.name for p in self.populations)

    def population(self, name: str) -> Population:
        for pop in self.populations:
            if pop.name == name:
                return pop
        raise KeyError(name)

    def size_of(self, name: str) -> int:
        """Size of a population or of the input."""
        if name == self.input.name:
            return self.input.size
        return self.population(name).size


# Explicit registries {kind: class}: the codec uses these, never string getattr.
DISTRIBUTIONS: dict[str, type] = {c.kind: c for c in (Constant, Uniform, Normal, TruncatedNormal)}
NEURON_MODELS: dict[str, type] = {c.kind: c for c in (LIF, ALIF, AdEx, Izhikevich)}
SYNAPSES: dict[str, type] = {c.kind: c for c in (Delta, Exponential, Conductance)}
PLASTICITY: dict[str, type] = {c.kind: c for c in (STDP, RewardModulatedSTDP)}
CONNECTORS: dict[str, type] = {
    c.kind: c for c in (FixedProbability, FixedInDegree, FixedTotalNumber, OneToOne, AllToAll,
                        Explicit)
}
