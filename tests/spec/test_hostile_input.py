"""Hostile and oversized input: one line and exit code 2, before anything is allocated, for
every entry point (the command line, spec files, the cost estimate)."""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from adapters.spec import SpecError, load_spec, materialise
from adapters.spec.codec import MAX_SPEC_BYTES, from_document, spec_to_document
from adapters.spec.estimate import check_fits, estimate
from adapters.spec.networks import tiny
from adapters.spec.validate import validate
from benchmarks.cli import main

ROOT = Path(__file__).resolve().parents[2]

REFUSED_COMMAND_LINES = [
    ["run", "--runs", "0"], ["run", "--instances", "0"], ["run", "--duration", "0"],
    ["run", "--duration", "-5"], ["run", "--cell-budget", "-1"], ["run", "--threads", "0"],
    ["run", "--threads", "999"], ["run", "--unit-timeout", "0"], ["run", "--runs", "two"],
    ["run", "--max-memory", "lots"], ["validate", "tiny", "--duration", "nan"],
    ["validate", "tiny", "--threads", "-1"], ["roofline", "tiny", "--runs", "0"],
    ["spec", "show", "paper8", "--max-memory", "1M"],
    # issue 22: tracebacks and silent acceptances found by a second hostile pass
    ["validate", "tiny", "--reference", "nosuch"], ["validate", "tiny", "--seed", "-1"],
    ["roofline", "tiny", "--reference", "nosuch"], ["run", "--backends", ""],
    ["run", "--backends", "spark,spark"], ["run", "--timesteps", "10,10"],
    ["run", "--timesteps", "0"], ["run", "--duration", "inf"], ["validate", "tiny", "--duration", "inf"],
]


@pytest.mark.parametrize("argv", REFUSED_COMMAND_LINES, ids=" ".join)
def test_bad_command_line_values_are_one_line_exit_2(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own refusal
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("spark-bench")


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("not a directory")
    assert main(["run", "tiny", "--out", str(target)]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    assert target.read_text() == "not a directory"


# Runs the CLI in a child and reports that child's own peak RSS on exit. Not getrusage: in
# the test process RUSAGE_CHILDREN is the maximum over every child pytest ever reaped (Brian2
# builds, NEST), and in the child RUSAGE_SELF keeps the high-water mark of the forked copy
# of pytest across exec. VmHWM is the high-water mark of the child's own address space.
_MEASURED_CLI = """
import runpy, sys
peak_file = sys.argv.pop(1)
try:
    runpy.run_module("benchmarks.cli", run_name="__main__")
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(peak_file, "w") as fh:
        fh.write(peak)
"""


def _spec_show(path: Path) -> tuple[int, str, int]:
    """``spark-bench spec show`` in a child process: exit code, stderr, the child's peak RSS
    (KiB)."""
    peak_file = path.with_suffix(".peak")
    proc = subprocess.run([sys.executable, "-c", _MEASURED_CLI, str(peak_file), "spec", "show",
                           str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stderr, int(peak_file.read_text())


def _write(tmp_path: Path, name: str, doc: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_unreadable_files_are_one_line(tmp_path):
    garbage = tmp_path / "garbage.toml"
    garbage.write_bytes(b"\xff\xfe\x00\x81 binary")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as fh:  # sparse: refused by its size, never read
        fh.truncate(MAX_SPEC_BYTES + 1)
    for path, word in ((garbage, "UTF-8"), (deep, "nesting"), (huge, "at most")):
        with pytest.raises(SpecError, match=word) as info:
            load_spec(path)
        assert "\n" not in str(info.value)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_resource_bombs_are_refused_before_allocating(tmp_path):
    """10^9 neurons, 10^12 expected synapses, a 10^6 ms delay: refused by validation or by
    the estimate, in a child process that stays small."""
    neurons = spec_to_document(tiny())
    neurons["populations"][0]["size"] = 10**9
    neurons["projections"] = []
    neurons["readouts"] = []
    synapses = spec_to_document(tiny())
    synapses["populations"][0]["size"] = synapses["populations"][1]["size"] = 10**6
    synapses["projections"][2]["connector"] = {"kind": "fixed_probability", "p": 1.0}
    delay = spec_to_document(tiny())
    delay["projections"][0]["delay"] = 1e6
    for name, doc, word in (("neurons", neurons, "memory"), ("synapses", synapses, "32-bit"),
                            ("delay", delay, "within the run")):
        code, err, peak_kib = _spec_show(_write(tmp_path, f"{name}.json", doc))
        assert code == 2, err
        assert "Traceback" not in err and word in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert peak_kib < 600 * 1024, f"{name}: {peak_kib} KiB before the refusal"


def test_estimate_tracks_what_materialisation_draws():
    spec = load_spec("cuba_small")
    est = estimate(spec)
    net = materialise(spec, 1)
    assert est.synapses == pytest.approx(net.n_synapses, rel=0.03)
    assert est.neurons == net.n_neurons
    with pytest.raises(SpecError, match="biggest term is synapse arrays"):
        check_fits(spec, "cuba_small", limit_bytes=1024)
    driven = estimate(load_spec("brunel2000"))
    assert driven.terms["drive counts"] == 2 * 12_500 * 10_000 * 2  # uint16, host + engine


def _mutations(rng: np.random.Generator, doc: dict) -> dict:
    """One random structural or value mutation of a spec document."""
    doc = copy.deepcopy(doc)
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                paths.append((node, key))
                walk(value, path + [key])
        elif isinstance(node, list):
            for i, value in enumerate(node):
                paths.append((node, i))
                walk(value, path + [i])

    walk(doc, [])
    parent, key = paths[rng.integers(len(paths))]
    choice = rng.integers(8)
    junk = [None, -1, 0, 10**12, -1e308, "x" * 1000, "a;rm -rf /", [], {}, True, 1e-300,
            "ünïcødé", {"kind": "nope"}, [[[[[]]]]], float("inf")]
    if choice == 0 and isinstance(parent, dict):
        del parent[key]
    elif choice == 1 and isinstance(parent, dict):
        parent[f"extra_{rng.integers(100)}"] = junk[rng.integers(len(junk))]
    else:
        parent[key] = junk[rng.integers(len(junk))]
    return doc


def test_fuzzed_specs_are_valid_or_refused_with_one_line():
    """400 random mutations of a valid spec: each one is accepted or refused with a
    one-line SpecError; nothing else escapes (no TypeError, KeyError, RecursionError)."""
    rng = np.random.default_rng(2026)
    base = spec_to_document(tiny())
    outcomes = {"valid": 0, "refused": 0}
    for _ in range(400):
        doc = _mutations(rng, base)
        try:
            validate(from_document(json.loads(json.dumps(doc, allow_nan=True)), "fuzz.json"),
                     "fuzz.json")
            outcomes["valid"] += 1
        except SpecError as err:
            assert "\n" not in str(err) and str(err).startswith("fuzz.json: ")
            outcomes["refused"] += 1
    assert outcomes["refused"] > 300, outcomes


def _tiny_document() -> dict:
    return spec_to_document(tiny())


def _mutated(path: str, value) -> dict:
    doc = _tiny_document()
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[last] = value
    return doc


HOSTILE_DOCUMENTS = {  # issue 22, point 8: each one line, exit 2
    "kind as a list": (_mutated("populations.0.model.kind", ["lif"]), "expected one of"),
    "kind as a table": (_mutated("populations.0.model.kind", {"a": 1}), "expected one of"),
    "401-digit number": (_mutated("populations.0.model.tau_m", 10**400), "a finite number"),
    "401-digit size": (_mutated("populations.0.size", 10**400), "32-bit"),
    "negative seed": (_mutated("simulation.seed", -1), "[0, 2^62)"),
    "negative input seed": (_mutated("simulation.input_seed", -1), "[0, 2^62)"),
    "format_version true": (_mutated("format_version", True), "format_version"),
    "format_version 1.0": (_mutated("format_version", 1.0), "format_version"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_DOCUMENTS))
def test_hostile_documents_are_one_line(case, tmp_path, capsys):
    doc, words = HOSTILE_DOCUMENTS[case]
    path = _write(tmp_path, "hostile.json", doc)
    assert main(["spec", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_duplicate_json_keys_are_refused(tmp_path):
    text = json.dumps(_tiny_document()).replace('"name": "tiny"', '"name": "tiny", "name": "x"', 1)
    path = tmp_path / "dup.json"
    path.write_text(text)
    with pytest.raises(SpecError, match="the key 'name' twice"):
        load_spec(path)


def test_a_spec_path_to_a_device_or_fifo_is_refused_unread(tmp_path):
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for path in (link, fifo):
        with pytest.raises(SpecError, match="not a regular file"):
            load_spec(path)


def test_export_onto_a_directory_is_refused(tmp_path, capsys):
    target = tmp_path / "net.toml"
    target.mkdir()
    assert main(["spec", "export", "tiny", "--out", str(target)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_report_names_a_malformed_results_file(tmp_path, capsys):
    cells = tmp_path / "res" / "cells"
    cells.mkdir(parents=True)
    (cells / "bad.csv").write_text('garbage,"\n')
    assert main(["report", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err
    assert "every cell or row was rejected" in err and "bad.csv: no checksum trailer" in err
    assert "Traceback" not in err


def test_descriptions_cannot_drive_the_terminal():
    from benchmarks.cli import describe_spec

    spec = replace(tiny(), description="net \x1b]0;owned\x07\x1b[2J \x9b done")
    text = describe_spec(spec, with_synapses=False)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "net \\x1b]0;owned\\x07\\x1b[2J \\x9b done" in text


def test_atomic_files_follow_the_umask(tmp_path):
    from adapters.files import write_text_atomic

    previous = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
