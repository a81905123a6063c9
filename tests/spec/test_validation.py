"""Every malformed spec is caught before anything runs, with the field path in the message."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.spec import SpecError, dumps_json, load_spec, read_spec_file
from adapters.spec.codec import from_document, spec_to_document
from adapters.spec.networks import tiny
from adapters.spec.validate import validate


def _doc() -> dict:
    return spec_to_document(tiny())


def _set(doc: dict, dotted: str, value: object) -> None:
    keys = dotted.replace("[", ".").replace("]", "").split(".")
    target = doc
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value


class _Delete:
    """The field is removed (a stable repr: test ids must be the same in every process)."""

    def __repr__(self) -> str:
        return "<deleted>"


_DELETE = _Delete()

# (mutation path, value, path expected in the message, a word expected in the message)
CASES = [
    ("format_version", 2, "format_version", "1"),
    ("format_version", _DELETE, "format_version", "1"),
    ("populations.0.colour", "red", "populations[0].colour", "no such field"),
    ("populations.0.size", _DELETE, "populations[0].size", "required"),
    ("populations.0.size", "forty", "populations[0].size", "whole number"),
    ("populations.0.size", 0, "populations[0].size", ">= 1"),
    ("populations.0.size", -5, "populations[0].size", ">= 1"),
    ("populations.0.model.kind", "hodgkin_huxley", "populations[0].model.kind", "lif"),
    ("populations.0.model.tau_m", -1.0, "populations[0].model.tau_m", "> 0"),
    ("populations.0.model.v_thresh", -70.0, "populations[0].model.v_thresh", "v_reset"),
    ("populations.0.model.t_ref", 0.25, "populations[0].model.t_ref", "whole number of steps"),
    ("populations.0.name", "1a", "populations[0].name", "[A-Za-z]"),
    ("populations.0.name", "a;rm -rf", "populations[0].name", "[A-Za-z]"),
    ("populations.1.name", "a", "populations[1].name", "unique"),
    ("populations.0.initial.w", {"kind": "constant", "value": 0.0}, "populations[0].initial.w", "state variable"),
    ("populations.0.initial.v", {"kind": "uniform", "low": -50.0, "high": -65.0}, "populations[0].initial.v.high", ">= low"),
    ("simulation.dt", 0.0, "simulation.dt", "> 0"),
    ("simulation.dt", -0.1, "simulation.dt", "> 0"),
    ("simulation.duration", 100.05, "simulation.duration", "whole number of steps"),
    ("simulation.timesteps", [1, 7], "simulation.timesteps[1]", "divisor"),
    ("simulation.timesteps", [0], "simulation.timesteps[0]", "divisor"),
    ("simulation.dtype", "float16", "simulation.dtype", "float32"),
    ("simulation.seed", 1.5, "simulation.seed", "whole number"),
    ("projections.0.source", "nowhere", "projections[0].source", "population or the input"),
    ("projections.0.target", "input", "projections[0].target", "a population"),
    ("projections.0.delay", {"kind": "constant", "value": 0.05}, "projections[0].delay", "step"),
    ("projections.0.delay", 0.0, "projections[0].delay", "step"),
    ("projections.0.delay", {"kind": "constant", "value": 0.15}, "projections[0].delay", "whole number of steps"),
    ("projections.2.delay", {"kind": "uniform", "low": 0.0, "high": 0.3}, "projections[2].delay.low", ">= dt"),
    ("projections.0.connector", {"kind": "fixed_probability", "p": 1.5}, "projections[0].connector.p", "[0, 1]"),
    ("projections.0.connector", {"kind": "fixed_indegree", "n": 25}, "projections[0].connector.n", "in-degree"),
    ("projections.0.connector", {"kind": "one_to_one"}, "projections[0].connector", "equal source and target"),
    ("projections.0.connector", {"kind": "explicit", "pre": [0, 1], "post": [0]}, "projections[0].connector.post", "as many"),
    ("projections.0.connector", {"kind": "explicit", "pre": [0, 20], "post": [0, 1]}, "projections[0].connector.pre[1]", "[0, 20)"),
    ("projections.0.connector", {"kind": "sometimes"}, "projections[0].connector.kind", "fixed_probability"),
    ("projections.0.weight", "strong", "projections[0].weight", "a number or"),
    ("projections.0.weight", {"kind": "normal", "mean": 1.0, "std": -1.0}, "projections[0].weight.std", ">= 0"),
    ("projections.0.weight", float("nan"), "projections[0].weight", "finite"),
    ("projections.3.synapse", {"kind": "exponential", "tau_syn": 10.0}, "projections[3].synapse.tau_syn", "tau_m"),
    ("projections.3.synapse", {"kind": "exponential", "tau_syn": -2.0}, "projections[3].synapse.tau_syn", "> 0"),
    ("projections.0.plasticity", {"kind": "stdp", "w_min": 1.0, "w_max": 0.5}, "projections[0].plasticity.w_max", ">= w_min"),
    ("projections.1.name", "input_to_a", "projections[1].name", "unique"),
    ("input.rate", -1.0, "input.rate", ">= 0"),
    ("input.max_rate", 20000.0, "input.max_rate", "one spike per step"),
    ("input.name", "a", "input.name", "unique"),
    ("readouts", ["c"], "readouts[0]", "population name"),
]


@pytest.mark.parametrize("mutation,value,path,word", CASES,
                         ids=[f"{c[0]}={c[1]!r}"[:60] for c in CASES])
def test_malformed_spec_names_field(mutation, value, path, word):
    doc = _doc()
    _set(doc, mutation, value if value is _DELETE else copy.deepcopy(value))
    with pytest.raises(SpecError) as info:
        validate(from_document(doc, "bad.toml"), "bad.toml")
    message = str(info.value)
    assert message.startswith("bad.toml: "), message
    assert f" {path}: " in message, message
    assert word in message, message
    assert "\n" not in message


def test_valid_builtin_specs_pass():
    for name in ("tiny", "paper7", "paper8", "cuba", "cuba_small"):
        assert load_spec(name).name == name


def test_each_distinct_tau_syn_is_a_receptor_of_its_target():
    """Two exponential time constants into one population are two receptors (numbered in
    order of first appearance), a repeated one feeds the same receptor; the file form
    round-trips them unchanged."""
    from adapters.spec.materialise import materialise

    doc = _doc()
    doc["projections"][1]["synapse"] = {"kind": "exponential", "tau_syn": 2.0}  # input_to_b
    doc["projections"][3]["synapse"] = {"kind": "exponential", "tau_syn": 3.0}  # a_to_b
    spec = validate(from_document(doc, "two.toml"), "two.toml")
    assert from_document(spec_to_document(spec), "again.toml") == spec
    net = materialise(spec, 1)
    receptors = {p.name: p.receptor_taus for p in net.populations}
    index = {p.name: p.receptor_index for p in net.projections}
    taus = [p.spec.synapse.time_constant for p in net.projections if p.spec.target == "b"]
    expected = tuple(dict.fromkeys(t for t in taus if t is not None))
    assert receptors["b"] == expected == (2.0, 3.0), (receptors, taus)
    for proj in net.projections:
        tau = proj.spec.synapse.time_constant
        assert index[proj.name] == (None if tau is None else receptors[proj.spec.target].index(tau))


def test_syntax_error_names_file(tmp_path: Path):
    bad = tmp_path / "broken.toml"
    bad.write_text("name = [unclosed\n")
    with pytest.raises(SpecError, match=r"broken\.toml: <top level>: .*valid TOML"):
        read_spec_file(bad)


def test_wrong_extension_rejected(tmp_path: Path):
    path = tmp_path / "net.yaml"
    path.write_text("x: 1")
    with pytest.raises(SpecError, match=r"\.toml or \.json"):
        load_spec(path)


def test_cli_error_is_one_line_without_traceback(tmp_path: Path):
    doc = _doc()
    doc["projections"][0]["delay"] = {"kind": "constant", "value": 0.05}
    path = tmp_path / "net.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "spec", "validate", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "projections[0].delay" in lines[0] and str(path) in lines[0]


def test_cli_validate_accepts_exported_file(tmp_path: Path):
    path = tmp_path / "tiny.json"
    path.write_text(dumps_json(tiny()))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "spec", "validate", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout
