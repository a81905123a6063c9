"""A sweep: backends x execution timesteps x network instances x runs, one subprocess per unit.

The plan is plain data (:class:`~benchmarks.protocol.Unit`); this module only schedules
units, shows progress and turns a crashed or timed-out worker into ``failed`` rows. Re-running
the same command resumes: finished cells are skipped, and a results directory refuses a
sweep with different settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from adapters.registry import BACKENDS, FIDELITY_REFERENCE
from adapters.spec import load_spec

from . import provenance
from .protocol import Unit, write_skipped
from .results import ResultRow, finished_cells, load_provenance, write_cell, write_json_atomic
from .worker import EVENT_PREFIX


class SweepError(Exception):
    """A sweep that cannot start (bad settings, a results directory of another sweep)."""


@dataclass(frozen=True, kw_only=True)
class SweepConfig:
    network: str
    backends: tuple[str, ...]
    timesteps: tuple[int, ...]
    instances: int
    runs: int
    dtype: str
    threads: int
    duration_ms: float | None
    cell_budget_s: float
    unit_timeout_s: float
    profile: str  # "quick" or "full": said in the output and the provenance
    cache_dir: str = ".cache/spark-bench"
    measure_cold: bool = True
    fidelity: bool = True

    def sweep_id(self) -> str:
        """Identifies the settings (not the output directory), so a re-run resumes."""
        payload = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def plan(config: SweepConfig) -> list[Unit]:
    """Units in run order: per instance, the fidelity reference backend first."""
    spec = load_spec(config.network)
    n_steps = round((config.duration_ms or spec.simulation.duration) / spec.simulation.dt)
    for k in config.timesteps:
        if k < 1 or n_steps % k:
            raise SweepError(f"--timesteps {k}: expected a divisor of the {n_steps} steps "
                             f"of the run (duration / dt)")
    if config.instances < 1 or config.runs < 1:
        raise SweepError("--instances and --runs must be >= 1")
    unknown = [b for b in config.backends if b not in BACKENDS]
    if unknown:
        raise SweepError(f"--backends: unknown {', '.join(unknown)}; known: {', '.join(BACKENDS)}")
    reference = FIDELITY_REFERENCE if FIDELITY_REFERENCE in config.backends else config.backends[0]
    ordered = sorted(config.backends, key=lambda b: b != reference)
    sweep_id = config.sweep_id()
    return [
        Unit(sweep_id=sweep_id, network=config.network, instance=spec.simulation.seed + i,
             backend=backend, dtype=config.dtype, threads=config.threads,
             timesteps=config.timesteps, runs=config.runs, duration_ms=config.duration_ms,
             cell_budget_s=config.cell_budget_s, cache_dir=config.cache_dir,
             measure_cold=config.measure_cold, fidelity=config.fidelity,
             fidelity_reference=reference)
        for i in range(config.instances) for backend in ordered
    ]


def unit_cells(unit: Unit) -> list[str]:
    """Cell ids a unit will write (open-loop backends have one cell at k = n_steps)."""
    spec = unit.spec()
    ks = unit.timesteps_run(spec.simulation.n_steps)
    return [unit.cell_id(spec.name, "build")] + [unit.cell_id(spec.name, k) for k in ks]


def _fail_unfinished(unit: Unit, out: Path, reason: str) -> int:
    """Write ``failed`` rows for every cell the unit did not finish; return how many."""
    spec = unit.spec()
    done = finished_cells(out)
    missing = [c for c in unit_cells(unit) if c not in done]
    for cell in missing:
        k_text = cell.rsplit("-k", 1)[1]
        write_cell(out, cell, [ResultRow(
            sweep_id=unit.sweep_id, network=spec.name, instance=unit.instance,
            backend=unit.backend,
            loop="" if k_text == "build" else unit.loop,
            k=0 if k_text == "build" else int(k_text),
            run=0, dtype=unit.dtype, threads=unit.threads,
            phase="compile_warm" if k_text == "build" else "loop",
            seconds=float("nan"), status="failed", reason=reason)])
    return len(missing)


def run_sweep(config: SweepConfig, out: Path, console: Console | None = None) -> Path:
    """Run (or resume) a sweep into ``out``; return ``out``."""
    console = console or Console(stderr=True)
    out = Path(out)
    units = plan(config)
    sweep_id = config.sweep_id()
    existing = load_provenance(out)
    if existing and existing.get("sweep_id") != sweep_id:
        raise SweepError(f"{out} holds results of another sweep ({existing.get('command', '?')}); "
                         "use another --out or the same settings to resume")
    spec = load_spec(config.network)
    if not existing:
        write_json_atomic(out / "provenance.json", provenance.collect(
            sweep_id=sweep_id, network=spec.name, spec_digest=_spec_digest(config),
            profile=config.profile, duration_ms=config.duration_ms or spec.simulation.duration,
            threads=config.threads, settings=asdict(config),
            cpu_pinning=(f"each backend process pinned to {config.threads} core(s)"
                         if hasattr(os, "sched_setaffinity") else "none (no affinity control)")))
    cells = {u: unit_cells(u) for u in units}
    done = finished_cells(out)
    total = sum(len(c) for c in cells.values())
    already = sum(1 for c in cells.values() for cell in c if cell in done)
    console.print(f"[bold]spark-bench run[/] {spec.name} ({config.profile} profile: "
                  f"{config.instances} instance(s) x {config.runs} run(s), "
                  f"{config.duration_ms or spec.simulation.duration:g} ms simulated, dtype "
                  f"{config.dtype}, {config.threads} thread(s), k in {list(config.timesteps)}, "
                  f"budget {config.cell_budget_s:g} s per cell) -> {out}")
    if already:
        console.print(f"resuming: {already} of {total} cells already done")
    refused = _refuse_up_front(units, out, console)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("cells", total=total, completed=already)
        progress.update(task, completed=sum(
            1 for c in cells.values() for cell in c if cell in finished_cells(out)))
        for unit in units:
            if unit in refused:
                continue
            todo = [c for c in cells[unit] if c not in finished_cells(out)]
            if not todo:
                continue
            progress.update(task, description=f"{unit.backend} (instance {unit.instance})")
            _run_worker(unit, out, logs, config.unit_timeout_s, progress, task, console)
            progress.update(task, completed=sum(
                1 for c in cells.values() for cell in c if cell in finished_cells(out)))
    console.print(f"done: results in {out}")
    return out


def _refuse_up_front(units: list[Unit], out: Path, console: Console) -> set[Unit]:
    """Write ``skipped`` cells for every unit whose backend's declared capabilities cannot
    run the spec (model, synapse, plasticity, dtype, threads, GPU), without starting a
    worker or materialising anything; return those units."""
    refused: set[Unit] = set()
    said: set[str] = set()
    done = finished_cells(out)
    for unit in units:
        spec = unit.spec()
        reason = unit.refusal(spec)
        if reason is None:
            continue
        refused.add(unit)
        if all(c in done for c in unit_cells(unit)):
            continue
        write_skipped(unit, spec, out, "skipped", f"{unit.backend}: {reason}")
        if unit.backend not in said:
            said.add(unit.backend)
            console.print(f"  {unit.backend:<26} skipped: {reason}", soft_wrap=True)
    return refused


def _spec_digest(config: SweepConfig) -> str:
    from adapters.spec import dumps_json

    return hashlib.sha256(dumps_json(load_spec(config.network)).encode()).hexdigest()[:16]


def _run_worker(unit: Unit, out: Path, logs: Path, timeout_s: float, progress: Progress,
                task: int, console: Console) -> None:
    payload = json.dumps(asdict(unit))
    log_path = logs / f"{unit.cell_id(unit.spec().name, 'unit')}.log"
    start = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.worker", payload, str(out)],
                                stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1)
        assert proc.stdout is not None
        timed_out = False
        for line in _lines_until(proc, start + timeout_s):
            if line is None:
                timed_out = True
                break
            if line.startswith(EVENT_PREFIX):
                _show_event(json.loads(line[len(EVENT_PREFIX):]), progress, task, console)
            else:
                log.write(line)
        if timed_out:
            proc.kill()
        code = proc.wait()
    if timed_out:
        reason = f"unit timed out after {timeout_s:g} s (log: {log_path})"
    elif code != 0:
        tail = log_path.read_text().strip().splitlines()[-1:] or ["no output"]
        reason = f"worker exited with code {code}: {tail[0][:200]} (log: {log_path})"
    else:
        return
    n = _fail_unfinished(unit, out, reason)
    console.print(f"[red]{unit.backend} instance {unit.instance}: {reason}; {n} cell(s) failed")


def _lines_until(proc: subprocess.Popen, deadline: float):
    """Yield stdout lines; yield None once if the deadline passes first."""
    import selectors

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


def _show_event(event: dict, progress: Progress, task: int, console: Console) -> None:
    if event.get("event") == "cell":
        per = event["per_sim_s"]
        note = " (truncated)" if event.get("truncated") else ""
        status = "" if event["status"] in ("ok", "truncated") else f" [{event['status']}]"
        console.print(f"  {event['backend']:<26} k={event['k']:<6} instance {event['instance']}: "
                      f"{per:8.4f} s per simulated second{note}{status}", soft_wrap=True)
        progress.advance(task)
    elif event.get("event") == "unit":
        console.print(f"  {event['backend']:<26} {event['status']}: {event['reason']}", soft_wrap=True)
    elif event.get("event") == "build":
        progress.advance(task)


PROFILES: dict[str, dict] = {
    # The paper's protocol: 10 instances x 5 runs, 1 s, the paper's k values.
    "full": dict(instances=10, runs=5, duration_ms=None, timesteps=None, cell_budget_s=300.0),
    # A few minutes on a 2-core machine: 1 instance x 2 runs, 100 ms simulated.
    "quick": dict(instances=1, runs=2, duration_ms=100.0, timesteps=(1, 10, 100, 1000),
                  cell_budget_s=20.0),
}
