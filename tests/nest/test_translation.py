"""The NEST translation as plain data (no NEST needed): models, parameters with their unit
algebra, synapse transforms, refusals, and a clear BackendUnavailable without NEST."""

from __future__ import annotations

import math
import sys
from dataclasses import replace

import pytest

from adapters.base import BackendOptions, BackendUnavailable, UnsupportedSpec
from adapters.nest.backends import NestClosedLoop, NestUninterrupted
from adapters.nest.translate import translate
from adapters.spec.materialise import materialise
from adapters.spec.model import (
    ALIF,
    STDP,
    AdEx,
    Constant,
    Delta,
    Exponential,
    Izhikevich,
    Normal,
    Population,
    RewardModulatedSTDP,
)
from adapters.spec.networks import paper8, tiny
from adapters.registry import load_backend


def _scaled(dist, factor: float):
    if isinstance(dist, Constant):
        return Constant(value=dist.value * factor)
    if isinstance(dist, Normal):
        return Normal(mean=dist.mean * factor, std=dist.std * factor)
    raise TypeError(dist)


def variant(kind: str, t_ref: float | None = None):
    """tiny with every projection delta (``"delta"``), every projection exponential
    (``"exponential"``: excitatory and inhibitory currents), or as built in (``"mixed"``:
    ``b`` gets both kinds). ``t_ref`` (ms) replaces the refractory period of every neuron."""
    spec = tiny()
    if kind == "delta":
        projs = tuple(replace(p, synapse=Delta()) for p in spec.projections)
    elif kind == "exponential":
        # An exponential PSP peaks at ~1/6 of a delta jump of the same weight (tau_syn 2 ms,
        # tau_m 10 ms): scale the weights so the network is as active as with delta.
        projs = tuple(replace(p, synapse=Exponential(tau_syn=2.0), weight=_scaled(p.weight, 6.0))
                      for p in spec.projections)
    else:
        projs = spec.projections
    pops = spec.populations
    if t_ref is not None:
        pops = tuple(replace(p, model=replace(p.model, t_ref=t_ref)) for p in pops)
    return replace(spec, projections=projs, populations=pops)


def test_registry_points_at_both_modes():
    assert load_backend("nest") is NestClosedLoop
    assert load_backend("nest-uninterrupted") is NestUninterrupted
    assert NestClosedLoop.capabilities.closed_loop and NestClosedLoop.capabilities.open_loop
    assert not NestUninterrupted.capabilities.closed_loop
    assert NestUninterrupted.capabilities.open_loop
    for cls in (NestClosedLoop, NestUninterrupted):
        assert cls.capabilities.dtypes == frozenset({"float64"})  # NEST is float64 only
        assert cls.capabilities.neuron_models == frozenset({"lif"})
        assert cls.capabilities.threads


def test_delta_population_maps_to_iaf_psc_delta_with_the_one_step_shift():
    net = materialise(variant("delta"), 1)
    plan = translate(net)
    a = plan.by_name["a"]
    m = net.spec.population("a").model
    p22 = math.exp(-net.dt / m.tau_m)
    assert a.model == "iaf_psc_delta"
    # C_m = tau_m: R_m = 1 GOhm, so I_e (pA) = i_offset (mV) and weights stay in mV.
    assert a.params["C_m"] == a.params["tau_m"] == m.tau_m
    assert a.params["I_e"] == m.i_offset
    assert a.params["E_L"] == m.v_rest and a.params["V_th"] == m.v_thresh
    # V_reset is one decay step from v_reset; refractory R steps (t_ref 1 ms = 10 steps).
    v_inf = m.v_rest + m.i_offset
    assert a.params["V_reset"] == pytest.approx(v_inf + (m.v_reset - v_inf) * p22, abs=1e-12)
    assert a.params["t_ref"] == pytest.approx(10 * net.dt)
    assert a.params["refractory_input"] is False
    # A delta weight w arrives one step later (d + 1) scaled by exp(-dt/tau_m).
    assert a.transform("delta") == (pytest.approx(p22), 1, 0)
    assert plan.resettable_in_place
    assert plan.max_nest_delay_steps == 3 + 1


def test_exponential_population_maps_to_iaf_psc_exp_unchanged_weights():
    net = materialise(variant("exponential"), 1)
    plan = translate(net)
    b = plan.by_name["b"]
    assert b.model == "iaf_psc_exp"
    assert b.params["tau_syn_ex"] == b.params["tau_syn_in"] == 2.0
    assert b.params["V_reset"] == net.spec.population("b").model.v_reset
    assert b.params["t_ref"] == pytest.approx(9 * net.dt)  # R - 1 further frozen steps
    assert b.transform("exponential") == (1.0, 0, 0)  # w mV == w pA, delay d
    assert not plan.resettable_in_place  # synaptic currents are not settable in NEST


def test_mixed_population_uses_a_fast_receptor_for_delta_inputs():
    net = materialise(tiny(), 1)
    plan = translate(net)
    b = plan.by_name["b"]
    assert b.model == "iaf_psc_exp_multisynapse"
    tau_syn, tau_fast = b.params["tau_syn"]
    assert tau_syn == 2.0 and tau_fast == pytest.approx(net.dt / 64)
    scale, extra, receptor = b.transform("delta")
    # The fast current, integrated over one step by NEST's propagator, gives P22 * w.
    tau_m, h = 10.0, net.dt
    p21 = tau_fast * tau_m / (tau_m * (tau_m - tau_fast)) * (math.exp(-h / tau_m)
                                                              - math.exp(-h / tau_fast))
    assert scale * p21 == pytest.approx(math.exp(-h / tau_m), rel=1e-14)
    assert (extra, receptor) == (0, 2)
    assert b.transform("exponential") == (1.0, 0, 1)
    assert any("last refractory step" in note for note in plan.notes)


@pytest.mark.parametrize("model, words", [
    (Izhikevich(), ["izhikevich", "threshold"]),
    (AdEx(), ["adex", "RK45", "forward-Euler"]),
    (ALIF(), ["alif", "threshold"]),
])
def test_unsupported_models_are_refused_with_the_reason(model, words):
    spec = tiny()
    pops = (replace(spec.populations[0], model=model),) + spec.populations[1:]
    with pytest.raises(UnsupportedSpec) as info:
        translate(materialise(replace(spec, populations=pops), 1))
    for word in words:
        assert word in str(info.value)
    assert "'a'" in str(info.value)


@pytest.mark.parametrize("rule", [STDP(), RewardModulatedSTDP()])
def test_plasticity_is_refused(rule):
    spec = tiny()
    projs = (replace(spec.projections[0], plasticity=rule),) + spec.projections[1:]
    with pytest.raises(UnsupportedSpec, match=f"plasticity '{rule.kind}'.*input_to_a"):
        translate(materialise(replace(spec, projections=projs), 1))


def test_float32_is_refused():
    spec = tiny()
    spec = replace(spec, simulation=replace(spec.simulation, dtype="float32"))
    with pytest.raises(UnsupportedSpec, match="float64 only"):
        translate(materialise(spec, 1))


def test_reset_too_close_to_threshold_is_refused():
    spec = tiny()
    hot = replace(spec.populations[0].model, i_offset=5000.0)  # one step from reset fires
    pops = (Population(name="a", size=40, model=hot),) + spec.populations[1:]
    projs = tuple(replace(p, synapse=Delta()) for p in spec.projections)
    with pytest.raises(UnsupportedSpec, match="reaches the threshold"):
        translate(materialise(replace(spec, populations=pops, projections=projs), 1))


def test_paper8_translates_exactly():
    spec = paper8()
    spec = replace(spec, simulation=replace(spec.simulation, dtype="float64"))
    plan = translate(materialise(spec, 1))
    assert {p.model for p in plan.populations} == {"iaf_psc_delta"}
    assert plan.notes == () and plan.resettable_in_place


@pytest.mark.parametrize("cls", [NestClosedLoop, NestUninterrupted])
def test_missing_nest_gives_backend_unavailable_with_install_command(cls, monkeypatch):
    monkeypatch.setitem(sys.modules, "nest", None)  # `import nest` raises ImportError
    with pytest.raises(BackendUnavailable, match=r"pip install -e '\.\[nest\]'"):
        cls().prepare(materialise(tiny(), 1), BackendOptions())


def test_several_receptors_map_to_multisynapse_ports_in_receptor_order():
    spec = load_spec_for_test("cuba_small")
    plan = translate(materialise(spec, 1))
    for pop in plan.populations:
        assert pop.model == "iaf_psc_exp_multisynapse" and pop.kind == "receptors"
        assert pop.params["tau_syn"] == [5.0, 10.0]
        assert pop.transform("exponential", 0) == (1.0, 0, 1)
        assert pop.transform("exponential", 1) == (1.0, 0, 2)
    assert plan.notes == ()  # no delta input: no deviation to state


def load_spec_for_test(name: str):
    from adapters.spec import load_spec

    return load_spec(name).overridden(dtype="float64")
