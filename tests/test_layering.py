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


LAYER_MODULES = {
    # layer name (as the layout page's line names it) -> module prefixes; a module belongs
    # to the layer of its longest matching prefix
    "engine": ("spark",),
    "spec": ("adapters.spec", "adapters.files", "adapters.hardware"),
    "adapter": ("adapters",),
    "results": ("benchmarks.results", "benchmarks.provenance", "benchmarks.terminal"),
    "harness": ("benchmarks",),
    "report": ("reports",),
    "command": ("benchmarks.cli", "benchmarks.control.runs", "benchmarks.control.__main__"),
}


LAYOUT_PAGE = ROOT / "reports" / "docs" / "pages" / "layout.md"


def readme_layers() -> list[str]:
    """The import order as the layout page states it: ``engine <- spec <- ... <- command``."""
    for line in LAYOUT_PAGE.read_text().splitlines():
        if line.startswith("Imports point down: "):
            return [name.strip(" `.") for name in line.split(": ", 1)[1].split("<-")]
    raise AssertionError(f"{LAYOUT_PAGE}: no 'Imports point down: ...' line")


def project_modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the four packages: dotted name -> (file, is a package __init__)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (annotations only, never imported)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def import_graph(modules: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, at module level or inside a function
    (both run), resolving relative imports; ``from pkg import sub`` is an arrow to the
    submodule."""
    graph = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_only(tree)
        arrows: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    arrows.add(target)
        graph[name] = arrows
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(module: str, order: list[str]) -> int:
    best = max(((len(prefix), layer) for layer, prefixes in LAYER_MODULES.items()
                for prefix in prefixes
                if module == prefix or module.startswith(prefix + ".")), default=None)
    assert best is not None, f"{module}: in no layer of LAYER_MODULES"
    return order.index(best[1])


def upward_arrows(graph: dict[str, set[str]], order: list[str]) -> list[str]:
    return sorted(f"{source} -> {target} ({order[layer_of(source, order)]} imports "
                  f"{order[layer_of(target, order)]})"
                  for source, targets in graph.items() for target in targets
                  if layer_of(target, order) > layer_of(source, order))


def test_the_import_graph_has_no_cycle():
    """Module by module, function-level imports included (they run too)."""
    found = cycles(import_graph(project_modules()))
    assert found == [], "import cycles (break each with a leaf module): " + "; ".join(
        " <-> ".join(c) for c in found)


def test_imports_point_down_the_readmes_layers():
    """Each module imports only from its own layer or the ones below, in the order the
    layout page states (engine <- spec <- adapter <- results <- harness <- report <- command):
    results sit below both the harness and the report, and only the commands import the
    report."""
    order = readme_layers()
    assert sorted(order) == sorted(LAYER_MODULES), (order, list(LAYER_MODULES))
    assert upward_arrows(import_graph(project_modules()), order) == []


def test_the_layering_checks_fail_on_an_injected_back_import():
    graph = import_graph(project_modules())
    order = readme_layers()
    graph["spark.engine"] = graph["spark.engine"] | {"adapters.registry"}  # engine -> adapter
    graph["adapters.registry"] = graph["adapters.registry"] | {"spark.engine"}
    assert upward_arrows(graph, order) == [
        "spark.engine -> adapters.registry (engine imports adapter)"]
    assert ["adapters.registry", "spark.engine"] in [
        [m for m in c if m in ("adapters.registry", "spark.engine")] for c in cycles(graph)]


def test_importing_spark_changes_no_jax_setting():
    code = ("import jax; before = jax.config.jax_enable_x64; import spark; "
            "import adapters.registry; print(before, jax.config.jax_enable_x64)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_registry_imports_no_simulator():
    code = ("import sys, adapters.registry; "
            "print(sorted(m for m in ('brian2', 'brian2cuda', 'nest', 'brainpy', 'brainevent') if m in sys.modules))")
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


@pytest.mark.parametrize("name", list(registry.BACKENDS))
def test_every_backends_packages_are_in_the_provenance(name):
    """A backend's simulator versions are recorded, and a resume must match them, because its
    registry entry names them (no second list to forget)."""
    from benchmarks import provenance

    entry = registry.BACKENDS[name]
    assert entry.packages and set(entry.packages) <= provenance.result_packages()
    assert entry.summary and entry.comparison in ("exact", "native")
