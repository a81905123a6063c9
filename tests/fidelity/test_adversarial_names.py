"""Valid but adversarial input on every backend: spec names that equal the names simulators
derive internally, and a build cache whose path holds a space and ``$(shell ...)``.

Brian2 names objects ``<group>_stateupdater``, ``<synapses>_pre``, ... and writes paths into
makefiles: neither spec names nor user paths may reach either (issue 22). The renamed
``tiny`` must run on every backend and give the spikes that Spark gives (NEST, which is not
spike-exact with Spark on ``tiny``, gives the spikes it gives with tiny's own names)."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.base import BackendOptions
from adapters.registry import load_backend
from adapters.spec import materialise
from adapters.spec.codec import from_document, spec_to_document
from adapters.spec.networks import tiny
from adapters.spec.validate import validate
from benchmarks.protocol import record_open_loop_spikes

pytestmark = pytest.mark.slow(
    reason="builds every backend on a network with hostile names and cache paths (~80 s)")

# tiny's names -> names that collide with Brian2's own (derived) names or ours.
POPULATIONS = {"a": "input", "b": "input_stateupdater"}
INPUT = "spark_net"
PROJECTIONS = {"input_to_a": "syn0000", "input_to_b": "syn0000_pre", "a_to_a": "pop0000_thresholder",
               "a_to_b": "spark_clock", "b_to_a": "mon0000"}
BACKENDS = ("spark", "spark-native", "brian2-numpy", "brian2-cpp-uninterrupted", "brian2-cpp",
            "brian2-cpp-relaunch", "nest")


def adversarial_tiny():
    doc = spec_to_document(tiny())
    old_input = doc["input"]["name"]
    rename = {**POPULATIONS, old_input: INPUT}
    for pop in doc["populations"]:
        pop["name"] = POPULATIONS[pop["name"]]
    doc["input"]["name"] = INPUT
    for proj in doc["projections"]:
        proj["name"] = PROJECTIONS[proj["name"]]
        proj["source"], proj["target"] = rename[proj["source"]], rename[proj["target"]]
    doc["readouts"] = [rename[r] if isinstance(r, str) else {**r, "population": rename[r["population"]]}
                       for r in doc["readouts"]]
    return validate(from_document(doc, "<adversarial tiny>"), source="<adversarial tiny>")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("adversarial")
    cache = root / "a space" / "mk$(shell touch${IFS}PWNED)$(shell touch PWNED2)"
    net = materialise(adversarial_tiny().overridden(dtype="float64", duration=200.0), 1)
    options = BackendOptions(cache_dir=cache)
    spikes = {name: record_open_loop_spikes(load_backend(name), net, options) for name in BACKENDS}
    plain = materialise(tiny().overridden(dtype="float64", duration=200.0), 1)
    nest_plain = record_open_loop_spikes(load_backend("nest"), plain, options)
    spikes["nest with tiny's names"] = {POPULATIONS[pop]: s for pop, s in nest_plain.items()}
    return root, cache, spikes


def test_the_names_are_valid_and_do_collide():
    spec = adversarial_tiny()
    assert [p.name for p in spec.populations] == list(POPULATIONS.values())
    assert {p.name for p in spec.projections} == set(PROJECTIONS.values())


def test_no_shell_code_from_the_cache_path_ran(runs):
    root, cache, _ = runs
    assert list(root.rglob("PWNED*")) == [], "a path in a makefile was expanded by make"
    assert (cache / "brian2").is_dir()  # the Brian2 builds did use that cache


@pytest.mark.parametrize("name", BACKENDS[1:])
def test_every_backend_gives_the_spikes_of_its_reference(runs, name):
    _, _, spikes = runs
    reference = spikes["nest with tiny's names" if name == "nest" else "spark"]
    assert sum(len(steps) for steps, _ in reference.values()) > 20  # the network is active
    assert set(spikes[name]) == set(reference)
    for pop, (steps, index) in reference.items():
        np.testing.assert_array_equal(spikes[name][pop][0], steps, err_msg=f"{name} {pop} steps")
        np.testing.assert_array_equal(spikes[name][pop][1], index, err_msg=f"{name} {pop} indices")


MARK = "zqxmark"


def marked_tiny():
    """tiny with the marker in every free-text and name field of the spec."""
    doc = spec_to_document(tiny())
    doc["name"], doc["description"] = f"{MARK}net", f"{MARK} description"
    rename = {pop["name"]: f"{MARK}{pop['name']}" for pop in doc["populations"]}
    rename[doc["input"]["name"]] = f"{MARK}in"
    for pop in doc["populations"]:
        pop["name"] = rename[pop["name"]]
    doc["input"]["name"] = rename[doc["input"]["name"]]
    for proj in doc["projections"]:
        proj["name"] = f"{MARK}{proj['name']}"
        proj["source"], proj["target"] = rename[proj["source"]], rename[proj["target"]]
    doc["readouts"] = [rename[r] for r in doc["readouts"]]
    return validate(from_document(doc, "<marked tiny>"), source="<marked tiny>")


@pytest.mark.parametrize("name", ["brian2-cpp-uninterrupted", "brian2-cpp-relaunch"])
def test_no_spec_text_reaches_generated_code(tmp_path, name):
    """Names and descriptions never reach a generated C++ project (its sources, headers,
    makefile and scripts): Brian2 objects are numbered, paths are relative."""
    net = materialise(marked_tiny().overridden(dtype="float64", duration=20.0), 1)
    backend = load_backend(name)()
    try:
        backend.prepare(net, BackendOptions(cache_dir=tmp_path))
    finally:
        backend.close()
    code = [p for p in (tmp_path / "brian2").rglob("*") if p.is_file()
            and (p.suffix in (".cpp", ".h", ".py", ".pyx", ".cu") or p.name == "makefile")]
    assert len(code) > 10, "no generated project found"
    leaked = [str(p.relative_to(tmp_path)) for p in code if MARK in p.read_text(errors="replace")]
    assert leaked == []


class _RecordingNest:
    """PyNEST with every module-level call's arguments recorded (as text)."""

    def __init__(self, nest, calls: list[str]):
        self._nest, self._calls = nest, calls

    def __getattr__(self, name):
        attr = getattr(self._nest, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self._calls.append(f"{name}{args!r}{kwargs!r}")
            return attr(*args, **kwargs)

        return call

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self._calls.append(f"{name} = {value!r}")
            setattr(self._nest, name, value)


def test_no_spec_text_reaches_nest(tmp_path, monkeypatch):
    """NEST is called with model names from our table and numbers only."""
    import adapters.nest.backends as nest_backends

    calls: list[str] = []
    real_import = nest_backends.import_nest
    monkeypatch.setattr(nest_backends, "import_nest",
                        lambda backend: _RecordingNest(real_import(backend), calls))
    net = materialise(marked_tiny().overridden(dtype="float64", duration=20.0), 1)
    spikes = record_open_loop_spikes(load_backend("nest"), net, BackendOptions(cache_dir=tmp_path))
    assert any(c.startswith("Create(") for c in calls) and any(c.startswith("Connect(") for c in calls)
    assert set(spikes) == {p.name for p in net.populations}
    assert [c for c in calls if MARK in c] == []
