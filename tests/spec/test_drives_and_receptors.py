"""External Poisson drives, conductance receptors and initial receptor values: the spec
says them, validation names the field, materialisation draws the drive counts the same way
every time (and independently of the run length), and backends that cannot honour them
refuse up front with the reason."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from adapters.registry import BACKENDS
from adapters.spec import SpecError, load_spec, materialise
from adapters.spec.codec import from_document, spec_to_document
from adapters.spec.inputs import drive_counts
from adapters.spec.model import Conductance, Constant, PoissonDrive
from adapters.spec.networks import tiny
from adapters.spec.validate import validate


def _doc_with_drive(**drive) -> dict:
    doc = spec_to_document(tiny())
    doc["drives"] = [{"name": "bg", "target": "a", "rate": 10.0, "n_sources": 50,
                      "weight": 0.5, **drive}]
    return doc


DRIVE_CASES = [
    ({"target": "nowhere"}, "drives[0].target", "a population"),
    ({"rate": -1.0}, "drives[0].rate", ">= 0"),
    ({"rate": 20000.0}, "drives[0].rate", "one spike per source and step"),
    ({"n_sources": 0}, "drives[0].n_sources", "[1, 65535]"),
    ({"n_sources": 70000}, "drives[0].n_sources", "[1, 65535]"),
    ({"name": "bad name"}, "drives[0].name", "[A-Za-z]"),
    ({"weight": "heavy"}, "drives[0].weight", "a number"),
    ({"synapse": {"kind": "exponential", "tau_syn": 10.0}}, "drives[0].synapse.tau_syn", "tau_m"),
    ({"synapse": {"kind": "conductance", "tau_syn": -1.0}}, "drives[0].synapse.tau_syn", "> 0"),
]


@pytest.mark.parametrize("change,path,word", DRIVE_CASES, ids=[c[1] + str(c[0])[:30] for c in DRIVE_CASES])
def test_malformed_drive_names_field(change, path, word):
    doc = _doc_with_drive(**copy.deepcopy(change))
    with pytest.raises(SpecError) as info:
        validate(from_document(doc, "bad.toml"), "bad.toml")
    message = str(info.value)
    assert f"bad.toml: {path}: " in message, message
    assert word in message, message


def test_duplicate_drive_name_refused():
    doc = _doc_with_drive()
    doc["drives"].append(dict(doc["drives"][0]))
    with pytest.raises(SpecError, match=r"drives\[1\]\.name: .*unique"):
        validate(from_document(doc, "dup.toml"), "dup.toml")


def test_conductance_refused_onto_euler_models():
    doc = spec_to_document(tiny())
    doc["populations"][1]["model"] = {"kind": "izhikevich"}
    doc["populations"][1]["initial"] = {}
    doc["projections"][3]["synapse"] = {"kind": "conductance", "tau_syn": 2.0, "e_rev": 0.0}
    with pytest.raises(SpecError, match=r"projections\[3\]\.synapse\.kind: .*lif, alif"):
        validate(from_document(doc, "c.toml"), "c.toml")


def test_initial_receptor_value_must_name_an_existing_receptor():
    doc = spec_to_document(tiny())
    doc["populations"][1]["initial"]["g0"] = 1.0  # b has one receptor (a_to_b, 2 ms)
    validate(from_document(doc, "ok.toml"), "ok.toml")
    doc["populations"][1]["initial"]["g1"] = 1.0
    with pytest.raises(SpecError, match=r"populations\[1\]\.initial\.g1: .*receptors: v, g0"):
        validate(from_document(doc, "g1.toml"), "g1.toml")


def test_drive_spec_round_trips_and_feeds_a_receptor():
    doc = _doc_with_drive(synapse={"kind": "conductance", "tau_syn": 3.0, "e_rev": 0.0},
                          target="b")
    spec = validate(from_document(doc, "d.toml"), "d.toml")
    assert from_document(spec_to_document(spec), "again.toml") == spec
    net = materialise(spec, 1)
    b = net.population("b")
    # a_to_b's exponential 2 ms receptor first (projections), then the drive's conductance.
    assert b.receptor_taus == (2.0, 3.0) and b.receptor_reversals == (None, 0.0)
    assert net.drives[0].receptor_index == 1
    assert set(b.initial) == {"v", "g0", "g1"} and not b.initial["g1"].any()


def test_drive_counts_are_pinned():
    spec = replace(tiny(), drives=(PoissonDrive(name="bg", target="a", rate=200.0,
                                                n_sources=300, weight=0.1),))
    counts = drive_counts(spec, 0, 2500)
    assert counts.shape == (2500, 40) and counts.dtype == np.uint16
    assert not counts[0].any()  # one step of delay: nothing arrives at step 0
    expected = 300 * 200.0 * 0.1e-3  # n * rate * dt per step
    assert counts[1:].mean() == pytest.approx(expected, rel=0.02)
    assert counts[1:].var() == pytest.approx(expected * (1 - 200.0 * 0.1e-3), rel=0.05)
    # Same seed, same counts; a shorter run is a prefix (blocks do not change the stream);
    # another input seed, other counts.
    np.testing.assert_array_equal(drive_counts(spec, 0, 2500), counts)
    np.testing.assert_array_equal(drive_counts(spec, 0, 1700), counts[:1700])
    other = replace(spec, simulation=replace(spec.simulation, input_seed=7))
    assert not np.array_equal(drive_counts(other, 0, 2500), counts)
    small = replace(spec, drives=(replace(spec.drives[0], n_sources=255),))
    assert drive_counts(small, 0, 10).dtype == np.uint8


def test_digest_covers_parameters_and_drives():
    """A changed parameter with unchanged arrays is another network (a cached build must
    not be reused for it), and so is a drive's run length."""
    spec = tiny()
    net = materialise(spec, 1)
    lif = spec.populations[0].model
    hotter = replace(spec, populations=(replace(spec.populations[0],
                                                model=replace(lif, tau_m=12.0)),
                                        *spec.populations[1:]))
    assert materialise(hotter, 1).digest() != net.digest()
    assert materialise(spec.overridden(duration=50.0), 1).digest() == net.digest()
    driven = replace(spec, drives=(PoissonDrive(name="bg", target="a", rate=5.0, n_sources=10,
                                                weight=0.1),))
    assert (materialise(driven.overridden(duration=50.0), 1).digest()
            != materialise(driven, 1).digest())


def _refusal(name: str, spec) -> str | None:
    return BACKENDS[name].capabilities.refusal(spec)


def test_backends_refuse_what_they_cannot_honour_with_the_reason():
    coba = load_spec("coba_small").overridden(dtype="float64")
    assert "RK45" in _refusal("nest", coba)
    brunel = load_spec("brunel2000_small").overridden(dtype="float64")
    assert _refusal("nest", brunel) is None
    assert "t restarts at 0" in _refusal("brian2-cpp-relaunch", brunel)
    for name in ("spark", "spark-native", "brian2-cpp", "brian2-runtime", "brian2-cpp-uninterrupted"):
        assert _refusal(name, brunel) is None, name
        assert _refusal(name, coba) is None, name
    cuba = load_spec("cuba_small").overridden(dtype="float64")
    exc = cuba.populations[0]
    given = replace(cuba, populations=(replace(exc, initial={**exc.initial, "g1": Constant(value=1.0)}),
                                       cuba.populations[1]))
    assert "initial receptor values" in _refusal("nest", given)


def test_builtin_standard_networks_are_valid_with_documented_sizes():
    sizes = {name: {p.name: p.size for p in load_spec(name).populations}
             for name in ("brunel2000", "brunel2000_a", "brunel2000_small", "coba", "coba_small")}
    assert sizes["brunel2000"] == {"exc": 10000, "inh": 2500}
    assert sizes["brunel2000_small"] == {"exc": 2000, "inh": 500}
    assert sizes["coba"] == {"exc": 3200, "inh": 800}
    brunel = load_spec("brunel2000")
    # nu_thr = theta / (J C_E tau_m) = 20 / (0.1 * 1000 * 20 ms) = 10 Hz; regime C: eta = 2.
    assert [d.rate for d in brunel.drives] == [20.0, 20.0]
    assert [d.n_sources for d in brunel.drives] == [1000, 1000]
    assert {p.synapse for p in load_spec("coba").projections} == {
        Conductance(tau_syn=5.0, e_rev=0.0), Conductance(tau_syn=10.0, e_rev=-80.0)}


def test_fixed_total_number_draws_exactly_n_with_replacement():
    from adapters.spec.model import FixedTotalNumber

    rng = np.random.Generator(np.random.PCG64(3))
    pre, post = FixedTotalNumber(n=5000).connect(10, 20, True, rng)
    assert pre.size == post.size == 5000 and pre.dtype == np.int32
    assert (np.diff(pre) >= 0).all()  # sorted by (pre, post)
    pairs = pre.astype(np.int64) * 20 + post
    assert np.unique(pairs).size < 5000  # multapses: 5000 draws over 200 pairs
    assert (pre == post).any()  # autapses allowed
    assert set(np.unique(pre)) == set(range(10)) and set(np.unique(post)) == set(range(20))


def test_microcircuit_matches_the_published_counts():
    """Full size: 77,169 neurons and Q = ln(1-C)/ln(1-1/(N_pre N_post)) synapses per
    projection, 298,880,968 in all (the NEST example's formula); PSC 87.81 pA is 3.512 mV
    in the spec's current units; the DC background equals 8 Hz x K_ext x PSC x tau_syn."""
    from adapters.spec.networks import microcircuit_network

    full = load_spec("microcircuit")
    assert sum(p.size for p in full.populations) == 77169
    assert sum(p.connector.n for p in full.projections) == 298_880_968
    l4e_to_l23e = next(p for p in full.projections if p.name == "L4E_to_L23E")
    l23e_to_l23e = next(p for p in full.projections if p.name == "L23E_to_L23E")
    assert l23e_to_l23e.weight.mean == pytest.approx(87.81 * 10 / 250, rel=1e-3)
    assert l4e_to_l23e.weight.mean == pytest.approx(2 * l23e_to_l23e.weight.mean)
    inh = next(p for p in full.projections if p.name == "L23I_to_L23E")
    assert inh.weight.mean == pytest.approx(-4 * l23e_to_l23e.weight.mean) and inh.weight.high == 0
    assert all(p.model.i_offset == 0 for p in full.populations)  # Poisson background, scale 1
    assert [d.n_sources for d in full.drives] == [1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100]
    dc = microcircuit_network("m", background="dc")
    assert not dc.drives
    assert dc.populations[0].model.i_offset == pytest.approx(562.0 * 10 / 250, rel=1e-3)
    small = load_spec("microcircuit_small")
    assert sum(p.size for p in small.populations) == 7717
    assert all(p.model.i_offset > 0 for p in small.populations)  # lost input compensated
    assert small.drives[0].weight == pytest.approx(l23e_to_l23e.weight.mean * 10 ** 0.5)
