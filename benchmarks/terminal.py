"""Text from files a stranger may have written, made safe to print on a terminal."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``...): a stranger's spec
    description or lock file must not move the cursor, retitle or clear the terminal it is
    shown in."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)
