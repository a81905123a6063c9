"""The architecture as tests: Spark stands alone, one registry whose declared capabilities
are its classes', translation tables are the capabilities, nothing process-global."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from adapters import registry
from adapters.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("spark", "adapters", "benchmarks", "reports")


def _imported_packages(package: str) -> set[str]:
    """Top-level project packages imported anywhere in ``package`` (absolute imports)."""
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found |= {n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES}
    return found - {package}


def test_import_graph_points_one_way():
    """spark <- adapters <- benchmarks <- reports (reports may read benchmarks' results)."""
    graph = {p: _imported_packages(p) for p in PACKAGES}
    assert graph["spark"] == set(), graph
    assert graph["adapters"] <= {"spark"}, graph
    assert graph["benchmarks"] <= {"spark", "adapters", "reports"}, graph
    assert "benchmarks" not in graph["adapters"] and "reports" not in graph["adapters"]


def test_importing_spark_changes_no_jax_setting():
    code = ("import jax; before = jax.config.jax_enable_x64; import spark; "
            "import adapters.registry; print(before, jax.config.jax_enable_x64)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_registry_imports_no_simulator():
    code = ("import sys, adapters.registry; "
            "print(sorted(m for m in ('brian2', 'brian2cuda', 'nest') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", list(registry.BACKENDS))
def test_every_entry_declares_its_classes_capabilities(name):
    entry = registry.BACKENDS[name]
    cls = entry.load()
    assert cls.name == name
    assert cls.capabilities == entry.capabilities
    assert cls.comparison == entry.comparison in ("exact", "native")


def test_brian2_capabilities_are_its_translation_tables():
    from adapters.brian2.translate import MODEL_CODE, ON_PRE

    for name in ("brian2-cpp", "brian2-runtime", "brian2-cuda"):
        caps = registry.BACKENDS[name].capabilities
        assert caps.neuron_models == frozenset(MODEL_CODE)
        assert caps.synapses == frozenset(ON_PRE)


def test_spark_capabilities_are_its_translation_tables():
    from adapters.spark.translate import NEURON_MODELS, PLASTICITY, RECEPTORS

    caps = registry.BACKENDS["spark"].capabilities
    assert (caps.neuron_models, caps.synapses, caps.plasticity) == (
        frozenset(NEURON_MODELS), frozenset(RECEPTORS), frozenset(PLASTICITY))


def test_refusals_come_from_the_spec_before_anything_runs():
    spec = load_spec("tiny")
    nest = registry.BACKENDS["nest"].capabilities
    assert "float64 only" in nest.refusal(spec.overridden(dtype="float32"))
    assert nest.refusal(spec.overridden(dtype="float64")) is None
    assert "one thread" in registry.BACKENDS["spark-native"].capabilities.refusal(spec, threads=2)
    cuda = registry.BACKENDS["brian2-cuda"].capabilities
    assert "GPU" in cuda.refusal(spec, gpu=False)
    assert cuda.refusal(spec, gpu=True) is None
    assert cuda.closed_loop  # the resident binary (a device-side input buffer per chunk)
    assert not registry.BACKENDS["brian2-cuda-uninterrupted"].capabilities.closed_loop
