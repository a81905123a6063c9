"""The size study: one backend set measured on networks of several sizes (one results
directory per network, e.g. ``paper8`` and ``paper8x8``), drawn as cost vs network size.

A sweep owns one results directory and one network, so a size study reads several
directories; each directory's ``provenance.json`` says how many neurons its network has
(built-in networks are also known by name). The page holds the cost-vs-size figure, its
table, and each directory's provenance; nothing is pooled across networks but the figure's
x axis.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from adapters.files import write_text_atomic

from . import aggregate as agg
from . import figures
from .aggregate import ReportError
from .document import FORMATS, Document, Image, Paragraph, Section, Sentences, Table, write_document
from .render import FIGURE_CAPTIONS, provenance_items, sizes_display


def load_sizes(results_dirs: list[Path]) -> tuple[pd.DataFrame, list[dict]]:
    """The rows of every directory, each with its network's ``neurons``, and the
    provenances in the same order."""
    frames, provenances = [], []
    for path in results_dirs:
        frame, provenance = agg.load(Path(path))
        frames.append(agg.with_sizes(frame, provenance))
        provenances.append(provenance)
    return pd.concat(frames, ignore_index=True), provenances


def size_sentences(lines: pd.DataFrame) -> list[str]:
    """Per backend: its cost at the smallest and the largest size, and the growth factor
    against the growth in neurons."""
    out = []
    for backend, g in lines.groupby("backend", sort=True):
        g = g.sort_values("neurons")
        small, large = g.iloc[0], g.iloc[-1]
        where = ("open loop" if small["loop"] == "open" else f"k = {int(small['k']):,d}")
        out.append(f"{backend} [{small['device']}] ({where}): {agg.fmt(small['mean'])} s per "
                   f"simulated second at {int(small['neurons']):,d} neurons ({small['network']}), "
                   f"{agg.fmt(large['mean'])} s at {int(large['neurons']):,d} ({large['network']}): "
                   f"{agg.fmt(large['mean'] / small['mean'])}× the cost for "
                   f"{agg.fmt(large['neurons'] / small['neurons'])}× the neurons.")
    return out


def size_study(results_dirs: list[Path], out_dir: Path,
               formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """Write ``size-study.html``/``.md``, ``figures/size.*`` and ``tables/sizes.csv`` into
    ``out_dir`` from several results directories; return ``{name: path}``."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ReportError(f"report format(s) {', '.join(bad)}: expected html and/or md")
    out_dir = Path(out_dir)
    frame, provenances = load_sizes([Path(d) for d in results_dirs])
    stats = agg.size_stats(frame)
    lines = agg.size_lines(stats)
    if lines.empty:
        networks = ", ".join(sorted(set(frame["network"])))
        raise ReportError(f"no backend has loop results on more than one network size (networks: "
                          f"{networks or 'none'}; sizes known: {len(set(stats['neurons']))}); "
                          "a size study needs the same backend measured on networks of "
                          "different sizes, e.g. paper8 and paper8x8")
    written = {"sizes_csv": out_dir / "tables" / "sizes.csv"}
    write_text_atomic(written["sizes_csv"], stats.to_csv(index=False))
    cpus = sorted({str(p.get("cpu_model") or "unknown CPU") for p in provenances})
    gpus = sorted({str(p["gpu"]) for p in provenances if p.get("gpu")})
    subtitle = (f"{', '.join(sorted(set(frame['network'])))}; CPU {' / '.join(cpus)}"
                + (f"; GPU {' / '.join(gpus)}" if gpus else ""))
    paths = figures.size_figure(lines, subtitle, out_dir / "figures")
    written |= {f"size_{ext}": path for ext, path in paths.items()}
    caption, table = sizes_display(stats)
    sections = [
        Section("Summary", (Sentences(tuple(size_sentences(lines))),), anchor="summary"),
        Section("Figure", (Image(paths["png"], "size", FIGURE_CAPTIONS["size"], svg=paths["svg"],
                                 anchor="fig-size"),), anchor="figure"),
        Section(caption, (Table(table),), anchor="table-sizes"),
    ]
    for path, provenance in zip(results_dirs, provenances):
        items = pd.DataFrame(provenance_items(provenance), columns=["field", "value"])
        sections.append(Section(f"Provenance of {Path(path).name}", (Table(items),), level=3))
    intro = Paragraph(("Results: " + ", ".join(str(d) for d in results_dirs)
                       + ". Each network's rows come from its own sweep; only the x axis "
                         "joins them.",))
    document = Document(title="spark-bench size study: cost vs network size", intro=(intro,),
                        sections=tuple(sections))
    return written | write_document(document, out_dir, "size-study", formats)

