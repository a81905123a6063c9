"""How close each backend runs to the memory-bandwidth limit of synaptic propagation.

The physical limit used here: every synaptic event reads its synapse's target offset and
weight (``4 + itemsize`` bytes of the presynaptic row), and those rows (3.8 M synapses,
30-45 MB on paper8) do not fit in cache, so a step cannot be faster than streaming the
rows of its spiking sources at the machine's copy bandwidth. The bound is therefore

    events/s <= copy bandwidth / (4 + itemsize)

with the bandwidth *measured* on this machine (one thread, large ``numpy.copyto``, read +
written bytes over the best time). The ring-buffer updates (cache-resident) and the neuron
update (N states per step) are not in the bound: it is optimistic, so a fraction of it is
an upper estimate of efficiency.

Events are counted exactly: the recorded spikes of a reference run (neurons and inputs)
times each source's out-degree. All backends simulate the same network on the same input
spikes (open loop: the inputs are known in advance, the uninterrupted best case).
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.base import Backend, BackendOptions
from adapters.files import UnsafePath, read_regular_file, write_text_atomic
from adapters.spec.inputs import InputStream
from adapters.spec.materialise import MaterialisedNetwork

from .protocol import open_loop_pass
from .results import MalformedResults


@dataclass(frozen=True)
class Bandwidth:
    bytes_per_second: float
    array_mb: float
    repeats: int


@dataclass(frozen=True)
class RooflineRow:
    backend: str
    loop_seconds: float  # best of the timed open-loop runs
    sim_seconds: float
    events: int
    events_per_second: float
    bound_events_per_second: float

    @property
    def fraction_of_bound(self) -> float:
        return self.events_per_second / self.bound_events_per_second


def copy_bandwidth(array_mb: float = 256.0, repeats: int = 5,
                   clock=time.perf_counter) -> Bandwidth:
    """Single-thread copy bandwidth: bytes read plus bytes written over the best time."""
    n = int(array_mb * 2**20) // 8
    src = np.ones(n)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # first touch of the pages, not timed
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        np.copyto(dst, src)
        best = min(best, clock() - start)
    return Bandwidth(bytes_per_second=2 * src.nbytes / best, array_mb=array_mb, repeats=repeats)


def out_degrees(net: MaterialisedNetwork) -> np.ndarray:
    """Synapses per source in global numbering (neurons, then inputs)."""
    n_in = net.spec.input.size
    offsets = {p.name: p.offset for p in net.populations}
    degree = np.zeros(net.n_neurons + n_in, np.int64)
    for proj in net.projections:
        base = net.n_neurons if proj.spec.source == net.spec.input.name else offsets[proj.spec.source]
        np.add.at(degree, proj.pre.astype(np.int64) + base, 1)
    return degree


def count_events(net: MaterialisedNetwork, neuron_spikes: dict[str, tuple[np.ndarray, np.ndarray]],
                 input_spikes: np.ndarray) -> int:
    """Exact synaptic events of a run: each spike times its source's out-degree."""
    degree = out_degrees(net)
    total = int(degree[net.n_neurons:] @ input_spikes.sum(axis=0, dtype=np.int64))
    for pop in net.populations:
        _, idx = neuron_spikes[pop.name]
        total += int(degree[pop.offset + np.asarray(idx, np.int64)].sum())
    return total


def bytes_per_event(dtype: str) -> int:
    """Row bytes one event streams: an int32 target offset and a weight."""
    return 4 + np.dtype(dtype).itemsize


def measure(net: MaterialisedNetwork, backends: dict[str, type[Backend]],
            reference: type[Backend], options: BackendOptions, runs: int = 3,
            bandwidth: Bandwidth | None = None) -> tuple[Bandwidth, list[RooflineRow]]:
    """Open-loop loop time of each backend (best of ``runs`` after one warm-up) and its
    events/s against the bound; events from one recorded run of ``reference``."""
    spikes = InputStream(net.spec).open_loop()
    sim_seconds = spikes.shape[0] * net.dt * 1e-3
    recorder = reference()
    recorder.prepare(net, replace(options, record_spikes=True))
    open_loop_pass(recorder, spikes)
    events = count_events(net, recorder.recorded_spikes(), spikes)
    recorder.close()
    bandwidth = bandwidth or copy_bandwidth()
    bound = bandwidth.bytes_per_second / bytes_per_event(net.dtype)
    rows = []
    for label, cls in backends.items():
        backend = cls()
        try:
            backend.prepare(net, options)
            open_loop_pass(backend, spikes)  # warm-up: compiles, first touch
            best = min(open_loop_pass(backend, spikes).seconds for _ in range(runs))
        finally:
            backend.close()
        rows.append(RooflineRow(backend=label, loop_seconds=best, sim_seconds=sim_seconds,
                                events=events, events_per_second=events / best,
                                bound_events_per_second=bound))
    return bandwidth, rows


def format_table(bandwidth: Bandwidth, rows: list[RooflineRow], dtype: str) -> str:
    head = (f"copy bandwidth {bandwidth.bytes_per_second / 1e9:.2f} GB/s (1 thread, "
            f"{bandwidth.array_mb:g} MB arrays, best of {bandwidth.repeats}); "
            f"{bytes_per_event(dtype)} row bytes per event ({dtype}) -> bound "
            f"{rows[0].bound_events_per_second / 1e9:.2f} G events/s" if rows else "")
    lines = [head, f"{'backend':<28} {'s per sim s':>12} {'events':>12} {'events/s':>12} "
                   f"{'of bound':>9}"]
    for r in rows:
        lines.append(f"{r.backend:<28} {r.loop_seconds / r.sim_seconds:>12.4f} {r.events:>12d} "
                     f"{r.events_per_second:>12.3e} {100 * r.fraction_of_bound:>8.1f}%")
    return "\n".join(lines)


CSV_NAME = "roofline.csv"
"""Written into a results directory by ``spark-bench roofline --out DIR``; the report shows
it when present."""

CSV_FIELDS = ("network", "dtype", "backend", "sim_seconds", "loop_seconds", "events",
              "events_per_second", "bandwidth_bytes_per_second", "bound_events_per_second",
              "fraction_of_bound")


def write_csv(results_dir: Path, network: str, dtype: str, bandwidth: Bandwidth,
              rows: list[RooflineRow]) -> Path:
    """The rows as ``results_dir/roofline.csv`` (atomic; replaces an earlier one)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for r in rows:
        writer.writerow(dict(network=network, dtype=dtype, backend=r.backend,
                             sim_seconds=r.sim_seconds, loop_seconds=r.loop_seconds,
                             events=r.events, events_per_second=r.events_per_second,
                             bandwidth_bytes_per_second=bandwidth.bytes_per_second,
                             bound_events_per_second=r.bound_events_per_second,
                             fraction_of_bound=r.fraction_of_bound))
    path = Path(results_dir) / CSV_NAME
    write_text_atomic(path, buf.getvalue())
    return path


_TEXT_FIELDS = ("network", "dtype", "backend")
_POSITIVE_FIELDS = ("sim_seconds", "loop_seconds", "bandwidth_bytes_per_second",
                    "bound_events_per_second")


def read_csv(results_dir: Path) -> pd.DataFrame | None:
    """``results_dir/roofline.csv`` checked as :func:`write_csv` writes it, or None when
    there is none. A file that is not (a link, a FIFO, not UTF-8, a missing column, a
    timing that is not a finite positive number, no row) is MalformedResults, one line
    naming the file, row and field: a results folder may come from anyone."""
    path = Path(results_dir) / CSV_NAME
    if not os.path.lexists(path):
        return None
    try:
        text = read_regular_file(path, max_bytes=16 << 20).decode("utf-8")
    except (UnsafePath, OSError, UnicodeDecodeError) as err:
        why = "not UTF-8 text" if isinstance(err, UnicodeDecodeError) else str(err)
        raise MalformedResults(f"{path}: {why}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = sorted(set(CSV_FIELDS) - set(reader.fieldnames or ()))
    if missing:
        raise MalformedResults(f"{path}: missing column(s) {', '.join(missing)}; re-run "
                               "spark-bench roofline --out")
    rows = []
    for line, row in enumerate(reader, start=2):
        rows.append(_checked_row(path, line, row))
    if not rows:
        raise MalformedResults(f"{path}: a header and no rows; re-run spark-bench roofline --out")
    return pd.DataFrame(rows, columns=CSV_FIELDS)


def _checked_row(path: Path, line: int, row: dict) -> dict:
    out: dict = {}
    for field in CSV_FIELDS:
        value = row.get(field)
        if value is None:
            raise MalformedResults(f"{path}, line {line}: {field} missing (a short row)")
        if field in _TEXT_FIELDS:
            out[field] = value
            continue
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        lowest_ok = number > 0 if field in _POSITIVE_FIELDS else number >= 0
        if not (math.isfinite(number) and lowest_ok):
            raise MalformedResults(f"{path}, line {line}: {field} = {value[:40]!r}; expected a "
                                   f"finite number {'> 0' if field in _POSITIVE_FIELDS else '>= 0'}")
        out[field] = number
    return out
