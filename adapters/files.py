"""Atomic file writes: a reader never sees half a file, a crash never leaves one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_OPEN_ARGS = {"w": {"encoding": "utf-8", "newline": ""}, "wb": {}}


def _atomic(path: Path, mode: str, data: str | bytes) -> None:
    """Write ``data`` (``mode`` "w" or "wb") to a temporary file beside ``path`` and rename
    it into place, so the old or the new file is all anyone ever sees."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **_OPEN_ARGS[mode]) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    _atomic(path, "w", text)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    _atomic(path, "wb", data)
