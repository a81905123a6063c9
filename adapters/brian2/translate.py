"""Spec -> Brian2 objects, shared by every Brian2 mode.

What reaches Brian2 is numbers (host-computed float64 propagators, cast to the spec's dtype)
and names (population/projection names, validated identifiers); no spec text is spliced
into code.

Membrane update: explicit propagator code, not ``method='exact'``
    Each population's ODEs are integrated by a *custom state-update method* (a callable
    handed to ``NeuronGroup(method=...)``) that emits the pinned update of
    :mod:`adapters.spec.model` as a chain of two-operand statements, e.g. for LIF with an
    exponential synapse::

        _sp_a = v - v_inf ; _sp_b = _sp_a * P_m ; _sp_c = v_inf + _sp_b
        _sp_d = g * P_gm  ; _sp_v = _sp_c + _sp_d ; _sp_g = g * P_g ; v = _sp_v ; g = _sp_g

    with ``P_m = exp(-dt/tau_m)``, ``P_g = exp(-dt/tau_syn)`` and
    ``P_gm = tau_syn/(tau_syn - tau_m) * (P_g - P_m)`` computed once on the host in float64.
    Every statement has one operation, so sympy's reordering of commutative operands
    cannot change a rounding, and the result is the formula evaluated left to right.
    ``method='exact'`` is algebraically the same but sympy rearranges it (e.g.
    ``v*exp(-dt/tau) - v_inf*exp(-dt/tau) + v_inf``), which rounds differently and, over a
    second of network activity, changes spikes compared with an engine that evaluates the
    pinned formula. The ``(unless refractory)`` flag keeps Brian2's own refractoriness:
    its state updater computes ``not_refractory = timestep(t - lastspike, dt) >=
    timestep(refractory, dt)`` first and the write to ``v`` is conditional on it.

Objects (:func:`merge_plan`): populations with identical update code share one
``NeuronGroup`` (each population a contiguous ``Subgroup`` slice, in spec order) and
projections with the same (source group or input, target group, synapse kind) share one
``Synapses`` (arrays concatenated with group offsets, sorted by (pre, post)), as an
expert writes a multi-pool network; ``paper8`` is 1 group + 2 synapse objects instead of
8 + 72. Monitors stay per population, on its slice.

Plasticity (:func:`plastic_code`): a plastic pathway keeps per-synapse traces ``xpre_s``,
``xpost_s`` (and ``elig_s`` for the reward rule) that a ``run_regularly`` of the Synapses
object multiplies by host-computed decay factors in the ``synapses`` slot *before* every
pathway (order -2; Brian2's pre pathways run at -1, post pathways at +1), so the order of
Spark's synaptic phase holds: decay, deliveries (the current weight, then ``xpre += 1`` and
the depression), then this step's postsynaptic spikes (``xpost += 1``, the potentiation).
The reward rule's end-of-chunk update ``w = clip(w + (lr * m) * e)`` is applied by the
backend after every chunk (:func:`apply_modulator`; in the resident binary, C++ emitted by
:func:`modulator_code`). Every statement has two operands, as for the neurons.

Units: every variable is dimensionless and holds the spec's numbers (mV, mV/ms); only
time constants inside the (unused-by-the-updater) equations carry units. Brian2's SI
scaling (mV -> V) would change every rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..spec.materialise import MaterialisedNetwork, MaterialisedPopulation


@dataclass(frozen=True)
class PopulationCode:
    """Everything Brian2 needs for one population: equations, the update statements, the
    threshold/reset, and the namespace of numbers they refer to."""

    equations: str
    update: str
    threshold: str
    reset: str
    namespace: dict[str, float]
    refractory_steps: int
    receptors: tuple[str, ...]  # the receptor variables, in receptor order ("g", "g1", ...)
    state_variables: tuple[str, ...]


@dataclass
class _Code:
    """The pieces of one population's Brian2 code while they are assembled."""

    lines: list[str]  # update statements (two operands each), results in _sp_<var>
    eqs: list[str]
    ns: dict[str, float]  # numbers (cast to the spec's dtype)
    ns_units: dict[str, float]  # time constants in ms (unit attached at build time)
    threshold: str = "v > v_th"
    extra_reset: tuple[str, ...] = ()


def receptor_names(n: int) -> tuple[str, ...]:
    """Brian2 variables of a population's receptors: ``g`` (as with one), ``g1``, ``g2``..."""
    return tuple("g" if r == 0 else f"g{r}" for r in range(n))


def _suffix(r: int) -> str:
    return "" if r == 0 else str(r)


def _added(lines: list[str], base: str, terms: list[str], final: str, stem: str) -> str:
    """Append the sum ``base + terms[0] + terms[1] + ...`` left to right, two operands per
    statement (intermediates ``<stem><r>``, the last result named ``final``); returns the
    name of the result (``base`` itself when there are no terms)."""
    last = base
    for r, term in enumerate(terms):
        name = final if r == len(terms) - 1 else f"{stem}{r}"
        lines.append(f"{name} = {last} + {term}")
        last = name
    return last


def _conductance_code(m, dt: float, taus: tuple[float, ...],
                      reversals: tuple[float | None, ...]) -> _Code:
    """LIF/ALIF with conductance receptors, the pinned exponential-Euler step:
    ``G = 1 + gc_0 + ...``, ``N = v_inf + s_0 + ...`` (``s_r = g_r * E_r`` or ``g_r``),
    ``v' = v_eq + (v - v_eq) * exp(G * ndt_tau)`` with ``v_eq = N / G``."""
    ns = {"v_inf": m.v_rest + m.i_offset, "one": 1.0, "ndt_tau": -dt / m.tau_m}
    lines: list[str] = []
    conductances, terms = [], []
    for r, (g, e_rev) in enumerate(zip(receptor_names(len(taus)), reversals)):
        if e_rev is None:
            terms.append(g)
            continue
        ns[f"E_rev{_suffix(r)}"] = e_rev
        lines.append(f"_sp_s{r} = {g} * E_rev{_suffix(r)}")
        terms.append(f"_sp_s{r}")
        conductances.append(g)
    total = _added(lines, "one", conductances, "_sp_G", "_sp_G_")
    drive = _added(lines, "v_inf", terms, "_sp_N", "_sp_N_")
    lines += [f"_sp_veq = {drive} / {total}", f"_sp_x = {total} * ndt_tau", "_sp_P = exp(_sp_x)",
              "_sp_a = v - _sp_veq", "_sp_b = _sp_a * _sp_P", "_sp_v = _sp_veq + _sp_b"]
    return _Code(lines=lines, eqs=["dv/dt = (v_inf - v) / tau_m_q : 1 (unless refractory)"],
                 ns=ns, ns_units={"tau_m_q": m.tau_m})


def _exact_code(m, dt: float, taus: tuple[float, ...],
                reversals: tuple[float | None, ...] = ()) -> _Code:
    """LIF/ALIF: ``v' = v_inf + (v - v_inf) * P_m [+ g_r * P_gm_r per receptor]`` (with
    conductance receptors: :func:`_conductance_code`)."""
    if any(e is not None for e in reversals):
        return _conductance_code(m, dt, taus, reversals)
    ns = {"v_inf": m.v_rest + m.i_offset, "P_m": math.exp(-dt / m.tau_m)}
    lines = ["_sp_a = v - v_inf", "_sp_b = _sp_a * P_m"]
    if not taus:
        lines.append("_sp_v = v_inf + _sp_b")
    else:
        lines.append("_sp_c = v_inf + _sp_b")
        terms = []
        for r, (g, tau) in enumerate(zip(receptor_names(len(taus)), taus)):
            sfx = _suffix(r)
            p_g = math.exp(-dt / tau)
            ns[f"P_g{sfx}"] = p_g
            ns[f"P_gm{sfx}"] = tau / (tau - m.tau_m) * (p_g - ns["P_m"])
            lines.append(f"_sp_d{sfx} = {g} * P_gm{sfx}")
            terms.append(f"_sp_d{sfx}")
        _added(lines, "_sp_c", terms, "_sp_v", "_sp_vs")
    return _Code(lines=lines, eqs=["dv/dt = (v_inf - v) / tau_m_q : 1 (unless refractory)"],
                 ns=ns, ns_units={"tau_m_q": m.tau_m})


def _alif_code(m, dt: float, taus: tuple[float, ...],
               reversals: tuple[float | None, ...] = ()) -> _Code:
    code = _exact_code(m, dt, taus, reversals)
    code.ns.update(P_a=math.exp(-dt / m.tau_adapt), beta=float(m.beta))
    code.lines.append("_sp_theta = theta * P_a")
    code.eqs.append("dtheta/dt = -theta / tau_a_q : 1")
    code.ns_units["tau_a_q"] = m.tau_adapt
    code.threshold = "v > v_th + theta"
    code.extra_reset = ("theta = theta + beta",)
    return code


def _adex_code(m, dt: float, taus: tuple[float, ...],
               reversals: tuple[float | None, ...] = ()) -> _Code:
    """Forward Euler, every right-hand side at the old state, in the order the formula
    reads (the order of spark.neurons.AdExCells and of the naive references):
    dv = (((((v_rest - v) + delta_t*exp((v - v_t)/delta_t)) - w) + i_offset) + g) / tau_m
    v' = v + dt*dv;  dw = (a*(v - v_rest) - w) / tau_w;  w' = w + dt*dw"""
    lines = ["_sp_e1 = v - v_t", "_sp_e2 = _sp_e1 / delta_t", "_sp_e3 = exp(_sp_e2)",
             "_sp_e4 = delta_t * _sp_e3", "_sp_r1 = v_rest - v", "_sp_r2 = _sp_r1 + _sp_e4",
             "_sp_r3 = _sp_r2 - w", "_sp_r4 = _sp_r3 + i_off"]
    last = _added(lines, "_sp_r4", list(receptor_names(len(taus))), "_sp_r5", "_sp_r5_")
    lines += [f"_sp_r6 = {last} / tau_m_n", "_sp_dv = dt_ms * _sp_r6", "_sp_v = v + _sp_dv",
              "_sp_w1 = v - v_rest", "_sp_w2 = a_w * _sp_w1", "_sp_w3 = _sp_w2 - w",
              "_sp_w4 = _sp_w3 / tau_w_n", "_sp_dw = dt_ms * _sp_w4", "_sp_w = w + _sp_dw"]
    return _Code(lines=lines,
                 eqs=["dv/dt = (v_rest - v) / tau_m_q : 1 (unless refractory)",
                      "dw/dt = -w / tau_w_q : 1"],
                 ns=dict(v_rest=m.v_rest, v_t=m.v_t, delta_t=m.delta_t, i_off=m.i_offset,
                         tau_m_n=m.tau_m, tau_w_n=m.tau_w, dt_ms=dt, a_w=m.a, b_w=m.b),
                 ns_units={"tau_m_q": m.tau_m, "tau_w_q": m.tau_w},
                 extra_reset=("w = w + b_w",))


def _izhikevich_code(m, dt: float, taus: tuple[float, ...],
                     reversals: tuple[float | None, ...] = ()) -> _Code:
    """v' = v + dt*(((((((0.04*v)*v) + 5*v) + 140) - u) + i_offset) + g)
    u' = u + dt*(a*(b*v - u))   (the order the formula reads, as spark.neurons)"""
    lines = ["_sp_q1 = c004 * v", "_sp_q2 = _sp_q1 * v", "_sp_q3 = c5 * v",
             "_sp_q4 = _sp_q2 + _sp_q3", "_sp_q5 = _sp_q4 + c140", "_sp_q6 = _sp_q5 - u",
             "_sp_q7 = _sp_q6 + i_off"]
    last = _added(lines, "_sp_q7", list(receptor_names(len(taus))), "_sp_q8", "_sp_q8_")
    lines += [f"_sp_dv = dt_ms * {last}", "_sp_v = v + _sp_dv",
              "_sp_u1 = b_u * v", "_sp_u2 = _sp_u1 - u", "_sp_u3 = a_u * _sp_u2",
              "_sp_du = dt_ms * _sp_u3", "_sp_u = u + _sp_du"]
    return _Code(lines=lines,
                 eqs=["dv/dt = -v / ms_q : 1 (unless refractory)", "du/dt = -u / ms_q : 1"],
                 ns=dict(dt_ms=dt, i_off=m.i_offset, a_u=m.a, b_u=m.b, d_u=m.d,
                         c004=0.04, c5=5.0, c140=140.0),
                 ns_units={"ms_q": 1.0}, extra_reset=("u = u + d_u",))


MODEL_CODE: dict[str, Callable[..., _Code]] = {
    "lif": _exact_code, "alif": _alif_code, "adex": _adex_code, "izhikevich": _izhikevich_code,
}
"""Spec neuron kind -> its pinned update as Brian2 abstract code (keys: what Brian2 runs)."""


def population_code(pop: MaterialisedPopulation, dt: float) -> PopulationCode:
    """The pinned discrete update of ``pop`` as Brian2 abstract code (see module docstring)."""
    m = pop.model
    taus = pop.receptor_taus
    gs = receptor_names(len(taus))
    code = MODEL_CODE[m.kind](m, dt, taus, pop.receptor_reversals)
    ns: dict[str, float] = {"v_th": float(m.spike_threshold), "v_reset": float(m.reset_potential),
                            **code.ns}
    lines = list(code.lines)
    eqs = list(code.eqs)
    ns_units = dict(code.ns_units)
    for r, (g, tau) in enumerate(zip(gs, taus)):
        sfx = _suffix(r)
        ns.setdefault(f"P_g{sfx}", math.exp(-dt / tau))
        lines.append(f"_sp_{g} = {g} * P_g{sfx}")
        eqs.append(f"d{g}/dt = -{g} / tau_{g}_q : 1")
        ns_units[f"tau_{g}_q"] = tau
    # Assignments last, so every right-hand side used the old state.
    for var in ("v", "theta", "w", "u", *gs):
        if any(line.startswith(f"_sp_{var} =") for line in lines):
            lines.append(f"{var} = _sp_{var}")
    namespace = {k: float(v) for k, v in ns.items()}
    namespace.update({k: float(v) for k, v in ns_units.items()})  # ms, unit attached later
    return PopulationCode(
        equations="\n".join(eqs), update="\n".join(lines), threshold=code.threshold,
        reset="\n".join(["v = v_reset", *code.extra_reset]), namespace=namespace,
        refractory_steps=pop.refractory_steps, receptors=gs,
        state_variables=tuple(m.state_variables) + gs)


def _state_updater(code: str) -> Callable:
    """A Brian2 state-update method (a callable) that returns ``code`` whatever the ODEs."""

    def pinned_update(equations, variables=None, method_options=None):
        return code

    pinned_update.__name__ = "spark_pinned_update"
    return pinned_update


ON_PRE: dict[str, Callable[[str], str]] = {
    "delta": lambda target: "v_post += w_syn * int(not_refractory_post)",
    "exponential": lambda target: f"{target}_post += w_syn",
    "conductance": lambda target: f"{target}_post += w_syn",
}
"""Spec synapse kind -> Brian2 ``on_pre`` for the target variable (an exponential synapse
adds to its receptor's ``g``/``g1``/...). Synaptic weights are ``w_syn`` (not ``w``: Brian2
refuses a synaptic variable named like a postsynaptic one, and AdEx has a state variable
``w``)."""

DRIVE_CODE: dict[str, Callable[[str, str, str], str]] = {
    "delta": lambda var, weight, counts: f"v += {weight} * {counts}(t, i) * int(not_refractory)",
    "exponential": lambda var, weight, counts: f"{var} += {weight} * {counts}(t, i)",
    "conductance": lambda var, weight, counts: f"{var} += {weight} * {counts}(t, i)",
}
"""Spec synapse kind of a drive -> the ``run_regularly`` statement (``when='synapses'``,
after the pathways) that adds its counts: ``counts`` is a 2-D ``TimedArray`` of the
delivered counts (row t arrives at step t), ``weight`` a namespace number."""

PLASTICITY = frozenset({"stdp", "reward_stdp"})
"""The plasticity rules :func:`plastic_code` expresses."""

FEATURES = dict(neuron_models=frozenset(MODEL_CODE), synapses=frozenset(ON_PRE), drives=True,
                receptor_initial=True)
"""What the Brian2 translation tables express without plasticity: every mode's base
:class:`~adapters.base.Capabilities`."""

PLASTIC_FEATURES = dict(FEATURES, plasticity=PLASTICITY)
"""The runtime device and the resident C++ binary: plasticity too (the brian2cuda modes
are not checked on a GPU with it; the relaunch mode does not carry synaptic state)."""

CUDA_FEATURES = dict(FEATURES, why_not={
    "stdp": "the plastic pathways have not been run under brian2cuda on a GPU yet",
    "reward_stdp": "the plastic pathways and the end-of-chunk reward update have not been "
                   "run under brian2cuda on a GPU yet"})
"""The brian2cuda modes: the base features (plasticity refused with the reason)."""

RELAUNCH_FEATURES = dict(FEATURES, drives=False, why_not={
    "drives": "t restarts at 0 in every launch and a drive's counts are read by t (not "
              "carried between launches)",
    "stdp": "synaptic traces and weights are not carried between launches",
    "reward_stdp": "synaptic traces and weights are not carried between launches"})
"""``brian2-cpp-relaunch``: everything but drives and plasticity."""


@dataclass(frozen=True)
class GroupPlan:
    """One Brian2 ``NeuronGroup``: the spec populations (in spec order) that share one
    :class:`PopulationCode`, each a contiguous slice ``[start, stop)``."""

    name: str
    code: PopulationCode
    members: tuple[tuple[str, int, int], ...]  # (population, start, stop)

    @property
    def size(self) -> int:
        return self.members[-1][2]


@dataclass(frozen=True)
class PathwayPlan:
    """One Brian2 ``Synapses``: every projection with the same (source group or input,
    target group, synapse kind), indices global within source/target group, sorted by
    (pre, post) (stable: a projection's own order is kept for equal pairs)."""

    name: str
    source: str  # a GroupPlan name, or the input's name
    target: str  # a GroupPlan name
    kind: str  # the spec synapse kind
    variable: str  # the target variable it adds to: "v" (delta) or a receptor's "g", "g1", ...
    projections: tuple[str, ...]
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    delay_steps: np.ndarray
    plasticity: object = None  # the spec rule (STDP / RewardModulatedSTDP) or None


@dataclass(frozen=True)
class MergePlan:
    groups: tuple[GroupPlan, ...]
    pathways: tuple[PathwayPlan, ...]
    slot: dict[str, tuple[str, int, int]]  # population -> (group name, start, stop)

    def group(self, name: str) -> GroupPlan:
        return next(g for g in self.groups if g.name == name)


def object_name(kind: str, index: int) -> str:
    """A Brian2 object name: letters then digits, no underscore, so that no name Brian2
    derives from one object (``pop0000_stateupdater``, ``syn0003_pre``) can equal another's.
    Zero-padded so that Brian2's order of objects in one slot (by name) is their order of
    first appearance."""
    return f"{kind}{int(index):04d}"


def merge_plan(net: MaterialisedNetwork) -> MergePlan:
    """How spec populations/projections map onto Brian2 objects (see NOTES.md).

    Populations with identical pinned update code (equal :class:`PopulationCode`) become
    one ``NeuronGroup``, concatenated in spec order. Projections with the same (source
    group or input, target group, synapse kind) become one ``Synapses``, in order of first
    appearance, with concatenated arrays sorted by (pre, post). So a network without
    anything to merge gives exactly the objects of a one-to-one translation.

    Brian2 object names are numbered, never taken from the spec (``pop<g>``, ``syn<p>``,
    see :func:`object_name`): Brian2 derives names such as ``<group>_stateupdater`` or
    ``<synapses>_pre``, so valid spec names ``a`` and ``a_stateupdater`` would otherwise
    clash, and no spec text reaches generated code.
    """
    dt = net.dt
    buckets: list[tuple[PopulationCode, list]] = []
    for pop in net.populations:
        code = population_code(pop, dt)
        for bcode, members in buckets:
            if bcode == code:
                members.append(pop)
                break
        else:
            buckets.append((code, [pop]))
    groups, slot = [], {}
    for index, (code, pops) in enumerate(buckets):
        name = object_name("pop", index)
        members, start = [], 0
        for pop in pops:
            members.append((pop.name, start, start + pop.size))
            slot[pop.name] = (name, start, start + pop.size)
            start += pop.size
        groups.append(GroupPlan(name=name, code=code, members=tuple(members)))
    in_name = net.input_name
    keyed: dict[tuple, list] = {}
    for proj in net.projections:
        src = in_name if proj.from_input else slot[proj.spec.source][0]
        variable = ("v" if proj.receptor_index is None
                    else receptor_names(proj.receptor_index + 1)[-1])
        keyed.setdefault((src, slot[proj.spec.target][0], proj.receptor, variable,
                          proj.spec.plasticity), []).append(proj)
    pathways = []
    for index, ((src, tgt, kind, variable, rule), projs) in enumerate(keyed.items()):
        name = object_name("syn", index)
        pre = np.concatenate([p.pre.astype(np.int64) + (0 if p.from_input else slot[p.spec.source][1])
                              for p in projs])
        post = np.concatenate([p.post.astype(np.int64) + slot[p.spec.target][1] for p in projs])
        weight = np.concatenate([np.asarray(p.weight, dtype=np.float64) for p in projs])
        delay = np.concatenate([np.asarray(p.delay_steps, dtype=np.int64) for p in projs])
        if len(projs) > 1:
            order = np.lexsort((post, pre))
            pre, post, weight, delay = pre[order], post[order], weight[order], delay[order]
        pathways.append(PathwayPlan(name=name, source=src, target=tgt, kind=kind, variable=variable,
                                    projections=tuple(p.name for p in projs), pre=pre, post=post,
                                    weight=weight, delay_steps=delay, plasticity=rule))
    return MergePlan(groups=tuple(groups), pathways=tuple(pathways), slot=slot)


@dataclass(frozen=True)
class PlasticCode:
    """A plastic pathway's Brian2 code: synapse model, extra ``on_pre`` and ``on_post``
    statements, the per-step trace decay (a ``run_regularly``) and its numbers."""

    model: str
    on_pre: tuple[str, ...]
    on_post: tuple[str, ...]
    decay: str
    namespace: dict[str, float]
    modulated: bool


def plastic_code(rule, dt: float) -> PlasticCode:
    """Spark's plasticity step (:mod:`spark.plasticity`) as two-operand Brian2 statements.
    STDP clips the weight at each update; the reward rule adds to ``elig_s`` instead.
    Decay factors are ``float(numpy.exp(-dt / tau))``, computed as Spark computes them."""
    modulated = rule.kind == "reward_stdp"
    ns = {"d_xpre": float(np.exp(-dt / rule.tau_pre)), "d_xpost": float(np.exp(-dt / rule.tau_post)),
          "neg_a_minus": -float(rule.a_minus), "a_plus_s": float(rule.a_plus),
          "w_min_s": float(rule.w_min), "w_max_s": float(rule.w_max), "one_s": 1.0}
    model = ["w_syn : 1", "xpre_s : 1", "xpost_s : 1"]
    decay = ["xpre_s = xpre_s * d_xpre", "xpost_s = xpost_s * d_xpost"]
    if modulated:
        ns["d_elig"] = float(np.exp(-dt / rule.tau_elig))
        model.append("elig_s : 1")
        decay.append("elig_s = elig_s * d_elig")
        depress = ("elig_s = elig_s + dep_tmp",)
        potentiate = ("elig_s = elig_s + pot_tmp",)
    else:
        depress = ("wdep_tmp = w_syn + dep_tmp", "w_syn = clip(wdep_tmp, w_min_s, w_max_s)")
        potentiate = ("wpot_tmp = w_syn + pot_tmp", "w_syn = clip(wpot_tmp, w_min_s, w_max_s)")
    return PlasticCode(
        model="\n".join(model),
        on_pre=("xpre_s = xpre_s + one_s", "dep_tmp = neg_a_minus * xpost_s", *depress),
        on_post=("xpost_s = xpost_s + one_s", "pot_tmp = a_plus_s * xpre_s", *potentiate),
        decay="\n".join(decay), namespace=ns, modulated=modulated)


def modulated_pathways(plan: "MergePlan") -> list["PathwayPlan"]:
    """The pathways whose weights the end-of-chunk reward update changes."""
    return [pw for pw in plan.pathways
            if pw.plasticity is not None and pw.plasticity.kind == "reward_stdp"]


def apply_modulator(model: "BrianModel", modulator: float, dtype) -> None:
    """Runtime device: ``w = clip(w + (lr * m) * e, w_min, w_max)`` on every reward-modulated
    synapse, in the spec's dtype, in Spark's order of operations (applied after every
    chunk, also with m = 0, as Spark does: it clips weights that start out of range)."""
    for pw in modulated_pathways(model.plan):
        syn = model.synapses[pw.name]
        rule = pw.plasticity
        w = np.asarray(syn.variables["w_syn"].get_value())
        e = np.asarray(syn.variables["elig_s"].get_value())
        lm = dtype(rule.lr) * dtype(modulator)
        new = np.minimum(np.maximum(w + lm * e, dtype(rule.w_min)), dtype(rule.w_max))
        syn.variables["w_syn"].set_value(new.astype(dtype))


def modulator_code(model: "BrianModel", device, dtype) -> str:
    """Standalone: the same update in C++ (``spark_modulator`` holds the chunk's m), over
    the dynamic arrays of every reward-modulated synapse object; the numbers are the
    validated rule's, written with ``repr``."""
    ctype = "float" if dtype == np.float32 else "double"
    lines = []
    for pw in modulated_pathways(model.plan):
        syn = model.synapses[pw.name]
        w = device.get_array_name(syn.variables["w_syn"], access_data=False)
        e = device.get_array_name(syn.variables["elig_s"], access_data=False)
        rule = pw.plasticity
        lines.append(f"""
            {{
                const {ctype} spark_lm = ({ctype}){float(rule.lr)!r} * ({ctype})spark_modulator;
                const {ctype} spark_lo = ({ctype}){float(rule.w_min)!r};
                const {ctype} spark_hi = ({ctype}){float(rule.w_max)!r};
                for (size_t q = 0; q < {w}.size(); ++q) {{
                    const {ctype} spark_x = spark_lm * {e}[q];
                    {ctype} spark_y = {w}[q] + spark_x;
                    spark_y = spark_y < spark_lo ? spark_lo : spark_y;
                    spark_y = spark_y > spark_hi ? spark_hi : spark_y;
                    {w}[q] = spark_y;
                }}
            }}""")
    return "".join(lines)


@dataclass
class BrianModel:
    """The Brian2 objects of one network (created under whatever device is active)."""

    groups: dict[str, object]  # Brian2 NeuronGroups by GroupPlan name
    views: dict[str, object]  # population -> its NeuronGroup or Subgroup slice
    input_group: object
    synapses: dict[str, object]  # Brian2 Synapses by PathwayPlan name
    count_monitors: dict[str, object]  # readout populations (count only, or recording)
    spike_monitors: dict[str, object]  # every population, when recording
    clock: object
    plan: MergePlan
    drives: list = None  # the drives' run_regularly operations

    def objects(self) -> list:
        objs = [self.input_group, *self.groups.values(), *self.synapses.values(),
                *(self.drives or [])]
        seen = set()
        for mon in [*self.count_monitors.values(), *self.spike_monitors.values()]:
            if id(mon) not in seen:
                seen.add(id(mon))
                objs.append(mon)
        return objs


def float_dtype(net: MaterialisedNetwork):
    return np.float32 if net.dtype == "float32" else np.float64


def _cast(x: float, dtype) -> float:
    """A number as the spec's dtype would hold it (a Python float, exact)."""
    return float(np.asarray(x, dtype=np.float64).astype(dtype))


def build_model(net: MaterialisedNetwork, make_input: Callable[[int, object], object],
                record: bool, use_defaultclock: bool = False) -> BrianModel:
    """Create groups, synapses and monitors for ``net`` under the active Brian2 device.

    Objects follow :func:`merge_plan`: one ``NeuronGroup`` per distinct update code (each
    population a ``Subgroup`` slice of it), one ``Synapses`` per (source, target, kind).
    ``make_input(n_inputs, clock)`` returns the input group (a SpikeGeneratorGroup in
    runtime mode, a host-fed NeuronGroup in standalone modes). Monitors stay per
    population (on its slice, so indices are local). Count monitors use
    ``record=False`` unless spikes are recorded. Every object runs on one clock of the
    spec's dt (``use_defaultclock``: Brian2's global one, which brian2cuda requires).
    """
    import brian2 as b2

    dt = net.dt
    dtype = float_dtype(net)
    if use_defaultclock:
        b2.defaultclock.dt = dt * b2.ms
        clock = b2.defaultclock
    else:
        clock = b2.Clock(dt=dt * b2.ms, name="spark_clock")
    plan = merge_plan(net)
    groups, views = {}, {}
    for gp in plan.groups:
        code = gp.code
        namespace = {}
        for key, value in code.namespace.items():
            if key.endswith("_q"):
                namespace[key] = value * b2.ms
            else:
                namespace[key] = _cast(value, dtype)
        group = b2.NeuronGroup(
            gp.size, code.equations, threshold=code.threshold, reset=code.reset,
            refractory=code.refractory_steps * dt * b2.ms, method=_state_updater(code.update),
            namespace=namespace, clock=clock, name=gp.name)
        pops = [net.population(name) for name, _, _ in gp.members]
        for var in pops[0].spec.model.state_variables:
            setattr(group, var, np.concatenate([p.initial[var].astype(dtype) for p in pops]))
        for r, g in enumerate(code.receptors):  # receptors start where the spec says (or 0)
            setattr(group, g, np.concatenate([p.initial.get(f"g{r}", np.zeros(p.size))
                                              .astype(dtype) for p in pops]))
        groups[gp.name] = group
        for name, start, stop in gp.members:
            views[name] = group if len(gp.members) == 1 else group[start:stop]
    input_group = make_input(net.n_inputs, clock)
    synapses = {}
    for pw in plan.pathways:
        src = input_group if pw.source == net.input_name else groups[pw.source]
        on_pre = ON_PRE[pw.kind](pw.variable)
        if pw.plasticity is None:
            syn = b2.Synapses(src, groups[pw.target], "w_syn : 1", on_pre=on_pre, clock=clock,
                              name=pw.name)
        else:
            code = plastic_code(pw.plasticity, dt)
            syn = b2.Synapses(src, groups[pw.target], code.model,
                              on_pre="\n".join([on_pre, *code.on_pre]),
                              on_post="\n".join(code.on_post), clock=clock, name=pw.name,
                              namespace={k: _cast(v, dtype) for k, v in code.namespace.items()})
        if pw.pre.size:
            syn.connect(i=pw.pre.astype(np.int32), j=pw.post.astype(np.int32))
            syn.w_syn = pw.weight.astype(dtype)
            syn.delay = pw.delay_steps.astype(np.float64) * dt * b2.ms
        if pw.plasticity is not None:  # contained in syn: added to the network with it
            syn.run_regularly(code.decay, clock=clock, when="synapses", order=-2,
                              name=pw.name.replace("syn", "decay"))
        synapses[pw.name] = syn
    drives = add_drives(net, views, groups, plan, clock, dtype)
    count_monitors, spike_monitors = {}, {}
    for index, pop in enumerate(net.populations):
        if record:
            spike_monitors[pop.name] = b2.SpikeMonitor(views[pop.name], record=True,
                                                       name=object_name("mon", index))
    for index, name in enumerate(net.spec.readout_names):
        # (not ``spike_monitors.get(name) or ...``: a monitor with no spikes has len 0)
        count_monitors[name] = (spike_monitors[name] if name in spike_monitors else
                                b2.SpikeMonitor(views[name], record=False,
                                                name=object_name("count", index)))
    return BrianModel(groups=groups, views=views, input_group=input_group, synapses=synapses,
                      count_monitors=count_monitors, spike_monitors=spike_monitors,
                      clock=clock, plan=plan, drives=drives)


def add_drives(net: MaterialisedNetwork, views: dict, groups: dict, plan: MergePlan, clock,
               dtype) -> list:
    """One ``run_regularly`` per drive on its target population's view, reading a 2-D
    ``TimedArray`` of delivered counts (``drive<d>``) with ``i`` local to the view;
    the weight is the namespace number ``wdrive<d>`` of the target's group. Runs in the
    ``synapses`` slot after the pathways (``order=1``)."""
    import brian2 as b2

    runners = []
    for index, drive in enumerate(net.drives):
        counts = net.drive_counts(index).astype(np.float64)
        table_name = object_name("drive", index)
        table = b2.TimedArray(counts, dt=net.dt * b2.ms, name=table_name)
        weight = object_name("wdrive", index)
        group = groups[plan.slot[drive.target][0]]
        group.namespace[weight] = _cast(drive.spec.weight, dtype)
        group.namespace[table_name] = table
        variable = ("v" if drive.receptor_index is None
                    else receptor_names(drive.receptor_index + 1)[-1])
        code = DRIVE_CODE[drive.receptor](variable, weight, table_name)
        runners.append(views[drive.target].run_regularly(
            code, clock=clock, when="synapses", order=1, name=object_name("driverun", index)))
    return runners
