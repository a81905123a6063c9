"""The one document model, rendered to Markdown and to HTML."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

from reports.document import (
    Code,
    Document,
    Image,
    Paragraph,
    Section,
    Sentences,
    Table,
    Terms,
    md_text,
    to_html,
    to_markdown,
)

PNG = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<script>alert('x')</script> & \"q\""


def _document(tmp_path: Path) -> Document:
    png = tmp_path / "figures" / "f.png"
    png.parent.mkdir()
    png.write_bytes(PNG)
    return Document(title=f"T {HOSTILE}", intro=(Paragraph(("see ", Code(HOSTILE), " now")),),
                    sections=(Section("Summary", (Sentences(("one.", HOSTILE)),), anchor="s"),
                              Section(HOSTILE, (Image(png, HOSTILE, HOSTILE, anchor="f"),)),
                              Section("Sub", (Table(pd.DataFrame({"a|b": [HOSTILE]})),), level=3),
                              Section("Empty", (Table(pd.DataFrame()),)),
                              Section("Terms", (Terms(((HOSTILE, "def"),)),))))


def test_html_escapes_every_text(tmp_path):
    page = to_html(_document(tmp_path))
    assert "<script>" not in page and "alert(&#x27;x&#x27;)" in page
    assert page.count("&lt;script&gt;") == 9  # title x2, code, sentence, h2, alt, caption, cell, dt
    assert '<h2 id="s">Summary</h2>' in page and "<h3>Sub</h3>" in page
    assert "<p><em>(none)</em></p>" in page and 'data:image/png;base64,' in page


def test_markdown_renders_the_same_sections(tmp_path):
    document = _document(tmp_path)
    md = to_markdown(document, tmp_path)
    assert "](figures/f.png)" in md and "_(none)_" in md and "| a\\|b |" in md
    assert f"`{HOSTILE}`" in md  # inside a code span, where a viewer shows it as text
    assert md.count("<script>") == 1 and "<" not in md.replace(f"`{HOSTILE}`", "")
    assert "- **&lt;script&gt;alert('x')&lt;/script&gt; &amp; \"q\"**: def" in md
    md_heads = re.findall(r"^#{2,3} (.*)$", md, flags=re.MULTILINE)
    assert [md_plain(h) for h in md_heads] == [s.title for s in document.sections]


def md_plain(text: str) -> str:
    """What a Markdown viewer shows for escaped inline text."""
    return html.unescape(re.sub(r"\\(.)", r"\1", text))


@pytest.mark.parametrize("text", [
    "[click](javascript:alert(1))", "<javascript:alert(1)>", "<img src=x onerror=alert(1)>",
    "# not a heading", "> not a quote", "- not a list", "1. not a list", "**not bold**",
    "`not code`", "a | b", "line\nbreak", "&amp; stays &amp;", "back\\slash",
])
def test_markdown_text_reads_as_itself(text):
    """Untrusted text (a row's reason, a provenance field) in report.md: no link, no HTML,
    no block or emphasis of its own; a viewer shows the text itself (line breaks as spaces)."""
    out = md_text(text)
    assert "<" not in out and not re.search(r"(?<!\\)\]\(", out) and "\n" not in out
    assert not re.match(r"\s*([#>+-]|\d+[.)])\s", out)
    assert md_plain(out) == text.replace("\n", " ")


def test_report_headings_agree(report):
    """Both report formats come from one document: the same headings, in the same order."""
    _, written = report
    md = re.findall(r"^#{1,3} (.*)$", written["md"].read_text(), flags=re.MULTILINE)
    page = written["html"].read_text()
    heads = re.findall(r"<h[1-3][^>]*>(.*?)</h[1-3]>", page)
    assert [md_plain(h) for h in md] == [html.unescape(h) for h in heads]
    assert "Summary" in md and "Provenance" in md and "Tables" in md
