"""The per-backend memory model (issue 19): one worker's estimated peak per measured
backend, its refusal naming the backend, and its lines in ``spec show``. No timing and no
absolute memory figures are asserted: the table is a measurement that may be redone."""

from __future__ import annotations

import pytest

from adapters.registry import BACKENDS
from adapters.spec import SpecError, load_spec
from adapters.spec.estimate import (
    BACKEND_MEMORY,
    _upper_delay,
    backend_estimate,
    check_fits,
    estimate,
)
from adapters.spec.model import Constant, Normal, TruncatedNormal, Uniform
from benchmarks.cli import main

MEASURED = tuple(BACKEND_MEMORY)


def test_the_table_names_registered_backends_with_positive_figures():
    assert {"spark", "nest", "brian2-cpp"} <= set(MEASURED)
    for name, model in BACKEND_MEMORY.items():
        assert name in BACKENDS
        assert model.base_bytes > 0 and model.bytes_per_synapse > 0 and model.build_bytes >= 0


@pytest.mark.parametrize("name", MEASURED)
def test_the_per_backend_estimate_grows_with_synapses(name):
    small, big = load_spec("paper8"), load_spec("paper8x8")
    assert estimate(big).synapses > 7 * estimate(small).synapses
    e_small, e_big = backend_estimate(small, name), backend_estimate(big, name)
    model = BACKEND_MEMORY[name]
    assert model.base_bytes < e_small < e_big
    grown = e_big - e_small
    synapses = estimate(big).synapses - estimate(small).synapses
    assert grown >= model.bytes_per_synapse * synapses
    # the worker holds more than the shared arrays: interpreter, simulator, its own copy
    assert e_small > estimate(small).total


def test_a_backend_without_a_model_has_no_estimate():
    assert backend_estimate(load_spec("tiny"), "spark-gpu") is None
    assert backend_estimate(load_spec("tiny"), "no-such-backend") is None


def test_a_longer_run_costs_every_backend_more():
    spec = load_spec("paper8")
    for name in MEASURED:
        assert backend_estimate(spec, name, 10_000.0) > backend_estimate(spec, name, 100.0)


def test_check_fits_refuses_naming_the_backend_and_its_figure():
    spec = load_spec("paper8")
    est = estimate(spec)
    name = max(MEASURED, key=lambda b: est.backends[b])
    low = min(est.backends.values())
    limit = (est.total + low) / 2  # above the shared arrays, below every worker
    assert check_fits(spec, "paper8", limit).total == est.total  # no backend named: fits
    assert check_fits(spec, "paper8", limit, backends=("spark-gpu", None)).total == est.total
    with pytest.raises(SpecError) as info:
        check_fits(spec, "paper8", limit, backends=MEASURED)
    message = str(info.value)
    assert "\n" not in message
    assert f"a {name} worker needing ~" in message and "--max-memory" in message
    assert f"{BACKEND_MEMORY[name].bytes_per_synapse:.0f} B x" in message
    for other in MEASURED:
        if other != name:
            assert other in message.split("also over:")[1]
    check_fits(spec, "paper8", 2 * max(est.backends.values()), backends=MEASURED)


def test_the_shared_refusal_is_unchanged_when_backends_are_named():
    spec = load_spec("cuba_small")
    with pytest.raises(SpecError, match="biggest term is synapse arrays"):
        check_fits(spec, "cuba_small", limit_bytes=1024, backends=MEASURED)


def test_spec_show_prints_a_line_per_backend(capsys):
    assert main(["spec", "show", "paper8", "--no-synapses"]) == 0
    out = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("estimated memory:"))
    tail = out[start:]
    for name in MEASURED:
        assert any(line.startswith(f"  {name}: ~") for line in tail), name
    header = next(i for i, line in enumerate(tail) if "per backend" in line)
    assert all(line.startswith("  ") and ": ~" in line for line in tail[header + 1:])


@pytest.mark.parametrize("command", [["run", "paper8", "--out", "{tmp}"], ["validate", "paper8"]])
def test_run_and_validate_refuse_a_worker_over_max_memory(command, tmp_path, capsys):
    spec = load_spec("paper8")
    est = estimate(spec, 100.0)
    name = "brian2-cpp"
    limit = (est.total + est.backends[name]) / 2
    argv = [a.replace("{tmp}", str(tmp_path / "out")) for a in command]
    argv += ["--backends", name, "--duration", "100", "--max-memory", f"{limit / 2**20:.0f}M"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"a {name} worker needing" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_upper_delay_reads_each_distribution_explicitly():
    assert _upper_delay(Constant(value=1.5)) == 1.5
    assert _upper_delay(Uniform(low=1.0, high=2.5)) == 2.5
    assert _upper_delay(Normal(mean=2.0, std=0.5)) == 4.5
    assert _upper_delay(TruncatedNormal(mean=1.5, std=0.75, low=0.05)) == pytest.approx(5.25)
    assert _upper_delay(TruncatedNormal(mean=1.5, std=0.75, low=0.05, high=3.0)) == 3.0
