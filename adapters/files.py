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
        # mkstemp creates 0600; give the file the mode open() would have (0666 - umask).
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, mode, **_OPEN_ARGS[mode]) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask; read from /proc on Linux (``os.umask`` can only read it by
    setting it, which is not thread-safe)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    _atomic(path, "w", text)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    _atomic(path, "wb", data)
