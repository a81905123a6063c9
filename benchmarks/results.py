"""The results format: a tidy table, one row per measurement, written atomically per cell.

A results directory holds ``provenance.json`` (one record per sweep: hardware, versions,
commit, command line) and ``cells/<cell_id>.csv`` (the rows of one finished cell, written
to a temporary file and renamed, so a crash never leaves half a cell). Reports and asv read
it with :func:`load_rows`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import pandas as pd

from adapters.files import write_text_atomic

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


def write_cell(results_dir: Path, cell_id: str, rows: list[ResultRow]) -> Path:
    """Write one cell's rows atomically: a reader (or a resumed sweep) sees the whole cell
    or none of it. Rows without a ``device`` get this process's (:func:`with_device`): the
    worker that ran the backend writes its rows, so they say where it ran."""
    target = Path(results_dir) / "cells" / f"{cell_id}.csv"
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(with_device(row)))
    write_text_atomic(target, text.getvalue())
    return target


def written_cells(results_dir: Path) -> set[str]:
    """Cell ids with a file in ``cells/``, whatever their status."""
    cells = Path(results_dir) / "cells"
    return {p.stem for p in cells.glob("*.csv")} if cells.is_dir() else set()


def failed_cells(results_dir: Path) -> set[str]:
    """Cell ids written with a ``failed`` row (a worker crash, a timeout): a re-run tries
    them again."""
    failed = set()
    for cell in written_cells(results_dir):
        with open(Path(results_dir) / "cells" / f"{cell}.csv", newline="", errors="replace") as fh:
            if any(row.get("status") == "failed" for row in csv.DictReader(fh)):
                failed.add(cell)
    return failed


def finished_cells(results_dir: Path) -> set[str]:
    """Cell ids that need no more work: written, and measured or skipped for a stated reason
    (a re-run skips them; failed cells are not finished)."""
    return written_cells(results_dir) - failed_cells(results_dir)


class MalformedResults(ValueError):
    """A results file that cannot be read as rows of this format (message names the file)."""


def _read_cell(path: Path) -> pd.DataFrame:
    try:
        # sweep ids are hex ("012345678901", "12e456789012") and versions dotted ("12.10"):
        # text columns stay text, never numbers
        frame = pd.read_csv(path, keep_default_na=False, na_values=["nan", ""],
                            dtype=dict.fromkeys(("sweep_id", *TEXT_COLUMNS), str))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise MalformedResults(f"{path}: not a results cell ({str(err).strip()[:200]})") from None
    missing = [c for c in COLUMNS if c not in frame.columns and c not in OPTIONAL_COLUMNS]
    if missing:
        raise MalformedResults(f"{path}: not a results cell (missing columns: "
                               f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})")
    return frame


def load_rows(results_dir: Path) -> pd.DataFrame:
    """All rows of a results directory as one DataFrame with the ``COLUMNS`` columns;
    :class:`MalformedResults` names the first file that is not a results cell."""
    cells = sorted((Path(results_dir) / "cells").glob("*.csv"))
    if not cells:
        raise FileNotFoundError(f"{results_dir}: no result rows (expected cells/*.csv)")
    frame = pd.concat((_read_cell(p) for p in cells), ignore_index=True)
    for col, default in OPTIONAL_COLUMNS.items():  # written by later versions only
        if col not in frame.columns:
            frame[col] = default
    for col in TEXT_COLUMNS:
        frame[col] = frame[col].fillna("").astype(str)
    return frame[list(COLUMNS)]


def write_json_atomic(path: Path, payload: dict) -> None:
    """JSON written via a temp file and rename."""
    write_text_atomic(Path(path), json.dumps(payload, indent=2, sort_keys=True) + "\n")


def load_provenance(results_dir: Path) -> dict:
    path = Path(results_dir) / "provenance.json"
    return json.loads(path.read_text()) if path.exists() else {}
