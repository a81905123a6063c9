"""One document model for the report and the comparison, rendered to Markdown and to a
self-contained HTML page.

A page is built once as a :class:`Document` of :class:`Section` s holding blocks; the two
renderers below only translate blocks, so the two formats cannot say different things. In
HTML and in Markdown every text is escaped here (:func:`md_text`), so builders pass plain
strings, never markup: a row's reason or a provenance field is a stranger's text.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from adapters.files import write_text_atomic

# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Code:
    """Inline code inside a paragraph (a path, a directory name)."""

    text: str


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of plain text and inline code."""

    parts: tuple[str | Code, ...]


@dataclass(frozen=True)
class Sentences:
    """Short one-sentence paragraphs set close together (the summary)."""

    lines: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Table:
    """A table of strings; an empty frame reads "(none)". No equality: frames have none."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class Image:
    """A PNG figure with its caption: linked beside the Markdown, embedded in the HTML.
    ``svg``: the vector version, linked from the Markdown."""

    png: Path
    alt: str
    caption: str
    svg: Path | None = None
    anchor: str | None = None


@dataclass(frozen=True)
class Terms:
    """A key/value list (term: definition)."""

    items: tuple[tuple[str, str], ...]


Block = Paragraph | Sentences | Table | Image | Terms


@dataclass(frozen=True)
class Section:
    """A heading (``level`` 2 or 3, ``anchor`` its HTML id) and the blocks under it."""

    title: str
    blocks: tuple[Block, ...] = ()
    anchor: str | None = None
    level: int = 2


@dataclass(frozen=True)
class Document:
    """A page: title, blocks before the first section, sections in order."""

    title: str
    intro: tuple[Block, ...]
    sections: tuple[Section, ...]


# --------------------------------------------------------------------------- markdown


_MD_INLINE = re.compile(r"([\\`*|~]|\](?=[(\[:])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")
"""Characters with a meaning in Markdown, where they have it: ``_`` where it could
emphasise (an intraword one, as in ``per_sim_s``, never does in CommonMark), ``]`` where
it could close a link (before ``(``, ``[`` or ``:``); so "spark-gpu [gpu: H200]" and
"per_sim_s" stay as they read."""
_MD_LINE_START = re.compile(r"^(\s*)(\d*)([#>+=.)\[-])")
_HTML_CHARS = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md_text(text: object) -> str:
    """Plain text as Markdown that reads as that text and nothing else: Markdown's
    emphasis, link and code characters escaped, ``<``, ``>`` and ``&`` as HTML entities
    (no raw HTML, no ``<javascript:...>`` link), line breaks as spaces (no new block), a
    heading, quote or list marker at the start escaped. Row fields and provenance are a
    stranger's text; a Markdown viewer must render them, not obey them."""
    out = _MD_INLINE.sub(r"\\\1", " ".join(str(text).splitlines()))
    out = "".join(_HTML_CHARS.get(ch, ch) for ch in out)
    start = _MD_LINE_START.match(out)  # "# x", "> x", "- x", "1. x": a block marker
    if start and (start.group(2) == "") == (start.group(3) in "#>+=[-"):
        out = out[:start.end(2)] + "\\" + out[start.end(2):]
    return out


def _md_code(text: str) -> str:
    """Inline code that no backtick in ``text`` can close early (a longer fence)."""
    text = " ".join(text.splitlines())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_cell(text: object) -> str:
    return md_text(text)


def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_(none)_"
    head = "| " + " | ".join(_md_cell(c) for c in frame.columns) + " |"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_md_cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _md_inline(part: str | Code) -> str:
    return _md_code(part.text) if isinstance(part, Code) else md_text(part)


def _md_image(image: Image, base: Path) -> str:
    """Paths relative to ``base`` (where the Markdown file lies), so the page can move."""
    text = (f"![{md_text(image.alt)}]({image.png.relative_to(base).as_posix()})\n\n"
            f"*{md_text(image.caption)}*")
    if image.svg is not None:
        text += f" ([SVG]({image.svg.relative_to(base).as_posix()}))"
    return text


def _md_block(block: Block, base: Path) -> str:
    match block:
        case Paragraph(parts):
            return "".join(_md_inline(p) for p in parts)
        case Sentences(lines):
            return "\n\n".join(md_text(line) for line in lines)
        case Table(frame):
            return markdown_table(frame)
        case Image():
            return _md_image(block, base)
        case Terms(items):
            return "\n".join(f"- **{md_text(term)}**: {md_text(text)}" for term, text in items)
    raise TypeError(f"not a report block: {block!r}")


def to_markdown(document: Document, base: Path) -> str:
    """The page as Markdown; figure links relative to ``base``."""
    chunks = [f"# {md_text(document.title)}", *(_md_block(b, base) for b in document.intro)]
    for section in document.sections:
        chunks.append(f"{'#' * section.level} {md_text(section.title)}")
        chunks += [_md_block(b, base) for b in section.blocks]
    return "\n\n".join(chunks) + "\n"


# --------------------------------------------------------------------------- html

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1150px;margin:2em auto;
padding:0 1em;color:#111;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.86em;margin:.6em 0}
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.88em;color:#333}.summary p{margin:.35em 0}
dl dt{font-weight:600;margin-top:.4em}dl dd{margin-left:1.2em}
code{font-size:.92em}
"""


def _looks_numeric(text: str) -> bool:
    return bool(text) and text.replace(",", "").replace(".", "").replace("-", "").replace(
        "e+", "").replace("e", "").isdigit()


def html_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p><em>(none)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            text = str(v)
            cls = ' class="num"' if _looks_numeric(text) else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _id(anchor: str | None) -> str:
    return "" if anchor is None else f' id="{html.escape(anchor)}"'


def _html_inline(part: str | Code) -> str:
    if isinstance(part, Code):
        return f"<code>{html.escape(part.text)}</code>"
    return html.escape(part)


def _html_image(image: Image) -> str:
    """The PNG embedded as base64, so the page is one self-contained file."""
    data = base64.b64encode(image.png.read_bytes()).decode("ascii")
    return (f'<figure{_id(image.anchor)}><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(image.alt)}"><figcaption>{html.escape(image.caption)}'
            "</figcaption></figure>")


def _html_block(block: Block) -> str:
    match block:
        case Paragraph(parts):
            return "<p>" + "".join(_html_inline(p) for p in parts) + "</p>"
        case Sentences(lines):
            paras = "\n".join(f"<p>{html.escape(line)}</p>" for line in lines)
            return f'<div class="summary">\n{paras}\n</div>'
        case Table(frame):
            return html_table(frame)
        case Image():
            return _html_image(block)
        case Terms(items):
            rows = "\n".join(f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>"
                             for term, text in items)
            return f"<dl>\n{rows}\n</dl>"
    raise TypeError(f"not a report block: {block!r}")


def to_html(document: Document) -> str:
    """The page as one self-contained HTML file (styles inline, figures embedded)."""
    title = html.escape(document.title)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{title}</title><style>{CSS}</style></head><body>", f"<h1>{title}</h1>"]
    out += [_html_block(b) for b in document.intro]
    for section in document.sections:
        tag = f"h{section.level}"
        out.append(f"<{tag}{_id(section.anchor)}>{html.escape(section.title)}</{tag}>")
        out += [_html_block(b) for b in section.blocks]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- writing

FORMATS = ("html", "md")


def write_document(document: Document, out_dir: Path, stem: str,
                   formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """Write ``stem``.md and/or ``stem``.html into ``out_dir``; return {format: path}."""
    written: dict[str, Path] = {}
    if "md" in formats:
        written["md"] = out_dir / f"{stem}.md"
        write_text_atomic(written["md"], to_markdown(document, out_dir))
    if "html" in formats:
        written["html"] = out_dir / f"{stem}.html"
        write_text_atomic(written["html"], to_html(document))
    return written
