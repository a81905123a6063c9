"""A resume refused after a spec edit names the fields that changed (issue 42, point 3)."""

from __future__ import annotations

import json
from dataclasses import replace

from adapters.spec import dumps_json
from adapters.spec.networks import tiny
from benchmarks.spec_changes import describe, spec_changes
from benchmarks.sweep import SweepConfig, _difference


def _as_recorded(spec) -> dict:
    return json.loads(dumps_json(spec))


def test_an_edited_parameter_is_named_by_its_population():
    spec = tiny()
    a = spec.populations[0]
    edited = replace(spec, populations=(replace(a, model=replace(a.model, tau_m=12.5)),
                                        *spec.populations[1:]))
    assert spec_changes(_as_recorded(spec), _as_recorded(edited)) == [
        "populations[a].model.tau_m: 10.0 there, 12.5 now"]


def test_an_added_population_is_one_change_not_a_shift_of_every_later_one():
    spec = tiny()
    extra = replace(spec.populations[0], name="c")
    edited = replace(spec, populations=(extra, *spec.populations))
    changes = spec_changes(_as_recorded(spec), _as_recorded(edited))
    assert len(changes) == 1 and changes[0].startswith("populations[c]: added (")


def test_unnamed_lists_and_long_or_hostile_values():
    assert spec_changes({"k": [1, 2]}, {"k": [1, 3]}) == ["k[1]: 2 there, 3 now"]
    assert spec_changes({"k": [1, 2]}, {"k": [1]}) == ["k: 2 item(s) there, 1 now"]
    assert spec_changes({"x": 1}, {"x": 1.0}) == ["x: 1 there, 1.0 now"]  # int became float
    said = describe({"d": "\x1b[2J" + "y" * 100}, {"d": "z"})
    assert "\x1b" not in said and "..." in said and len(said) < 120
    many = describe({f"f{i}": i for i in range(10)}, {f"f{i}": -i - 1 for i in range(10)})
    assert many.endswith("; and 4 more") and many.count(" there, ") == 6
    assert describe({"a": 1}, {"a": 1}) == "no field differs"


def test_the_refusal_names_the_field_not_two_digests():
    spec = tiny()
    edited = replace(spec, simulation=replace(spec.simulation, seed=spec.simulation.seed + 1))
    config = SweepConfig(network="tiny", backends=("spark",), timesteps=(10,), instances=1,
                         runs=1, dtype="float64", threads=1, duration_ms=50.0,
                         cell_budget_s=10.0, unit_timeout_s=60.0, profile="full")
    identity = config.identity()
    recorded = {**identity, "spec_digest": "0" * 16, "spec": _as_recorded(spec)}
    said = _difference(recorded, identity, edited)
    assert said == (f"spec fields simulation.seed: {spec.simulation.seed} there, "
                    f"{spec.simulation.seed + 1} now")
    older = {k: v for k, v in recorded.items() if k != "spec"}  # provenance before the spec
    assert _difference(older, identity, edited).startswith("spec content digest 0000")
