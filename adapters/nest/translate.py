"""Spec -> NEST: the shared LIF network mapped onto NEST's exactly integrated models (pure,
no NEST import).

NEST is float64 only. Only LIF with delta and exponential synapses (and external Poisson
drives of those kinds) is translated (the keys of :data:`FEATURES`); ALIF, AdEx,
Izhikevich, conductance synapses and plasticity are refused with the reason in
:data:`WHY_NOT`.

Drives: one ``spike_generator`` per driven neuron, with a spike time per step that emits
(spec step s -> NEST time ``(s + 1) dt``) and the count as its ``spike_multiplicities``,
connected one-to-one like a synapse of one step of delay (so a count emitted at s arrives
at s + 1, as the spec pins).

Units (spec: mV, ms; NEST: mV, ms, pF, pA)
    Every neuron gets ``C_m = tau_m`` (numerically, pF with tau_m in ms), i.e. a membrane
    resistance ``R_m = tau_m / C_m = 1 GOhm``, so 1 pA of current sustains 1 mV:
    NEST's ``dV/dt = -(V - E_L)/tau_m + I/C_m`` becomes ``(E_L - V + I)/tau_m``, the spec's
    ``(v_rest - v + i_offset + I_syn)/tau_m`` with ``I`` in pA standing for mV.
    Hence ``E_L = v_rest``, ``V_th = v_thresh``, ``I_e = i_offset * C_m / tau_m = i_offset``
    (pA), and an exponential weight ``w`` (mV) is a NEST weight of ``w * C_m / tau_m = w`` pA:
    NEST's exact propagator ``P21 = tau_syn tau_m / (C_m (tau_m - tau_syn)) (P22 - P11)``
    times ``w`` pA is the spec's ``w tau_syn/(tau_syn - tau_m) (P11 - P22)`` mV.
    ``iaf_psc_exp``'s ``tau_syn_ex = tau_syn_in = tau_syn`` (it splits by weight sign).

Step convention (measured on single neurons, pinned by tests/nest)
    NEST step n advances from ``n dt`` to ``(n + 1) dt``; a spike emitted in it carries the
    time stamp ``(n + 1) dt`` and, with a delay of D steps, is read by its target in step
    ``n + D``. So spec step t = NEST step t of the run; a recorded spike time T is spec
    step ``round(T / dt) - 1``; an input spike of spec step s is a ``spike_generator`` time
    ``(s + 1) dt``. NEST's iaf models fire when ``V_m >= V_th``, the spec on ``v > v_thresh``
    (differs only on exact equality, a measure-zero event).

Why the models and transforms below are *exact* (same spikes, up to float rounding)
    NEST's ``iaf_psc_exp`` step has the spec's order: V is integrated with the currents of
    *before* this step's arrivals, arrivals are then added to the currents, then the
    threshold is tested. So exponential synapses keep their delay ``D = d`` and weight.
    Its refractory counter starts at the spike and freezes V for ``RefractoryCounts``
    further steps; the spec's first integrating update is at ``s + R``, so
    ``t_ref = max(R - 1, 0) dt``.

    NEST's ``iaf_psc_delta`` adds this step's arrivals to V *before* the threshold test,
    the spec after it (a jump delivered at t is first tested at t + 1, after one decay).
    Writing NEST's V as the spec's pre-delivery potential ``u_t`` (what the threshold sees),
    ``u_{t+1} = A(u_t + w) = A(u_t) + P22 w`` with ``A`` one decay step: a delta synapse
    becomes NEST delay ``D = d + 1`` with weight ``w * exp(-dt/tau_m)``. Refractoriness: the
    spec discards deliveries of steps ``s .. s+R-1`` and first integrates at ``s + R`` from
    ``v_reset``, i.e. ``u_{s+R} = A(v_reset)``. With ``t_ref = max(R, 1) dt`` NEST discards
    arrivals of steps ``s+1 .. s+R`` (the spec's ``s .. s+R-1``, shifted by one) and holds V
    at ``V_reset`` until ``s + R``; choosing ``V_reset = A(v_reset)`` makes that value the
    spec's ``u_{s+R}``. (Refused if ``A(v_reset) >= v_thresh``: NEST would fire while held.)
    R = 0 maps like R = 1: in the spec both only drop the delivery at the spike step, which
    the reset overwrites anyway. NEST's ``V_m`` of such a population is therefore the
    spec's pre-delivery potential, not ``v`` itself; spikes are what match.

    A population with several exponential receptors (CUBA's 5 and 10 ms), or with both
    synapse kinds, uses ``iaf_psc_exp_multisynapse``: one port per spec receptor, in
    receptor order (ports 1..R, each with its ``tau_syn``), and for delta input one more
    port with ``tau_fast = dt/64``, whose current for the delta synapses whose current has decayed by ``exp(-64) ~ 1.6e-28`` (below float64
    resolution) after one step: a delta weight ``w`` becomes ``w * P22 / P21(tau_fast)`` pA,
    giving exactly the jump ``P22 w`` in the next step, with ``D = d``. The one deviation
    (documented in the build notes): NEST cannot discard a delta delivery that arrives in
    the *last* refractory step ``s + R - 1`` (or at the spike step when R = 0); it is applied
    at the first integrating step. Populations with one synapse kind only are exact.

Verified (tests/nest): single-neuron jump size, PSP peak, refractory discard and delivery
step at 1e-9 relative margins; delta-only and exponential-only networks spike for spike
against a numpy reference of the spec for R = 0, 1, 2, 10; mixed networks identical to the
reference with the deviation above; paper8 (float64, 1 s, 90 606 spikes) identical to the
spark engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..base import Capabilities, UnsupportedSpec
from ..spec.materialise import MaterialisedNetwork, MaterialisedPopulation

FAST_TAU_STEPS = 64.0
"""The delta receptor of a mixed population has ``tau = dt / FAST_TAU_STEPS``: its current
is below float64 resolution (``exp(-64)``) one step after an arrival."""


@dataclass(frozen=True, kw_only=True)
class PopulationPlan:
    """One spec population as NEST sees it. ``kind`` is what it receives: ``"delta"``
    (``iaf_psc_delta``, also for no input), ``"exponential"`` (``iaf_psc_exp``) or
    ``"mixed"`` (``iaf_psc_exp_multisynapse``)."""

    name: str
    size: int
    kind: str
    model: str
    params: dict[str, object]
    refractory_steps: int  # NEST RefractoryCounts
    p22: float  # exp(-dt/tau_m)
    delta_scale: float  # NEST weight per spec delta weight
    delta_extra_delay: int  # NEST delay steps added to a delta synapse
    delta_receptor: int  # 0: default port
    exp_receptors: tuple[int, ...]  # NEST port of each spec receptor (0: default port)
    state: tuple[tuple[str, str], ...] = (("V_m", "v"),)  # NEST variable <- spec initial state

    def transform(self, receptor: str, index: int | None = 0) -> tuple[float, int, int]:
        """``(weight scale, extra delay steps, receptor port)`` for a synapse of kind
        ``receptor`` (``"delta"`` or ``"exponential"``, feeding spec receptor ``index``)
        onto this population."""
        if receptor == "exponential":
            return 1.0, 0, self.exp_receptors[index or 0]
        return self.delta_scale, self.delta_extra_delay, self.delta_receptor


@dataclass(frozen=True, kw_only=True)
class NetworkPlan:
    """The translation of a whole materialised network (plain data, no NEST objects)."""

    dt: float
    populations: tuple[PopulationPlan, ...]
    notes: tuple[str, ...] = ()
    resettable_in_place: bool = True
    max_nest_delay_steps: int = 1
    by_name: dict[str, PopulationPlan] = field(default_factory=dict)
    poisson_drives: bool = False  # native class: one poisson_generator per drive
    synapse_models: dict[str, tuple[str, dict]] = field(default_factory=dict)
    """Projection name -> (NEST synapse model, its parameters); others are static_synapse."""

    def synapse_transform(self, target: str, receptor: str,
                          index: int | None = 0) -> tuple[float, int, int]:
        """``(weight scale, extra delay steps, receptor port)`` for a synapse onto ``target``."""
        return self.by_name[target].transform(receptor, index)


def _p21(tau_syn: float, tau_m: float, c_m: float, h: float) -> float:
    """NEST's exact current-to-voltage propagator over one step (tau_syn != tau_m)."""
    return (tau_syn * tau_m / (c_m * (tau_m - tau_syn))
            * (math.exp(-h / tau_m) - math.exp(-h / tau_syn)))


NEURON_MODELS = frozenset({"lif"})
"""Spec neuron kinds with an exact NEST mapping (:func:`translate`)."""

WHY_NOT = {
    "izhikevich": "NEST's izhikevich adds the step's delta inputs to v before its threshold "
                  "test (the spec after it), has no refractory period and no exponential "
                  "synapse, and the Euler update is nonlinear in v, so no delay/weight "
                  "transform reproduces the spec's steps",
    "adex": "NEST's aeif_psc_* integrate with an adaptive RK45 (GSL) solver, the spec pins one "
            "forward-Euler step per dt; the trajectories differ",
    "alif": "NEST 3.10 has no built-in LIF with an exactly decaying additive threshold "
            "(theta += beta at a spike) and the spec's reset/refractory rules "
            "(eprop_iaf_adapt and gif_* differ); it would need a NESTML model",
    "stdp": "NEST's stdp synapses use their own trace and update timing conventions; no "
            "exact mapping is implemented",
    "reward_stdp": "NEST's modulated synapses use their own trace and update timing "
                   "conventions; no exact mapping is implemented",
    "receptor_initial": "the synaptic currents of NEST's iaf_psc_exp are split by sign "
                        "(I_syn_ex, I_syn_in) and those of the multisynapse model are not "
                        "set; no mapping of initial receptor values is implemented",
    "conductance": "NEST's iaf_cond_exp integrates with an adaptive RK45 (GSL) solver, the "
                   "spec pins one exponential-Euler step per dt; the trajectories differ",
}
"""Why each spec kind NEST lacks is refused: the reason a refused cell carries."""

FEATURES = dict(dtypes=frozenset({"float64"}), neuron_models=NEURON_MODELS,
                synapses=frozenset({"delta", "exponential"}), plasticity=frozenset(),
                drives=True, why_not=WHY_NOT)
"""What the translation expresses, for both NEST modes' capabilities."""

_TRANSLATABLE = Capabilities(closed_loop=True, open_loop=True, **FEATURES)


def translate(net: MaterialisedNetwork) -> NetworkPlan:
    """Map every population to a NEST model and parameters (see the module docstring);
    raise :class:`UnsupportedSpec` for anything that cannot be matched."""
    reason = _TRANSLATABLE.refusal(net.spec)
    if reason is not None:
        raise UnsupportedSpec(f"nest: {reason}")
    dt = net.dt
    notes: list[str] = []
    plans = []
    receives_delta = {p.spec.target for p in (*net.projections, *net.drives)
                      if p.receptor == "delta"}
    for pop in net.populations:
        if pop.model.kind not in NEURON_MODELS:
            raise UnsupportedSpec(f"nest: neuron model {pop.model.kind!r} "
                                  f"(population {pop.name!r}): {WHY_NOT[pop.model.kind]}")
        plan, note = _population_plan(pop, dt, pop.name in receives_delta)
        plans.append(plan)
        if note:
            notes.append(note)
    by_name = {p.name: p for p in plans}
    max_d = 1
    for proj in net.projections:
        if proj.n_synapses:
            _, extra, _ = by_name[proj.spec.target].transform(proj.receptor, proj.receptor_index)
            max_d = max(max_d, int(proj.delay_steps.max()) + extra)
    for drive in net.drives:
        _, extra, _ = by_name[drive.target].transform(drive.receptor, drive.receptor_index)
        max_d = max(max_d, 1 + extra)
    in_place = all(p.kind == "delta" for p in plans)
    return NetworkPlan(dt=dt, populations=tuple(plans), notes=tuple(notes),
                       resettable_in_place=in_place, max_nest_delay_steps=max_d, by_name=by_name)


def _population_plan(pop: MaterialisedPopulation, dt: float,
                     has_delta: bool) -> tuple[PopulationPlan, str]:
    """One LIF population's NEST model and parameters, by what it receives (see the module
    docstring), and a note when the mapping is not exact."""
    m = pop.model
    R = pop.refractory_steps
    p22 = math.exp(-dt / m.tau_m)
    common = {"C_m": m.tau_m, "tau_m": m.tau_m, "E_L": m.v_rest, "V_th": m.v_thresh,
              "I_e": m.i_offset}
    taus = pop.receptor_taus
    if not taus:
        v_inf = m.v_rest + m.i_offset
        v_reset = v_inf + (m.v_reset - v_inf) * p22
        if not v_reset < m.v_thresh:
            raise UnsupportedSpec(
                f"nest: population {pop.name!r}: one decay step from v_reset already "
                f"reaches the threshold ({v_reset:.6g} >= {m.v_thresh:g} mV); the exact "
                "iaf_psc_delta mapping holds V there during refractoriness and would fire")
        return PopulationPlan(
            name=pop.name, size=pop.size, kind="delta", model="iaf_psc_delta",
            params={**common, "V_reset": v_reset, "t_ref": max(R, 1) * dt,
                    "refractory_input": False},
            refractory_steps=max(R, 1), p22=p22, delta_scale=p22, delta_extra_delay=1,
            delta_receptor=0, exp_receptors=()), ""
    ref = max(R - 1, 0)
    if len(taus) == 1 and not has_delta:
        return PopulationPlan(
            name=pop.name, size=pop.size, kind="exponential", model="iaf_psc_exp",
            params={**common, "V_reset": m.v_reset, "t_ref": ref * dt,
                    "tau_syn_ex": taus[0], "tau_syn_in": taus[0]},
            refractory_steps=ref, p22=p22, delta_scale=1.0, delta_extra_delay=0,
            delta_receptor=0, exp_receptors=(0,)), ""
    # Several receptors (and/or delta input): one port per spec receptor, in order, then
    # the fast delta port.
    tau_fast = dt / FAST_TAU_STEPS
    ports = tuple(range(1, len(taus) + 1))
    tau_list = list(taus) + ([tau_fast] if has_delta else [])
    scale = p22 / _p21(tau_fast, m.tau_m, m.tau_m, dt)
    note = ("" if not has_delta else
            f"{pop.name}: delta and exponential inputs (iaf_psc_exp_multisynapse); delta "
            "deliveries in the last refractory step are applied, not discarded")
    return PopulationPlan(
        name=pop.name, size=pop.size, kind="mixed" if has_delta else "receptors",
        model="iaf_psc_exp_multisynapse",
        params={**common, "V_reset": m.v_reset, "t_ref": ref * dt, "tau_syn": tau_list},
        refractory_steps=ref, p22=p22, delta_scale=scale, delta_extra_delay=0,
        delta_receptor=len(taus) + 1 if has_delta else 0, exp_receptors=ports), note
