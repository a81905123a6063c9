"""The results format: a tidy table, one row per measurement, written atomically per cell.

A results directory holds ``provenance.json`` (one record per sweep: hardware, versions,
commit, command line) and ``cells/<cell_id>.csv`` (the rows of one finished cell, written
to a temporary file and renamed, so a crash never leaves half a cell). Reports and asv read
it with :func:`load_rows`.

Why every cell verifies itself: a results directory is shared (between runs, people and the
nodes of a cluster), and a truncated, edited or foreign cell must never count as measured.
Each cell ends in one trailer line, ``#spark-bench-cell sha256=<digest of the CSV above>
sweep=<sweep id>``. A resumed sweep re-measures a cell whose trailer is missing or wrong or
names another sweep (:func:`finished_cells`); a report names it as rejected, with the
reason, and counts none of its rows (:func:`load_rows`). Every row read is checked in one
place (:func:`row_problems`): known status and phase, finite positive timings, k in range,
no duplicates; a rejected row stays in the table with status ``rejected`` and the reason,
so every reader excludes it from the statistics and the report lists it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.files import real_folder, write_text_atomic

from . import provenance

PHASES = (
    "materialise",  # spec -> arrays, once per instance
    "compile_cold",  # code generation + compile with empty caches / fresh build dir
    "compile_warm",  # the same with caches / build dir reused
    "construct",  # network construction after compile (synapse creation, device upload)
    "warmup",  # the excluded first closed-loop pass (recorded, never averaged in)
    "loop",  # one timed closed-loop run over the (possibly truncated) duration
    "teardown",
)

STATUSES = ("ok", "truncated", "skipped", "failed")
REJECTED = "rejected"
"""The status a *reader* gives a row or cell that failed its checks (never written)."""
LOOPS = ("closed", "open", "")
MAX_K = 10 ** 9
"""The largest k a row may hold (more steps per chunk than any run has)."""


@dataclass(frozen=True, kw_only=True)
class ResultRow:
    """One measurement. ``seconds`` is wall-clock; for ``loop`` rows ``sim_seconds`` is the
    biological time simulated and ``rtf = seconds / sim_seconds`` (< 1 is faster than
    real time). Fidelity columns hold the instance's agreement with ``fidelity_reference``
    (empty when not measured)."""

    sweep_id: str
    network: str
    instance: int  # instance seed
    backend: str  # the mode label, e.g. "spark", "brian2-cpp", "brian2-cpp-uninterrupted"
    comparison: str = "exact"  # the backend's comparison class: "exact" or "native"
    loop: str  # "closed" (input every k steps, output read back) or "open" (uninterrupted)
    k: int  # execution timesteps per chunk (n_steps for open loop)
    run: int  # repetition index (0-based); -1 for per-build phases
    dtype: str
    threads: int
    phase: str  # one of PHASES
    seconds: float
    sim_seconds: float = float("nan")
    rtf: float = float("nan")
    n_chunks: int = 0
    peak_rss_mb: float = float("nan")
    status: str = "ok"  # one of STATUSES
    reason: str = ""
    cache_hit: str = ""  # "yes" / "no" / "" for compile rows
    fidelity_reference: str = ""
    fidelity_exact_window_ms: float = float("nan")
    fidelity_identical_fraction: float = float("nan")
    fidelity_rate_rel_error_max: float = float("nan")
    fidelity_distance: float = float("nan")
    fidelity_distance_control: float = float("nan")
    rates_hz: str = ""  # loop rows: readout firing rates, "pop=Hz;pop=Hz" (readout order)
    # closed-loop passes: percentiles of the pass's per-chunk wall seconds (NaN open loop)
    latency_p50_s: float = float("nan")
    latency_p90_s: float = float("nan")
    latency_p99_s: float = float("nan")
    latency_max_s: float = float("nan")
    # open-loop passes of a backend with its own loop timer (Brian2's run timer in the
    # brian2cuda binary): that timer's seconds, beside the wall clock in ``seconds``
    simulator_loop_s: float = float("nan")
    # where the backend ran (benchmarks.provenance.device_fields; filled by write_cell when
    # left empty): "cpu" or "gpu: <model>", and for GPU rows the driver and CUDA version;
    # jax_device: the JAX device ("cpu:0", "cuda:0") when the writing process ran JAX
    device: str = ""
    gpu_model: str = ""
    gpu_driver: str = ""
    cuda_version: str = ""
    jax_device: str = ""
    machine: str = ""  # host name of the machine the row's backend ran on


COLUMNS = tuple(f.name for f in fields(ResultRow))
TEXT_COLUMNS = ("comparison", "reason", "cache_hit", "fidelity_reference", "rates_hz", "device", "gpu_model",
                "gpu_driver", "cuda_version", "jax_device", "machine")
"""Free-text columns: '' when empty, never NaN."""
OPTIONAL_COLUMNS = {"comparison": "exact", "rates_hz": "", "latency_p50_s": float("nan"), "latency_p90_s": float("nan"),
                    "latency_p99_s": float("nan"), "latency_max_s": float("nan"),
                    "simulator_loop_s": float("nan"),
                    **dict.fromkeys(provenance.ROW_FIELDS, "")}
"""Columns added after results directories already existed: filled in when absent."""


def format_rates(names: tuple[str, ...], rates: list[float]) -> str:
    """``exc=5.719;inh=5.630``: readout firing rates in Hz, readout order."""
    return ";".join(f"{name}={rate:.3f}" for name, rate in zip(names, rates))


def with_device(row: ResultRow) -> ResultRow:
    """``row`` with the device columns of its backend as this process sees it
    (:func:`benchmarks.provenance.device_fields`), unless ``device`` is already set."""
    if row.device:
        return row
    return replace(row, **provenance.device_fields(row.backend))


TRAILER = "#spark-bench-cell"
_TRAILER_RE = re.compile(r"#spark-bench-cell sha256=([0-9a-f]{64}) sweep=([A-Za-z0-9_.-]{1,64})\n?\Z")


def _digest(text: str) -> str:
    """The checksum of a cell's CSV text, line endings normalised (a copy through a text
    editor or ``read_text``/``write_text`` turns the csv module's CRLF into LF)."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def write_cell(results_dir: Path, cell_id: str, rows: list[ResultRow]) -> Path:
    """Write one cell's rows atomically: a reader (or a resumed sweep) sees the whole cell
    or none of it, ending in its trailer (see the module docstring). Rows without a
    ``device`` get this process's (:func:`with_device`): the worker that ran the backend
    writes its rows, so they say where it ran."""
    target = real_folder(Path(results_dir) / "cells") / f"{cell_id}.csv"
    sweeps = {row.sweep_id for row in rows}
    if len(sweeps) > 1:
        raise ValueError(f"cell {cell_id}: rows of {len(sweeps)} sweeps ({', '.join(sorted(sweeps))})")
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(with_device(row)))
    write_text_atomic(target, sealed(text.getvalue(), next(iter(sweeps), "0")))
    return target


def sealed(body: str, sweep: str) -> str:
    """A cell's CSV text ``body`` with its trailer: the checksum of ``body`` and the sweep
    it belongs to (what :func:`read_cell_file` verifies)."""
    if not _TRAILER_RE.match(f"{TRAILER} sha256={'0' * 64} sweep={sweep}\n"):
        raise ValueError(f"sweep id {sweep!r}: expected 1-64 letters, digits, '_', '.' or '-'")
    return f"{body}{TRAILER} sha256={_digest(body)} sweep={sweep}\n"


@dataclass(frozen=True)
class CellFile:
    """One file of ``cells/`` as read: its CSV text, the sweep its trailer names, and why it
    cannot be trusted (``problem``; '' when it verifies)."""

    path: Path
    body: str = ""
    sweep: str = ""
    problem: str = ""


def read_cell_file(path: Path) -> CellFile:
    """Read and verify one cell file without following a link or opening anything but a
    regular file (a FIFO would block, a link could point anywhere)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as err:
        return CellFile(path, problem=f"unreadable ({err.strerror})")
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        return CellFile(path, problem=f"{kind}: not opened")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
        text = data.decode("utf-8")
    except OSError as err:
        return CellFile(path, problem=f"unreadable ({err.strerror})")
    except UnicodeDecodeError:
        return CellFile(path, problem="not UTF-8 text")
    head, sep, last = text.rstrip("\n").rpartition("\n")
    match = _TRAILER_RE.match(last + "\n") if sep else None
    if match is None:
        return CellFile(path, body=text, problem="no checksum trailer (truncated, edited by hand "
                                                  "or written before cells carried one)")
    body = head + "\n"
    if _digest(body) != match.group(1):
        return CellFile(path, body=body, sweep=match.group(2),
                        problem="checksum mismatch (the rows were changed after they were written)")
    return CellFile(path, body=body, sweep=match.group(2))


def _cell_paths(results_dir: Path) -> list[Path]:
    cells = Path(results_dir) / "cells"
    if cells.is_symlink() or not cells.is_dir():
        return []
    return sorted(p for p in cells.iterdir() if p.name.endswith(".csv") and not p.name.startswith("."))


def written_cells(results_dir: Path) -> set[str]:
    """Cell ids with a file in ``cells/``, whatever their status."""
    return {p.stem for p in _cell_paths(results_dir)}


def _sweep_of(results_dir: Path) -> str | None:
    try:
        return str(load_provenance(results_dir).get("sweep_id") or "") or None
    except MalformedResults:
        return None


def _distrust(cell: CellFile, sweep: str | None) -> str:
    """Why ``cell`` cannot be trusted in a directory of sweep ``sweep`` ('' when it can)."""
    if cell.problem:
        return cell.problem
    if sweep is not None and cell.sweep != sweep:
        return f"a cell of sweep {cell.sweep}, not of this directory's sweep {sweep}"
    return ""


def _trusted_cells(results_dir: Path) -> dict[str, CellFile]:
    """Cells that verify and belong to the directory's sweep (provenance's ``sweep_id``)."""
    sweep = _sweep_of(results_dir)
    cells = (read_cell_file(path) for path in _cell_paths(results_dir))
    return {cell.path.stem: cell for cell in cells if not _distrust(cell, sweep)}


def failed_cells(results_dir: Path) -> set[str]:
    """Cell ids written with a ``failed`` row (a worker crash, a timeout): a re-run tries
    them again."""
    failed = set()
    for cell_id, cell in _trusted_cells(results_dir).items():
        if any(row.get("status") == "failed" for row in csv.DictReader(io.StringIO(cell.body))):
            failed.add(cell_id)
    return failed


def finished_cells(results_dir: Path, memo: dict | None = None,
                   only: set[str] | None = None) -> set[str]:
    """Cell ids that need no more work: verified, of this directory's sweep, every row
    valid, and measured or skipped for a stated reason (a re-run skips them; failed,
    corrupt and foreign cells are not finished, so a re-run measures them again).

    ``memo`` (a dict the caller keeps) remembers each file's verdict by its inode, size,
    modification time and the directory's sweep: a sweep recounts its cells after every
    worker event, and re-reading a thousand cells each time would cost seconds. Cells are
    replaced by rename, so a rewritten cell is a new inode and is read again. ``only``
    limits the reading to those cell ids (a worker asking about its own unit's cells)."""
    memo = {} if memo is None else memo
    sweep = _sweep_of(results_dir)
    done = set()
    for path in _cell_paths(results_dir):
        if only is not None and path.stem not in only:
            continue
        try:
            st = os.lstat(path)
        except OSError:  # removed since listed
            continue
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, sweep)
        if key not in memo:
            memo[key] = _is_finished(read_cell_file(path), sweep)
        if memo[key]:
            done.add(path.stem)
    return done


def _is_finished(cell: CellFile, sweep: str | None) -> bool:
    if _distrust(cell, sweep):
        return False
    try:
        frame = _parse_cell(cell.path, cell.body)
    except MalformedResults:
        return False
    return not (frame["status"] == "failed").any() and not row_problems(frame).any()


class MalformedResults(ValueError):
    """A results file that cannot be read as rows of this format (message names the file)."""


def _parse_cell(path: Path, body: str) -> pd.DataFrame:
    try:
        # sweep ids are hex ("012345678901", "12e456789012") and versions dotted ("12.10"):
        # text columns stay text, never numbers
        frame = pd.read_csv(io.StringIO(body), keep_default_na=False, na_values=["nan", ""],
                            dtype=dict.fromkeys(("sweep_id", "status", "phase", "loop",
                                                 *TEXT_COLUMNS), str))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise MalformedResults(f"{path}: not a results cell ({str(err).strip()[:200]})") from None
    missing = [c for c in COLUMNS if c not in frame.columns and c not in OPTIONAL_COLUMNS]
    if missing:
        raise MalformedResults(f"{path}: not a results cell (missing columns: "
                               f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})")
    for col, default in OPTIONAL_COLUMNS.items():  # written by later versions only
        if col not in frame.columns:
            frame[col] = default
    for col in TEXT_COLUMNS:
        frame[col] = frame[col].fillna("").astype(str)
    frame = frame[list(COLUMNS)].copy()
    frame[FIELDS_SHORT] = _fields_short(body, len(frame))
    return frame


FIELDS_SHORT = "_fields_short"
"""A private column of a parsed cell: how many fields its line lacks against the header
(pandas fills a line cut short with NaN, which could pass for a row that measured less)."""


def _fields_short(body: str, n_rows: int) -> list[int]:
    records = [r for r in csv.reader(io.StringIO(body)) if r]
    header, lines = len(records[0]) if records else 0, records[1:]
    short = [max(header - len(r), 0) for r in lines]
    return short if len(short) == n_rows else [0] * n_rows  # (pandas read it otherwise)


_INTEGER_COLUMNS = ("instance", "k", "run", "threads", "n_chunks")


def _number(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype(float)


def row_problems(frame: pd.DataFrame) -> pd.Series:
    """Why each row cannot be used ('' for a good row): the one place every reader checks
    rows (report, compare, resume). Measured rows (``ok``, ``truncated``) need finite,
    positive timings (zero for a build phase that did nothing); every row a known status,
    phase and loop, whole numbers where they are counts and 1 <= k <= :data:`MAX_K`."""
    why = pd.Series("", index=frame.index, dtype=object)

    def flag(mask, reason: str) -> None:
        mask = mask & (why == "")
        why[mask] = reason

    if FIELDS_SHORT in frame:
        flag(frame[FIELDS_SHORT] > 0, "line cut short (fewer fields than the header)")
    status = frame["status"].astype(str)
    flag(~status.isin(STATUSES), "unknown status")
    flag(~frame["phase"].astype(str).isin(PHASES), "unknown phase")
    flag(~frame["loop"].fillna("").astype(str).isin(LOOPS), "unknown loop")
    for col in _INTEGER_COLUMNS:
        value = _number(frame[col])
        flag(~np.isfinite(value) | (value != np.floor(value)), f"{col} is not a whole number")
    k = _number(frame["k"])
    loop_phase = frame["phase"].isin(("loop", "warmup"))
    flag(loop_phase & ((k < 1) | (k > MAX_K)), f"k outside 1..{MAX_K}")
    flag(~loop_phase & ((k < 0) | (k > MAX_K)), f"k outside 0..{MAX_K}")
    measured = status.isin(("ok", "truncated"))
    seconds = _number(frame["seconds"])
    # (rows of an unknown phase are flagged above: every phase left is timed)
    flag(measured & ~np.isfinite(seconds), "timing not a finite number")
    flag(measured & ~loop_phase & (seconds < 0), "negative timing")
    flag(measured & loop_phase & (seconds <= 0), "timing not positive")
    sim = _number(frame["sim_seconds"])
    flag(measured & loop_phase & ~(sim > 0), "simulated time not positive")
    for col in ("latency_p50_s", "latency_p90_s", "latency_p99_s", "latency_max_s",
                "peak_rss_mb", "simulator_loop_s"):
        value = _number(frame[col])
        flag(np.isinf(value) | (value < 0), f"{col} negative or infinite")
    return why


_KEY = ("sweep_id", "network", "instance", "backend", "comparison", "loop", "k", "run", "dtype",
        "threads", "phase", "machine")


def _rejected_cell_row(cell: CellFile, reason: str) -> dict:
    """The row that stands for a cell none of whose rows can be trusted."""
    return {**{c: (OPTIONAL_COLUMNS.get(c, "") if c in TEXT_COLUMNS else float("nan"))
               for c in COLUMNS},
            "sweep_id": cell.sweep, "network": "", "backend": f"(cell {cell.path.name})",
            "loop": "", "k": 0, "instance": 0, "run": -1, "threads": 0, "n_chunks": 0,
            "dtype": "", "phase": "loop", "status": REJECTED,
            "reason": f"{cell.path}: {reason}"}


def load_rows(results_dir: Path) -> pd.DataFrame:
    """All rows of a results directory as one DataFrame with the ``COLUMNS`` columns.

    Nothing is dropped without a word: a cell that fails its check (see the module
    docstring) is one row with status ``rejected`` naming the file and the reason, and so
    is every row :func:`row_problems` rejects (and every repeat of a row already read);
    statistics use ``ok`` and ``truncated`` rows only."""
    paths = _cell_paths(results_dir)
    if not paths:
        raise FileNotFoundError(f"{results_dir}: no result rows (expected cells/*.csv)")
    sweep = _sweep_of(results_dir)
    frames, stand_ins = [], []
    for path in paths:
        cell = read_cell_file(path)
        why = _distrust(cell, sweep)
        if why:
            stand_ins.append(_rejected_cell_row(cell, why))
            continue
        try:
            frame = _parse_cell(path, cell.body)
        except MalformedResults as err:
            stand_ins.append(_rejected_cell_row(cell, str(err).split(": ", 1)[-1]))
            continue
        frame["_file"] = str(path)
        frames.append(frame)
    frame = (pd.concat(frames, ignore_index=True) if frames
             else pd.DataFrame(columns=[*COLUMNS, "_file", FIELDS_SHORT]))
    if len(frame):
        why = row_problems(frame)
        repeat = frame.astype({c: str for c in _KEY}).duplicated(subset=list(_KEY), keep="first")
        why[(why == "") & repeat] = "a repeat of a row already read"
        bad = why != ""
        frame.loc[bad, "reason"] = [
            f"{file}: {problem} (written as {status!r}{': ' + reason if reason else ''})"
            for file, problem, status, reason in zip(frame.loc[bad, "_file"], why[bad],
                                                      frame.loc[bad, "status"],
                                                      frame.loc[bad, "reason"])]
        frame.loc[bad, "status"] = REJECTED
    frame = frame.drop(columns=["_file", FIELDS_SHORT], errors="ignore")
    if stand_ins:
        frame = pd.concat([frame, pd.DataFrame(stand_ins, columns=list(COLUMNS))],
                          ignore_index=True)
    for col in TEXT_COLUMNS:
        frame[col] = frame[col].fillna("").astype(str)
    return frame[list(COLUMNS)]


def write_json_atomic(path: Path, payload: dict) -> None:
    """JSON written via a temp file and rename."""
    write_text_atomic(Path(path), json.dumps(payload, indent=2, sort_keys=True) + "\n")


def load_provenance(results_dir: Path) -> dict:
    """``provenance.json`` as a dict ({} when absent); :class:`MalformedResults` (one line
    naming the file) when it is not a regular file holding one JSON object."""
    path = Path(results_dir) / "provenance.json"
    if not os.path.lexists(path):
        return {}
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise MalformedResults(f"{path}: not a regular file (not opened)")
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedResults(f"{path}: not valid JSON ({str(err)[:120]})") from None
    except RecursionError:
        raise MalformedResults(f"{path}: nested too deeply to be a provenance record") from None
    if not isinstance(record, dict):
        raise MalformedResults(f"{path}: expected a JSON object (a provenance record), got "
                               f"{type(record).__name__}")
    return record
