"""Reports from a spark-bench results directory: figures, tables, summary, comparison.

Public API (called by ``spark-bench report``):

* :func:`build_report` — one self-contained HTML page and/or a Markdown page (figures as
  PNG/SVG files beside it) plus the tables as CSV; returns the written paths.
* :func:`compare` — two result sets side by side (ratios per backend x k).
* :func:`summary_text` — the automatically written summary of a rows DataFrame.
* :func:`size_study` — several results directories (one network size each) as one
  cost-vs-network-size figure, table and page.

Errors a user can fix (an empty or missing results directory, a bad option) raise
:class:`ReportError` (``NoResults`` for a directory without rows) with a one-line message.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .aggregate import NoResults, ReportError
from .compare import compare
from .summary import summary_text as _summary_text

__all__ = ["NoResults", "ReportError", "build_report", "compare", "size_study", "summary_text"]


def build_report(results_dir: Path, out_dir: Path, formats: tuple[str, ...] = ("html", "md"),
                 normaliser: str = "uninterrupted") -> dict[str, Path]:
    """Write the report of ``results_dir`` into ``out_dir``; return ``{name: path}`` of every
    file written ("html", "md", "<figure>_png", "<figure>_svg", "<table>_csv").
    ``normaliser``: "uninterrupted" (brian2-cpp-uninterrupted loop time, the paper's) or
    "end-to-end" (its compile_cold + construct + loop)."""
    from .render import build

    return build(Path(results_dir), Path(out_dir), tuple(formats), normaliser)


def size_study(results_dirs: list[Path], out_dir: Path,
               formats: tuple[str, ...] = ("html", "md")) -> dict[str, Path]:
    """Write the size study of ``results_dirs`` (one network size each) into ``out_dir``:
    ``size-study.html``/``.md``, ``figures/size.*``, ``tables/sizes.csv``."""
    from .sizes import size_study as _size_study

    return _size_study([Path(d) for d in results_dirs], Path(out_dir), tuple(formats))


def summary_text(frame: pd.DataFrame, provenance: dict, normaliser: str = "uninterrupted") -> str:
    """The summary paragraph(s) computed from ``frame`` (rows as from ``load_rows``)."""
    return _summary_text(frame, provenance, normaliser)
