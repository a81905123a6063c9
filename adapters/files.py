"""Atomic file writes: a reader never sees half a file, a crash never leaves one. And writes
inside a results folder that never follow a link out of it: a results folder is shared
between runs, people and cluster nodes, so a link planted in it must not make a sweep or a
report overwrite a file elsewhere."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


class UnsafePath(Exception):
    """A path inside a results folder is a link or not what it should be (a folder, a
    regular file): writing through it could change a file outside the folder."""


def real_folder(path: Path) -> Path:
    """``path`` created if missing and checked to be a folder itself, not a link to one:
    the atomic writes below put their files in the folder they are given."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file there: said below
        pass
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
        kind = "a link" if stat.S_ISLNK(mode) else "not a folder"
        raise UnsafePath(f"{path}: is {kind}; refusing to write through it (remove it, and "
                         "spark-bench makes a folder of its own there)")
    return path


def open_fresh(path: Path) -> int:
    """A file descriptor of a new, empty ``path``, opened for writing without following a
    link: whatever was at ``path`` (an old log, a link, a FIFO) is removed first, never
    written through. For files this code owns and rewrites whole (a unit's log)."""
    path = Path(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise UnsafePath(f"{path}: is a folder; expected a file spark-bench writes") from None
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)


def open_no_follow(path: Path, flags: int) -> int:
    """``os.open`` of a regular file that is not a link (``O_NOFOLLOW``, and a FIFO or a
    device is closed again unread): UnsafePath otherwise."""
    path = Path(path)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafePath(f"{path}: is a link; refusing to open it (remove it)") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(f"{path}: is not a regular file; refusing to use it (remove it)")
    os.set_blocking(fd, True)
    return fd

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


MARKER = ".spark-bench-output"
"""The file that says a folder was written whole by :func:`staged_folder`, so a later
run may replace it."""


def replaceable(out: Path, legacy: tuple[str, ...] = ()) -> bool:
    """Whether ``out`` is missing, empty, or a folder :func:`staged_folder` wrote (its
    marker, or one of the ``legacy`` file names that older versions wrote there)."""
    if not out.exists():
        return True
    names = {p.name for p in out.iterdir()}
    return not names or MARKER in names or bool(names & set(legacy))


@contextlib.contextmanager
def staged_folder(out: Path, legacy: tuple[str, ...] = ()) -> Iterator[Path]:
    """A new, empty folder beside ``out`` to write into; on success it takes ``out``'s
    place (the old ``out`` is removed), on any error it is removed and ``out`` is left as
    it was. So a report is all there or not there: a full disk or a crash mid-way never
    leaves a page whose figures are missing, nor half of the old report mixed with half of
    the new one. ``out`` must be missing, empty or one this function wrote (see
    :func:`replaceable`): a user's folder given by mistake is never replaced. Never a
    link (UnsafePath)."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UnsafePath(f"{out}: is {'a link' if out.is_symlink() else 'not a folder'}; "
                         "refusing to replace it (remove it, or give another --out)")
    if not replaceable(out, legacy):
        raise UnsafePath(f"{out}: is a folder spark-bench did not write; refusing to replace "
                         "it (give another --out, or empty it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    old = None
    try:
        os.chmod(staging, 0o777 & ~current_umask())
        yield staging
        (staging / MARKER).write_text("written whole by spark-bench; replaced whole by its "
                                      "next run\n")
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / out.name)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not out.exists():  # put the old one back
            os.replace(old / out.name, out)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def read_regular_file(path: Path, max_bytes: int = 256 << 20) -> bytes:
    """The bytes of ``path``, read only if it is a regular file and not a link (a FIFO
    would block a reader forever, a link could point anywhere); UnsafePath otherwise, or
    when it is larger than ``max_bytes``."""
    fd = open_no_follow(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as fh:
        if os.fstat(fh.fileno()).st_size > max_bytes:
            raise UnsafePath(f"{path}: larger than {max_bytes >> 20} MiB; not read")
        return fh.read(max_bytes + 1)
