"""One unit of a sweep in a worker process of its own: started, watched, ended.

The same code runs a unit for the local executor (on this machine) and for the Ray executor
(on a cluster node, :mod:`benchmarks.remote_unit`). The worker leads a new process group, so
a unit timeout, Ctrl-C or SIGTERM ends the worker *and* everything it started (``make``,
``g++``, a resident binary) before the next unit starts; a worker whose parent dies is ended
by the kernel (``PR_SET_PDEATHSIG``, see :mod:`benchmarks.worker`).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from adapters.files import open_fresh

from .protocol import Unit
from .worker import EVENT_PREFIX, SWEEP_PID_ENV


@contextlib.contextmanager
def worker_tmpdir(unit: Unit, log_path: Path) -> Iterator[Path]:
    """A private TMPDIR for one worker inside the cache directory, removed when the worker
    is gone: a killed worker's temporary files (Brian2's ``brian_script_*.py`` and
    ``brian_debug_*.log``) never pile up in /tmp. Brian2 debug logs are kept beside the
    unit's log (``<unit>.brian_debug_*.log``): they explain a failed build."""
    root = Path(unit.cache_dir) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    remove_orphaned_tmpdirs(root)
    tmp = Path(tempfile.mkdtemp(prefix=f"worker-{os.getpid()}-", dir=root))
    try:
        yield tmp
    finally:
        for debug_log in tmp.glob("brian_debug_*.log"):
            shutil.move(str(debug_log), log_path.with_name(f"{log_path.stem}.{debug_log.name}"))
        shutil.rmtree(tmp, ignore_errors=True)


def remove_orphaned_tmpdirs(root: Path, legacy_age_s: float = 86400.0) -> list[Path]:
    """Remove the worker folders under ``root`` that a sweep killed with ``kill -9`` or a
    hang-up left behind (the ``finally`` above never ran): those named for a sweep process
    that no longer exists, and unnamed ones (written before names held the pid) older than
    ``legacy_age_s``. A folder of a sweep still running (another results folder, the same
    cache) is kept. Returns what was removed."""
    removed = []
    for folder in root.glob("worker-*"):
        owner = folder.name.split("-")[1]
        if owner.isdigit():
            orphaned = not _alive(int(owner))
        else:
            try:
                orphaned = time.time() - folder.lstat().st_mtime > legacy_age_s
            except OSError:
                continue
        if orphaned and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def worker_events(unit: Unit, out: Path, log_path: Path, timeout_s: float,
                  cwd: Path | None = None) -> Iterator[dict]:
    """Run ``unit`` in a worker process writing into ``out``; yield its progress events
    (``build``, ``cell``, ``unit``, ...) as they come, and last ``{"event": "exit",
    "timed_out": bool, "code": int, "seconds": float}``. On a timeout, an exception or an
    interrupt here the whole process group is ended and waited for."""
    payload = json.dumps(asdict(unit))
    with worker_tmpdir(unit, log_path) as tmp:
        start = time.monotonic()
        env = {**os.environ, SWEEP_PID_ENV: str(os.getpid()), "TMPDIR": str(tmp)}
        with os.fdopen(open_fresh(log_path), "w") as log:  # never through a link
            proc = subprocess.Popen([sys.executable, "-m", "benchmarks.worker", payload, str(out)],
                                    stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1,
                                    start_new_session=True, env=env, cwd=cwd)
            assert proc.stdout is not None
            timed_out = False
            try:
                for line in _lines_until(proc, start + timeout_s):
                    if line is None:
                        timed_out = True
                        break
                    if line.startswith(EVENT_PREFIX):
                        yield json.loads(line[len(EVENT_PREFIX):])
                    else:
                        log.write(line)
            except BaseException:  # Ctrl-C, SIGTERM, a closed generator, a bug here
                end_process_group(proc)
                raise
            if timed_out:
                end_process_group(proc)
            code = proc.wait()
            end_process_group(proc)  # anything the worker left behind when it exited
    yield {"event": "exit", "timed_out": timed_out, "code": code,
           "seconds": time.monotonic() - start}


def failure_reason(exit_event: dict, timeout_s: float, log_path: Path) -> str | None:
    """Why a worker's unit failed (its ``exit`` event), naming the log; None when it did not."""
    if exit_event["timed_out"]:
        return f"unit timed out after {timeout_s:g} s (log: {log_path})"
    if exit_event["code"] != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return f"worker exited with code {exit_event['code']}: {tail[0][:200]} (log: {log_path})"
    return None


def end_process_group(proc: subprocess.Popen, wait_s: float = 30.0) -> None:
    """SIGKILL the process group led by ``proc`` and wait (up to ``wait_s``) until no
    process of it is left, so that a build lock is free only once its compiler is gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    proc.wait()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)


def _lines_until(proc: subprocess.Popen, deadline: float):
    """Yield stdout lines; yield None once if the deadline passes first."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            yield None
            return
        if not sel.select(timeout=min(remaining, 1.0)):
            continue
        line = proc.stdout.readline()
        if not line:
            return
        yield line
