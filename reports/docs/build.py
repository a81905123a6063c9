"""Build the documentation site: ``python -m reports.docs.build [--out DIR]`` (``make docs``).

The hand-written pages are in ``reports/docs/pages/``. Everything else is generated at each
build, so the site never drifts from the code it documents:

* ``spec-reference.md`` from the spec types' docstrings and fields (``adapters.spec.model``);
* ``backends/index.md`` from the backend registry (every label, its class, what it runs);
* one page per simulator family from the adapters' own notes (``adapters/*/NOTES.md``,
  ``spark/native/NOTES.md``): how its experts run the workload, what we do, what we measured;
* ``records.md``: the measurement records in ``reports/records/``, each with its title.

MkDocs builds it with ``--strict``, so a broken link between pages or a page missing from the
navigation fails the build (CI runs ``make docs``).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import shutil
import subprocess
import sys
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = Path(__file__).resolve().parent / "pages"
NOTES = {  # generated page -> source
    "backends/spark.md": ROOT / "spark" / "native" / "NOTES.md",
    "backends/brian2.md": ROOT / "adapters" / "brian2" / "NOTES.md",
    "backends/nest.md": ROOT / "adapters" / "nest" / "NOTES.md",
    "backends/brainpy.md": ROOT / "adapters" / "brainpy" / "NOTES.md",
}
HAND_WRITTEN = ("index.md", "cli.md", "spec.md", "measurement.md", "spark-kernels.md",
                "spark.md", "gpu.md", "cartpole.md", "regression.md", "layout.md",
                "development.md")


def spec_reference() -> str:
    """Every spec type: its docstring and its fields (name, type, default)."""
    import adapters.spec.model as model

    types = [obj for obj in vars(model).values()
             if inspect.isclass(obj) and dataclasses.is_dataclass(obj)
             and obj.__module__ == model.__name__]
    out = ["# Spec reference", "",
           "Generated from `adapters/spec/model.py` at each docs build.", "",
           _plain(model.__doc__ or ""), ""]
    hints_ns = vars(model)
    for cls in types:
        out += [f"## {cls.__name__}", "", _plain(inspect.getdoc(cls) or ""), ""]
        kind = getattr(cls, "kind", None)
        if isinstance(kind, str):
            out += [f"`kind = \"{kind}\"`", ""]
        fields = dataclasses.fields(cls)
        if fields:
            hints = typing.get_type_hints(cls, globalns=hints_ns)
            out += ["| field | type | default |", "|---|---|---|"]
            for f in fields:
                out.append(f"| `{f.name}` | `{_type_name(hints.get(f.name, f.type))}` | "
                           f"{_default(f)} |")
            out.append("")
    return "\n".join(out) + "\n"


def _type_name(hint) -> str:
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
    return (text or str(hint).replace("typing.", "").replace("adapters.spec.model.", "")
            ).replace("|", "\\|")


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return f"`{f.default!r}`".replace("|", "\\|")
    if f.default_factory is not dataclasses.MISSING:
        return f"`{f.default_factory()!r}`".replace("|", "\\|")
    return "required"


def _plain(docstring: str) -> str:
    """A docstring as Markdown: reST's double backticks as code, and its definition lists
    (a term, then its text indented) as a bold term over its text (indented text would
    read as a code block)."""
    lines = docstring.replace("``", "`").splitlines()
    out = []
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and not line.startswith(" ") and following.startswith("    "):
            out.append(f"**{line.strip()}**\n")
        else:
            out.append(line[4:] if line.startswith("    ") else line)
    return "\n".join(out)


def backends_page() -> str:
    from adapters.registry import BACKENDS, DEFAULT_BACKENDS, QUICK_BACKENDS

    out = ["# Backends", "",
           "Generated from `adapters/registry.py`. **exact**: the spec's pinned semantics on "
           "shared input and drive spikes, spike-identical in float64; **native**: the "
           "simulator's own models, integrators and generators, judged statistically.", "",
           "| label | class | GPU | default sweep | quick | what it runs |",
           "|---|---|---|---|---|---|"]
    for name, entry in BACKENDS.items():
        out.append(f"| `{name}` | {entry.comparison} | "
                   f"{'yes' if entry.capabilities.needs_gpu else ''} | "
                   f"{'yes' if name in DEFAULT_BACKENDS else ''} | "
                   f"{'yes' if name in QUICK_BACKENDS else ''} | {entry.summary} |")
    out += ["", "How each simulator's own users run these workloads, what we do, and what it "
            "costs: " + ", ".join(f"[{Path(p).stem}]({Path(p).name})" for p in NOTES) + "."]
    return "\n".join(out) + "\n"


def records_page() -> str:
    out = ["# Measurement records", "",
           "Dated folders under `reports/records/`, each with its machine and commands.", ""]
    for folder in sorted((ROOT / "reports" / "records").iterdir()):
        if not folder.is_dir():
            continue
        docs = sorted(folder.glob("*.md"))
        title = next((line[2:].strip() for doc in docs for line in doc.read_text().splitlines()
                      if line.startswith("# ")), "")
        files = ", ".join(f"`{p.name}`" for p in sorted(folder.iterdir()) if p.is_file())
        out.append(f"- **`{folder.name}/`**{': ' + title if title else ''} ({files})")
    return "\n".join(out) + "\n"


def assemble(src: Path) -> None:
    """Write the site's sources into ``src`` (emptied first)."""
    if src.exists():
        shutil.rmtree(src)
    (src / "docs" / "backends").mkdir(parents=True)
    docs = src / "docs"
    for name in HAND_WRITTEN:
        shutil.copy(PAGES / name, docs / name)
    for target, source in NOTES.items():
        (docs / target).write_text(source.read_text())
    (docs / "backends" / "index.md").write_text(backends_page())
    (docs / "spec-reference.md").write_text(spec_reference())
    (docs / "records.md").write_text(records_page())
    nav = ["index.md", "cli.md", {"The spec": ["spec.md", "spec-reference.md"]},
           {"Backends": ["backends/index.md", *NOTES]}, "measurement.md",
           {"Spark": ["spark.md", "spark-kernels.md"]}, "gpu.md", "cartpole.md",
           "regression.md", "records.md", "layout.md", "development.md"]
    lines = ["site_name: spark-bench", "docs_dir: docs", "use_directory_urls: false",
             "validation:", "  links:", "    not_found: warn", "    anchors: warn",
             "    unrecognized_links: warn", "  nav:", "    omitted_files: warn", "nav:"]
    lines += _nav_yaml(nav, 1)
    (src / "mkdocs.yml").write_text("\n".join(lines) + "\n")


def _nav_yaml(items, depth: int) -> list[str]:
    pad = "  " * depth
    out = []
    for item in items:
        if isinstance(item, dict):
            for title, children in item.items():
                out.append(f"{pad}- {title}:")
                out += _nav_yaml(children, depth + 1)
        else:
            out.append(f"{pad}- {item}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build the documentation site (MkDocs)")
    parser.add_argument("--out", type=Path, default=ROOT / ".cache" / "docs" / "site")
    parser.add_argument("--src", type=Path, default=ROOT / ".cache" / "docs" / "src")
    args = parser.parse_args(argv)
    assemble(args.src)
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
                           "-f", str(args.src / "mkdocs.yml"), "-d", str(args.out.resolve())])
    if done.returncode == 0:
        print(f"docs: {args.out / 'index.html'}")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
