"""The measurement protocol: the code that times a sweep's cells.

Both ``spark-bench run`` and the asv suite call these functions. Rules:
wall-clock ``time.perf_counter``; the backend returns host arrays and the protocol also
synchronises any JAX result (``jax.block_until_ready``) before reading the clock;
subprocess work (a resident C++ binary) is inside the timed call; state is reset before
every pass; one warm-up pass is excluded and recorded separately; input generation by the
closed-loop controller is inside the loop (it is the same numpy code for every backend).
"""

from __future__ import annotations

import io
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from adapters.base import (
    Backend,
    BackendFailed,
    BackendOptions,
    BackendUnavailable,
    BuildReport,
    ChunkInput,
    UnsupportedSpec,
)
from adapters.files import real_folder, write_bytes_atomic
from adapters.hardware import gpu_present
from adapters.registry import entry, load_backend
from adapters.spec import MaterialisedNetwork, SpecError, content_digest, load_spec, materialise
from adapters.spec.inputs import InputStream
from adapters.spec.model import NetworkSpec

from .results import ResultRow, finished_cells, format_rates, write_cell

Clock = Callable[[], float]


def synchronise(result: object) -> np.ndarray:
    """Block on any JAX arrays in ``result`` (if JAX is loaded at all) and return host data.

    A numpy array is host data already and is returned as it is: at k = 1 this runs once
    per chunk inside every backend's timed loop, where ``jax.block_until_ready`` on a numpy
    array (a pytree walk that finds nothing to wait for) measured ~10 us per chunk."""
    if type(result) is np.ndarray:
        return result
    jax = sys.modules.get("jax")
    if jax is not None:
        result = jax.block_until_ready(result)
    return np.asarray(result)


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children (MiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024.0


# --------------------------------------------------------------------------- timed passes


@dataclass(frozen=True)
class Pass:
    """One timed pass: wall seconds, chunks run, the spike counts it produced and, closed
    loop, every chunk's wall seconds (input in, k steps, output on the host)."""

    seconds: float
    n_chunks: int
    counts: np.ndarray
    chunk_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    simulator_seconds: float = float("nan")  # the simulator's own loop timer (open loop)

    def latency(self) -> dict[str, float]:
        """Per-chunk latency percentiles (p50, p90, p99) and maximum, seconds; NaN for an
        open-loop pass. A closed-loop controller feels the tail, not the mean."""
        if self.chunk_seconds.size == 0:
            return dict.fromkeys(LATENCY_COLUMNS, float("nan"))
        p50, p90, p99 = np.percentile(self.chunk_seconds, [50, 90, 99])
        return {"latency_p50_s": float(p50), "latency_p90_s": float(p90),
                "latency_p99_s": float(p99), "latency_max_s": float(self.chunk_seconds.max())}


LATENCY_COLUMNS = ("latency_p50_s", "latency_p90_s", "latency_p99_s", "latency_max_s")


def closed_loop_pass(backend: Backend, stream: InputStream, k: int, n_chunks: int,
                     clock: Clock = time.perf_counter, stop_after_s: float | None = None,
                     min_chunks: int = 1) -> Pass:
    """Reset, then run ``n_chunks`` chunks of ``k`` steps: present input, run, read output.

    Every chunk is timed from the end of the previous one (its input drawn, k steps run,
    its output synchronised on the host); the pass's seconds are their sum. With
    ``stop_after_s`` the pass ends early once that much wall time has passed and at least
    ``min_chunks`` ran (used by the warm-up to find how many chunks fit a budget).

    The backend drives the loop (:meth:`Backend.run_closed_loop`) and calls back here at
    every chunk boundary, so a simulator that owns its loop (Brian2's runtime, one
    ``run()``) is timed the way its users run it."""
    backend.reset()
    stream.reset()
    if n_chunks < 1:
        return Pass(seconds=0.0, n_chunks=0, counts=np.zeros(0), chunk_seconds=np.zeros(0))
    chunk_seconds = np.empty(n_chunks, dtype=np.float64)
    total: np.ndarray | None = None
    done = 0
    start = previous = clock()

    def controller(counts: np.ndarray | None) -> ChunkInput | None:
        nonlocal total, done, previous
        if counts is not None:
            counts = synchronise(counts)
            now = clock()
            chunk_seconds[done] = now - previous
            previous = now
            done += 1
            total = counts.astype(np.int64) if total is None else total + counts
            if done == n_chunks or (stop_after_s is not None and done >= min_chunks
                                    and now - start > stop_after_s):
                return None
        return ChunkInput(spikes=stream.next_chunk(k, counts))

    backend.run_closed_loop(controller, n_chunks)
    return Pass(seconds=previous - start, n_chunks=done,
                counts=np.zeros(0) if total is None else total,
                chunk_seconds=chunk_seconds[:done])


def open_loop_pass(backend: Backend, spikes: np.ndarray, clock: Clock = time.perf_counter) -> Pass:
    """Reset, then the whole run in one call with inputs known in advance."""
    backend.reset()
    start = clock()
    counts = synchronise(backend.run_uninterrupted(spikes))
    seconds = clock() - start
    own = backend.simulator_loop_seconds()
    return Pass(seconds=seconds, n_chunks=1, counts=counts,
                simulator_seconds=float("nan") if own is None else float(own))


# --------------------------------------------------------------------------- units of work


@dataclass(frozen=True, kw_only=True)
class Unit:
    """One network instance on one backend at one dtype and thread count, every k.

    Plain data (JSON-able), so an executor can run it in a subprocess or on another
    machine. Each k is a *cell* with its own result file; finished cells are skipped."""

    sweep_id: str
    network: str  # built-in name or spec file path
    instance: int
    backend: str
    dtype: str
    threads: int
    timesteps: tuple[int, ...]
    runs: int
    duration_ms: float | None = None  # None: the spec's duration
    cell_budget_s: float = 120.0  # wall budget per cell (warm-up + runs)
    min_sim_ms: float = 10.0  # a truncated cell still simulates at least this much
    cache_dir: str = ".cache/spark-bench"
    measure_cold: bool = True
    fidelity: bool = True
    fidelity_reference: str = ""
    spec_digest: str = ""  # content digest of the spec the sweep was planned on ("": unchecked)

    def spec(self) -> NetworkSpec:
        """The unit's network; refused (SpecError) when the spec file no longer holds the
        network the sweep was planned on, so one results directory never mixes two."""
        spec = load_spec(self.network)
        if self.spec_digest and content_digest(spec) != self.spec_digest:
            raise SpecError(self.network, "", f"content digest {content_digest(spec)}",
                            f"the network this sweep started with (digest {self.spec_digest}); "
                            "the spec changed during the sweep")
        return spec.overridden(dtype=self.dtype, duration=self.duration_ms)

    def cell_id(self, network_name: str, k: int | str) -> str:
        return f"{network_name}-i{self.instance}-{self.backend}-{self.dtype}-t{self.threads}-k{k}"

    @property
    def open_loop_only(self) -> bool:
        """Whether the backend runs only whole runs (one cell at k = the run's steps)."""
        return not entry(self.backend).capabilities.closed_loop

    @property
    def loop(self) -> str:
        """The ``loop`` column of this unit's timed rows."""
        return "open" if self.open_loop_only else "closed"

    def timesteps_run(self, n_steps: int) -> tuple[int, ...]:
        """The k of this unit's cells."""
        return (n_steps,) if self.open_loop_only else self.timesteps

    def unfinished(self, spec: NetworkSpec, results_dir: Path) -> list[int]:
        """The k whose cells ``results_dir`` does not hold yet (a re-run skips the rest)."""
        ks = self.timesteps_run(spec.simulation.n_steps)
        done = finished_cells(results_dir, only={self.cell_id(spec.name, k) for k in ks})
        return [k for k in ks if self.cell_id(spec.name, k) not in done]

    def refusal(self, spec: NetworkSpec) -> str | None:
        """Why the backend cannot run this unit, from its declared capabilities (no
        simulator imported, nothing materialised), or None."""
        caps = entry(self.backend).capabilities
        return caps.refusal(spec, self.threads, gpu_present() if caps.needs_gpu else None)


Emit = Callable[[dict], None]


def _row(unit: Unit, net: NetworkSpec, **fields) -> ResultRow:
    return ResultRow(sweep_id=unit.sweep_id, network=net.name, instance=unit.instance,
                     backend=unit.backend, comparison=entry(unit.backend).comparison,
                     dtype=unit.dtype, threads=unit.threads, **fields)


def _options(unit: Unit, **changes) -> BackendOptions:
    return BackendOptions(threads=unit.threads, cache_dir=Path(unit.cache_dir), **changes)


def spike_file(results_dir: Path, network: str, instance: int, backend: str, dtype: str) -> Path:
    return real_folder(Path(results_dir) / "spikes") / f"{network}-i{instance}-{backend}-{dtype}.npz"


def save_spikes(path: Path, spikes: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Plain .npz of int arrays (never pickles), written atomically."""
    arrays = {}
    for pop, (steps, idx) in spikes.items():
        arrays[f"{pop}__steps"] = np.asarray(steps, dtype=np.int64)
        arrays[f"{pop}__indices"] = np.asarray(idx, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def load_spikes(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with np.load(path, allow_pickle=False) as data:
        pops = sorted({key.rsplit("__", 1)[0] for key in data.files})
        return {p: (data[f"{p}__steps"], data[f"{p}__indices"]) for p in pops}


def build_rows(unit: Unit, spec: NetworkSpec, label: str, report: BuildReport) -> list[ResultRow]:
    """compile_* / construct rows from a BuildReport."""
    rows = []
    compile_s = report.phases.get("codegen_compile")
    if compile_s is not None:
        hit = "" if report.cache_hit is None else ("yes" if report.cache_hit else "no")
        rows.append(_row(unit, spec, loop="", k=0, run=-1, phase=label, seconds=compile_s,
                         cache_hit=hit, reason=report.notes, peak_rss_mb=peak_rss_mb()))
    if "construct" in report.phases and label == "compile_warm":
        rows.append(_row(unit, spec, loop="", k=0, run=-1, phase="construct",
                         seconds=report.phases["construct"], reason=report.notes))
    return rows


def record_open_loop_spikes(backend_cls: type[Backend], net: MaterialisedNetwork,
                            options: BackendOptions) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Build with spike recording, run the whole duration open loop (the same input spikes
    for every backend, whatever they output), return ``{population: (steps, indices)}``."""
    backend = backend_cls()
    try:
        backend.prepare(net, replace(options, record_spikes=True))
        backend.reset()
        backend.run_uninterrupted(InputStream(net.spec).open_loop())
        return backend.recorded_spikes()
    finally:
        backend.close()


def measure_fidelity(unit: Unit, backend_cls: type[Backend], net: MaterialisedNetwork,
                     results_dir: Path) -> dict:
    """Record this backend's spikes; compare them with the reference backend's, if stored."""
    from .fidelity import compare_spikes

    spikes = record_open_loop_spikes(backend_cls, net, _options(unit))
    save_spikes(spike_file(results_dir, net.spec.name, unit.instance, unit.backend, unit.dtype),
                spikes)
    ref_path = spike_file(results_dir, net.spec.name, unit.instance, unit.fidelity_reference,
                          unit.dtype)
    if unit.backend == unit.fidelity_reference or not ref_path.exists():
        return {}
    sizes = {p.name: p.size for p in net.populations}
    agreement = compare_spikes(load_spikes(ref_path), spikes, sizes, net.n_steps, net.dt,
                               labels=(unit.fidelity_reference, unit.backend))
    return agreement.as_row_fields()


def write_skipped(unit: Unit, spec: NetworkSpec, results_dir: Path, status: str, reason: str,
                  rows: list[ResultRow] | None = None, emit: Emit = lambda event: None) -> None:
    """Write the unit's build cell and every unfinished k cell as ``status`` (skipped or
    failed) with ``reason``; ``rows`` are build rows already measured (kept)."""
    todo = unit.unfinished(spec, results_dir)
    rows = list(rows or []) + [_row(unit, spec, loop="", k=0, run=-1, phase="compile_warm",
                                    seconds=float("nan"), status=status, reason=reason)]
    write_cell(results_dir, unit.cell_id(spec.name, "build"), rows)
    for k in todo:
        write_cell(results_dir, unit.cell_id(spec.name, k), [
            _row(unit, spec, loop=unit.loop, k=k, run=0, phase="loop", seconds=float("nan"),
                 status=status, reason=reason)])
    emit({"event": "unit", "backend": unit.backend, "status": status, "reason": reason,
          "cells": len(todo)})


def run_unit(unit: Unit, results_dir: Path, emit: Emit = lambda event: None,
             clock: Clock = time.perf_counter) -> None:
    """Measure every unfinished cell of ``unit`` and write their rows."""
    results_dir = Path(results_dir)
    spec = unit.spec()
    build_id = unit.cell_id(spec.name, "build")
    todo = unit.unfinished(spec, results_dir)
    if not todo and build_id in finished_cells(results_dir, only={build_id}):
        return
    refused = unit.refusal(spec)
    if refused is not None:
        return write_skipped(unit, spec, results_dir, "skipped", f"{unit.backend}: {refused}",
                             emit=emit)
    try:
        backend_cls = load_backend(unit.backend)
    except BackendUnavailable as err:
        return write_skipped(unit, spec, results_dir, "skipped", err.reason, emit=emit)

    start = clock()
    net = materialise(spec, unit.instance)
    materialise_s = clock() - start
    rows = [_row(unit, spec, loop="", k=0, run=-1, phase="materialise", seconds=materialise_s)]

    def skip_all(status: str, reason: str) -> None:
        write_skipped(unit, spec, results_dir, status, reason, rows=rows, emit=emit)

    backend = backend_cls()
    fidelity: dict = {}
    try:
        if unit.measure_cold:
            cold = backend_cls()
            try:
                rows += build_rows(unit, spec, "compile_cold", cold.prepare(net, _options(unit, cold=True)))
            finally:
                cold.close()
        report = backend.prepare(net, _options(unit))
        if report.cache_hit is False:
            # The shared cache was empty (the cold build used a fresh one): this build only
            # filled it. Build again so that "compile_warm" really is a warm build.
            backend.close()
            backend = backend_cls()
            report = backend.prepare(net, _options(unit))
        rows += build_rows(unit, spec, "compile_warm", report)
        if unit.fidelity:
            fidelity = measure_fidelity(unit, backend_cls, net, results_dir)
            rows = [replace(r, **{"fidelity_reference": unit.fidelity_reference, **fidelity})
                    if fidelity else r for r in rows]
    except BackendUnavailable as err:
        backend.close()
        return skip_all("skipped", err.reason)
    except (BackendFailed, UnsupportedSpec) as err:
        backend.close()
        return skip_all("failed" if isinstance(err, BackendFailed) else "skipped", str(err))
    write_cell(results_dir, build_id, rows)
    emit({"event": "build", "backend": unit.backend, "rows": len(rows)})

    stream = InputStream(net.spec)
    try:
        for k in todo:
            cell_rows = measure_cell(unit, spec, backend, stream, k, unit.open_loop_only, clock)
            cell_rows = [replace(r, **{"fidelity_reference": unit.fidelity_reference, **fidelity})
                         if fidelity else r for r in cell_rows]
            write_cell(results_dir, unit.cell_id(spec.name, k), cell_rows)
            loops = [r for r in cell_rows if r.phase == "loop" and r.status in ("ok", "truncated")]
            emit({"event": "cell", "backend": unit.backend, "k": k, "instance": unit.instance,
                  "status": cell_rows[-1].status,
                  "per_sim_s": float(np.mean([r.rtf for r in loops])) if loops else float("nan"),
                  "truncated": any(r.status == "truncated" for r in loops)})
    finally:
        backend.close()


def measure_cell(unit: Unit, spec: NetworkSpec, backend: Backend, stream: InputStream, k: int,
                 open_only: bool, clock: Clock = time.perf_counter) -> list[ResultRow]:
    """Warm-up (excluded, also finds how many chunks fit the budget), then ``runs`` passes."""
    dt_s = spec.simulation.dt * 1e-3
    n_steps = spec.simulation.n_steps
    loop = "open" if open_only else "closed"
    rows: list[ResultRow] = []

    readouts = spec.readout_names
    sizes = np.array([spec.size_of(name) for name in readouts], dtype=np.float64)

    def row(phase: str, run: int, p: Pass, status: str = "ok", reason: str = "") -> ResultRow:
        sim_s = p.n_chunks * (n_steps if open_only else k) * dt_s
        rates = list(np.asarray(p.counts, np.float64) / (sizes * sim_s)) if p.counts.size else []
        return _row(unit, spec, loop=loop, k=k, run=run, phase=phase, seconds=p.seconds,
                    sim_seconds=sim_s, rtf=p.seconds / sim_s, n_chunks=p.n_chunks,
                    peak_rss_mb=peak_rss_mb(), status=status, reason=reason,
                    rates_hz=format_rates(readouts, rates),
                    simulator_loop_s=p.simulator_seconds, **p.latency())

    try:
        if open_only:
            spikes = stream.open_loop()
            rows.append(row("warmup", -1, open_loop_pass(backend, spikes, clock)))
            for run in range(unit.runs):
                rows.append(row("loop", run, open_loop_pass(backend, spikes, clock)))
            return rows
        n_total = n_steps // k
        min_chunks = min(n_total, max(1, int(np.ceil(unit.min_sim_ms / (k * spec.simulation.dt)))))
        per_pass_budget = unit.cell_budget_s / (unit.runs + 1)
        warm = closed_loop_pass(backend, stream, k, n_total, clock,
                                stop_after_s=per_pass_budget, min_chunks=min_chunks)
        rows.append(row("warmup", -1, warm))
        n_chunks = warm.n_chunks
        status, reason = "ok", ""
        if n_chunks < n_total:
            status = "truncated"
            reason = (f"cell budget {unit.cell_budget_s:g} s: ran {n_chunks * k} of {n_steps} "
                      f"steps ({n_chunks * k * spec.simulation.dt:g} ms simulated)")
        for run in range(unit.runs):
            p = closed_loop_pass(backend, stream, k, n_chunks, clock)
            rows.append(row("loop", run, p, status, reason))
    except (BackendFailed, BackendUnavailable) as err:
        rows.append(_row(unit, spec, loop=loop, k=k, run=0, phase="loop", seconds=float("nan"),
                         status="failed", reason=str(err)))
    return rows
