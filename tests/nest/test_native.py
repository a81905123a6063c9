"""The native comparison class in NEST (``nest-native``): NEST's standard models with the
spec's parameters as they are, ``poisson_generator`` drives, NEST's own STDP; and the
statistical fidelity rule that judges it (rates and ISI CV over seeds)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from adapters.base import UnsupportedSpec
from adapters.nest.native import translate_native
from adapters.registry import BACKENDS, NATIVE_BACKENDS
from adapters.spec import load_spec, materialise
from adapters.spec.model import ALIF
from benchmarks.native_fidelity import judge

ROOT = Path(__file__).resolve().parents[2]
IZHIKEVICH_STDP = ROOT / "benchmarks" / "networks" / "izhikevich_stdp.toml"


def _net(name, **overrides):
    spec = load_spec(str(name)).overridden(dtype="float64", **overrides)
    return materialise(spec)


def test_the_native_labels_are_registered_as_native():
    assert NATIVE_BACKENDS == ("nest-native", "brainpy", "brainpy-gpu")
    assert all(BACKENDS[n].comparison == "native" for n in NATIVE_BACKENDS)
    assert {e.comparison for n, e in BACKENDS.items() if n not in NATIVE_BACKENDS} == {"exact"}


def test_a_delta_lif_network_keeps_the_specs_parameters():
    """Brunel (2000): iaf_psc_delta with v_reset, t_ref, weights and delays unchanged (the
    exact class shifts delays by a step and rescales weights; a NEST user does not)."""
    net = _net("brunel2000_small")
    plan = translate_native(net)
    assert plan.poisson_drives and not plan.resettable_in_place
    for pop in net.populations:
        p = plan.by_name[pop.name]
        assert p.model == "iaf_psc_delta"
        assert p.params["V_reset"] == pop.model.v_reset and p.params["t_ref"] == pop.model.t_ref
        assert p.transform("delta", None) == (1.0, 0, 0)


def test_cuba_is_iaf_psc_exp_with_its_time_constants_chosen_by_sign():
    net = _net("cuba_small")
    plan = translate_native(net)
    exc = plan.by_name["exc"]
    assert exc.model == "iaf_psc_exp"
    assert (exc.params["tau_syn_ex"], exc.params["tau_syn_in"]) == (5.0, 10.0)
    for proj in net.projections:
        scale, extra, port = plan.synapse_transform(proj.spec.target, proj.receptor,
                                                    proj.receptor_index)
        assert (scale, extra, port) == (1.0, 0, 0)


def test_coba_is_iaf_cond_exp_with_inhibition_by_a_negative_weight():
    net = _net("coba_small")
    plan = translate_native(net)
    exc = plan.by_name["exc"]
    assert exc.model == "iaf_cond_exp"
    assert (exc.params["E_ex"], exc.params["E_in"], exc.params["g_L"]) == (0.0, -80.0, 1.0)
    assert dict(exc.state) == {"V_m": "v", "g_ex": "g0", "g_in": "g1"}
    inh_receptor = net.population("exc").receptor_reversals.index(-80.0)
    assert exc.transform("conductance", inh_receptor)[0] == -1.0
    assert exc.transform("conductance", 1 - inh_receptor)[0] == 1.0


def test_izhikevich_with_stdp_maps_to_izhikevich_and_additive_stdp_synapse():
    net = _net(IZHIKEVICH_STDP)
    plan = translate_native(net)
    assert plan.by_name["exc"].model == "izhikevich"
    assert dict(plan.by_name["exc"].state) == {"V_m": "v", "U_m": "u"}
    rule = next(p.spec.plasticity for p in net.projections if p.spec.plasticity)
    base, params = plan.synapse_models["exc_to_exc"]
    assert base == "stdp_synapse" and params["mu_plus"] == params["mu_minus"] == 0.0
    assert params["lambda"] * params["Wmax"] == pytest.approx(rule.a_plus)
    assert params["alpha"] * params["lambda"] * params["Wmax"] == pytest.approx(rule.a_minus)
    assert plan.by_name["exc"].params["tau_minus"] == rule.tau_post
    assert "tau_minus" not in plan.by_name["inh"].params


def test_what_nest_users_could_not_write_is_refused_with_the_reason():
    tiny = materialise(load_spec("tiny"))
    with pytest.raises(UnsupportedSpec, match="both delta and exponential"):
        translate_native(tiny)
    spec = load_spec("brunel2000_small").overridden(dtype="float64")
    alif = replace(spec, populations=tuple(replace(p, model=ALIF()) for p in spec.populations))
    with pytest.raises(UnsupportedSpec, match="NESTML"):
        translate_native(materialise(alif))
    stdp = load_spec(str(IZHIKEVICH_STDP))
    projections = tuple(replace(p, plasticity=replace(p.plasticity, w_min=0.1))
                        if p.plasticity else p for p in stdp.projections)
    with pytest.raises(UnsupportedSpec, match="clips weights at 0"):
        translate_native(materialise(replace(stdp, projections=projections)))


# --------------------------------------------------------------------------- the rule


def _runs(rates, cvs=None):
    return [{"p": (r, (cvs or [0.8] * len(rates))[i])} for i, r in enumerate(rates)]


def test_judge_passes_within_the_exact_spread_and_fails_outside():
    exact = _runs([10.0, 12.0, 11.0, 9.0, 13.0])  # sd 1.58
    near = judge(exact, _runs([12.5, 13.0, 14.0, 12.0, 13.5]))  # mean 13, diff 2 < 3.16
    far = judge(exact, _runs([16.0, 15.0, 17.0, 16.5, 15.5]))  # mean 16, diff 5
    assert [c.passed for c in near] == [True, True]
    assert [c.passed for c in far] == [False, True] and far[0].difference == pytest.approx(5.0)


def test_judge_floor_and_silent_populations():
    exact = _runs([10.0] * 3)  # no spread: the 5 % floor applies
    assert judge(exact, _runs([10.4] * 3))[0].passed
    assert not judge(exact, _runs([10.6] * 3))[0].passed
    silent = [{"p": (0.0, float("nan"))}] * 3
    assert [c.passed for c in judge(silent, silent)] == [True, True]
    assert not judge(silent, _runs([0.0] * 3))[1].passed  # an ISI CV in one class only
    with pytest.raises(ValueError, match="at least 2 seeds"):
        judge(exact[:1], exact[:1])


# --------------------------------------------------------------------------- with NEST


def test_nest_native_runs_closed_loop_repeatably_and_seeds_differ():
    pytest.importorskip("nest", reason="NEST is not installed (pip install -e '.[nest]')")
    from adapters.base import BackendOptions
    from adapters.nest.backends import NestNative
    from adapters.spec.inputs import InputStream
    from benchmarks.protocol import closed_loop_pass

    spec = load_spec(str(IZHIKEVICH_STDP)).overridden(duration=100.0)
    counts = []
    for seed in (1, 1, 2):
        backend = NestNative()
        try:
            report = backend.prepare(materialise(spec, seed), BackendOptions())
            assert "izhikevich" in report.notes and "native class" in report.notes
            counts.append(closed_loop_pass(backend, InputStream(spec), 10, 100).counts)
            again = closed_loop_pass(backend, InputStream(spec), 10, 100).counts
            np.testing.assert_array_equal(again, counts[-1])  # reset: same generators' seed
        finally:
            backend.close()
    np.testing.assert_array_equal(counts[0], counts[1])
    assert counts[0].sum() > 0 and not np.array_equal(counts[0], counts[2])


@pytest.mark.slow(reason="5 instances of a network in two simulators (~30 s)")
def test_validate_native_passes_brunel_and_names_each_statistic(capsys):
    pytest.importorskip("nest", reason="NEST is not installed (pip install -e '.[nest]')")
    from benchmarks.cli import main

    code = main(["validate-native", "brunel2000_small", "--backends", "nest-native",
                 "--dtype", "float64", "--duration", "200", "--seeds", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("PASS") == 4 and "4 of 4 statistics pass" in out


def test_validate_native_refuses_one_seed_and_a_native_reference(capsys):
    from benchmarks.cli import main

    assert main(["validate-native", "brunel2000_small", "--seeds", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert main(["validate-native", "brunel2000_small", "--reference", "nest-native"]) == 2
    assert "not an exact-class backend" in capsys.readouterr().err
