"""Spec -> NEST as NEST's users write the model: the **native** comparison class (pure, no
NEST import).

The exact class (:mod:`.translate`) bends NEST's models to reproduce the spec's steps spike
for spike, and refuses what cannot be bent. A NEST user would instead pick NEST's standard
model for the neuron, pass the spec's parameters as they are, drive it with NEST's own
``poisson_generator`` and let NEST integrate with its own solver. That is what this plan
does; fidelity is then statistical (rates and ISI CV over seeds), not spike for spike.

What a user would write, and what we follow (NEST 3.10 model docs; the ``brunel_*``,
``Potjans_2014`` and ``CUBA``/``COBA`` (``hpc_benchmark``-style) examples):

* LIF with delta synapses: ``iaf_psc_delta`` (V jumps by the weight in mV); LIF with one or
  two current receptors: ``iaf_psc_exp`` (``tau_syn_ex``/``tau_syn_in`` chosen by the sign
  of the weight, as CUBA writes it), more receptors ``iaf_psc_exp_multisynapse``; LIF with
  conductance receptors: ``iaf_cond_exp`` (RK45, excitatory and inhibitory conductances by
  weight sign, in nS); Izhikevich: ``izhikevich`` (delta synapses). ``C_m = tau_m`` pF so
  that 1 pA stands for the spec's 1 mV of drive and ``g_L = 1`` nS, the spec's conductance
  unit (see :mod:`.translate`).
* Delays and weights as the spec states them: no transform, no extra delay step.
* Each external drive: ONE ``poisson_generator`` at ``n_sources * rate`` connected
  ``all_to_all`` to its target (NEST sends every target an independent train), one step of
  delay, seeded by ``rng_seed`` (the instance seed).
* STDP: ``stdp_synapse`` with ``mu_plus = mu_minus = 0`` (additive): ``lambda = a_plus /
  w_max``, ``alpha = a_minus / a_plus``, ``tau_plus = tau_pre``, ``Wmax = w_max``, and
  ``tau_minus = tau_post`` on the postsynaptic neurons (NEST keeps the postsynaptic trace
  in the neuron).

The closed-loop input stays the host's spikes, one ``spike_generator`` per input (it is the
environment's output, which every class shares).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base import Capabilities, UnsupportedSpec
from ..spec.materialise import MaterialisedNetwork, MaterialisedPopulation
from .translate import NetworkPlan, PopulationPlan

NEURON_MODELS = frozenset({"lif", "izhikevich"})

WHY_NOT = {
    "alif": "NEST 3.10 has no standard LIF with an additive, exponentially decaying "
            "threshold (gif_* and amat2 adapt differently); a user would write a NESTML model",
    "adex": "not mapped yet (aeif_psc_delta / aeif_cond_exp are NEST's standard AdEx)",
    "reward_stdp": "NEST's three-factor synapse (stdp_dopamine_synapse) takes its dopamine "
                   "from a volume transmitter fed by spiking neurons, not a per-chunk value "
                   "from the host",
    "receptor_initial": "initial receptor values map to iaf_cond_exp's g_ex and g_in only "
                        "(NEST's current-based models start their currents at 0 here)",
}

FEATURES = dict(dtypes=frozenset({"float64"}), neuron_models=NEURON_MODELS,
                synapses=frozenset({"delta", "exponential", "conductance"}),
                plasticity=frozenset({"stdp"}), drives=True, receptor_initial=True,
                why_not=WHY_NOT)
"""What the native plan expresses (the ``nest-native`` capabilities)."""

_TRANSLATABLE = Capabilities(closed_loop=True, open_loop=True, **FEATURES)


@dataclass(frozen=True, kw_only=True)
class NativePopulationPlan(PopulationPlan):
    """A population in NEST's standard model: weights pass unchanged, times the sign
    ``receptor_sign[r]`` NEST uses to choose an excitatory or inhibitory receptor (1 where
    the weight's own sign chooses), into port ``exp_receptors[r]``."""

    receptor_sign: tuple[float, ...] = ()

    def transform(self, receptor: str, index: int | None = 0) -> tuple[float, int, int]:
        if receptor == "delta":
            return 1.0, 0, 0
        return self.receptor_sign[index or 0], 0, self.exp_receptors[index or 0]


def translate_native(net: MaterialisedNetwork) -> NetworkPlan:
    """NEST's standard model for every population (see the module docstring); raise
    :class:`UnsupportedSpec` with the reason for what NEST's users could not write."""
    reason = _TRANSLATABLE.refusal(net.spec)
    if reason is not None:
        raise UnsupportedSpec(f"nest-native: {reason}")
    receives: dict[str, set[str]] = {p.name: set() for p in net.populations}
    signs: dict[tuple[str, int], set[float]] = {}
    for proj in net.projections:
        receives[proj.spec.target].add(proj.receptor)
        if proj.receptor_index is not None and proj.n_synapses:
            signs.setdefault((proj.spec.target, proj.receptor_index), set()).update(
                np.unique(np.sign(proj.weight[proj.weight != 0])).tolist())
    for drive in net.drives:
        receives[drive.target].add(drive.receptor)
        if drive.receptor_index is not None and drive.spec.weight != 0:
            signs.setdefault((drive.target, drive.receptor_index), set()).add(
                float(np.sign(drive.spec.weight)))
    stdp_post: dict[str, float] = {}
    models: dict[str, tuple[str, dict]] = {}
    for proj in net.projections:
        rule = proj.spec.plasticity
        if rule is None:
            continue
        if rule.w_min != 0.0:
            raise UnsupportedSpec(f"nest-native: projection {proj.name!r}: NEST's stdp_synapse "
                                  f"clips weights at 0, the spec at w_min = {rule.w_min:g}")
        if proj.n_synapses and float(proj.weight.min()) < 0.0:
            raise UnsupportedSpec(f"nest-native: projection {proj.name!r}: stdp_synapse "
                                  "needs non-negative weights")
        previous = stdp_post.setdefault(proj.spec.target, rule.tau_post)
        if previous != rule.tau_post:
            raise UnsupportedSpec(f"nest-native: population {proj.spec.target!r}: NEST keeps "
                                  "one postsynaptic STDP trace per neuron; the spec gives "
                                  f"tau_post {previous:g} and {rule.tau_post:g} ms")
        models[proj.name] = ("stdp_synapse", {
            "tau_plus": rule.tau_pre, "lambda": rule.a_plus / rule.w_max,
            "alpha": rule.a_minus / rule.a_plus, "mu_plus": 0.0, "mu_minus": 0.0,
            "Wmax": rule.w_max})
    plans = []
    for pop in net.populations:
        pop_signs = tuple(signs.get((pop.name, r), set()) for r in range(len(pop.receptor_taus)))
        plans.append(_population(pop, receives[pop.name], pop_signs, stdp_post.get(pop.name)))
    notes = ["native class: NEST's standard models, poisson_generator drives, NEST's own "
             "integrators; fidelity is statistical"]
    return NetworkPlan(dt=net.dt, populations=tuple(plans), notes=tuple(notes),
                       resettable_in_place=False, max_nest_delay_steps=1,
                       by_name={p.name: p for p in plans}, poisson_drives=True,
                       synapse_models=models)


def _population(pop: MaterialisedPopulation, receives: set[str],
                signs: tuple[set[float], ...], tau_minus: float | None) -> NativePopulationPlan:
    """One population's NEST standard model; ``signs[r]``: the weight signs receptor ``r``
    receives (NEST splits excitatory and inhibitory input by sign)."""
    m = pop.model
    where = f"nest-native: population {pop.name!r}"
    extra = {} if tau_minus is None else {"tau_minus": tau_minus}
    plan = dict(name=pop.name, size=pop.size, refractory_steps=pop.refractory_steps,
                p22=float("nan"), delta_scale=1.0, delta_extra_delay=0, delta_receptor=0)
    if m.kind == "izhikevich":
        if receives - {"delta"}:
            raise UnsupportedSpec(f"{where}: NEST's izhikevich takes delta synapses only")
        if m.t_ref > 0:
            raise UnsupportedSpec(f"{where}: NEST's izhikevich has no refractory period "
                                  f"(t_ref = {m.t_ref:g} ms)")
        params = {"a": m.a, "b": m.b, "c": m.c, "d": m.d, "V_th": m.v_peak, "I_e": m.i_offset,
                  **extra}
        return NativePopulationPlan(kind="delta", model="izhikevich", params=params,
                                    exp_receptors=(), state=(("V_m", "v"), ("U_m", "u")), **plan)
    common = {"C_m": m.tau_m, "tau_m": m.tau_m, "E_L": m.v_rest, "V_th": m.v_thresh,
              "V_reset": m.v_reset, "t_ref": m.t_ref, "I_e": m.i_offset, **extra}
    taus, reversals = pop.receptor_taus, pop.receptor_reversals
    n = len(taus)
    if not pop.conductance_based and any(f"g{r}" in pop.spec.initial for r in range(n)):
        raise UnsupportedSpec(f"{where}: {WHY_NOT['receptor_initial']}")
    if pop.conductance_based:
        if "delta" in receives or any(e is None for e in reversals) or n > 2:
            raise UnsupportedSpec(f"{where}: iaf_cond_exp takes one excitatory and one "
                                  "inhibitory conductance receptor only")
        if any(-1.0 in s for s in signs):
            raise UnsupportedSpec(f"{where}: a negative conductance weight (NEST reads the "
                                  "sign as the receptor)")
        ex = max(range(n), key=lambda r: reversals[r])
        inh = min(range(n), key=lambda r: reversals[r]) if n == 2 else None
        params = {**{k: v for k, v in common.items() if k != "tau_m"}, "g_L": 1.0,
                  "tau_syn_ex": taus[ex], "E_ex": reversals[ex],
                  "tau_syn_in": taus[inh] if inh is not None else taus[ex],
                  "E_in": reversals[inh] if inh is not None else reversals[ex]}
        state = (("V_m", "v"), ("g_ex", f"g{ex}")) + ((("g_in", f"g{inh}"),) if inh is not None
                                                    else ())
        return NativePopulationPlan(kind="conductance", model="iaf_cond_exp", params=params,
                                    exp_receptors=(0,) * n, state=state,
                                    receptor_sign=tuple(1.0 if r == ex else -1.0
                                                        for r in range(n)), **plan)
    if not taus:
        return NativePopulationPlan(kind="delta", model="iaf_psc_delta",
                                    params={**common, "refractory_input": False},
                                    exp_receptors=(), **plan)
    if "delta" in receives:
        raise UnsupportedSpec(f"{where}: no NEST standard model takes both delta and "
                              "exponential synapses")
    by_sign = _receptors_by_sign(signs)
    if by_sign is not None:  # CUBA's way: iaf_psc_exp, tau_syn_ex/in chosen by weight sign
        ex, inh = by_sign
        return NativePopulationPlan(kind="exponential", model="iaf_psc_exp",
                                    params={**common, "tau_syn_ex": taus[ex],
                                            "tau_syn_in": taus[inh]},
                                    exp_receptors=(0,) * n, receptor_sign=(1.0,) * n, **plan)
    return NativePopulationPlan(kind="receptors", model="iaf_psc_exp_multisynapse",
                                params={**common, "tau_syn": list(taus)},
                                exp_receptors=tuple(range(1, n + 1)),
                                receptor_sign=(1.0,) * n, **plan)


def _receptors_by_sign(signs: tuple[set[float], ...]) -> tuple[int, int] | None:
    """``(excitatory, inhibitory)`` receptor indices when NEST's sign split expresses the
    receptors (one receptor; or two, one taking only positive and one only negative
    weights), else None."""
    if len(signs) == 1:
        return 0, 0  # tau_syn_ex = tau_syn_in: either sign reads the same time constant
    if len(signs) == 2:
        for ex, inh in ((0, 1), (1, 0)):
            if signs[ex] <= {1.0} and signs[inh] <= {-1.0}:
                return ex, inh
    return None
