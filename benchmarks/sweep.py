"""A sweep: backends x execution timesteps x network instances x runs, one subprocess per unit.

The plan is plain data (:class:`~benchmarks.protocol.Unit`); this module only schedules
units, shows progress and turns a crashed or timed-out worker into ``failed`` rows. Units run
on this machine one after another (:class:`LocalExecutor`) or on a Ray cluster
(:mod:`benchmarks.ray_executor`); either way the rows land in one results directory. Re-running
the same command resumes: finished cells are skipped, failed ones are tried again, and a
results directory refuses a sweep that would measure something else (other settings, another
spec content, other simulator versions or another commit). One sweep at a time writes into a
results directory (an exclusive lock held for the sweep's lifetime).

Each worker runs in its own process group (:mod:`benchmarks.unit_process`), so a unit
timeout, Ctrl-C or SIGTERM ends the worker *and* everything it started before the next unit
starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from adapters.files import UnsafePath, open_no_follow, real_folder
from adapters.registry import BACKENDS, FIDELITY_REFERENCE, entry
from adapters.spec import content_digest, dumps_json, load_spec
from adapters.spec.estimate import estimate
from adapters.spec.model import NetworkSpec

from . import provenance
from .protocol import Unit, write_skipped
from .spec_changes import describe
from .results import (ResultRow, failed_cells, finished_cells, load_provenance, write_cell,
                      write_json_atomic)
from .terminal import printable
from .unit_process import failure_reason, worker_events


class SweepError(Exception):
    """A sweep that cannot start (bad settings, a results directory of another sweep)."""


NOT_IDENTITY = frozenset({"unit_timeout_s", "cache_dir", "network"})
"""Settings that change how a sweep runs but not what it measures: a re-run may change them
(e.g. a longer ``--unit-timeout`` to retry cells that timed out) and still resume. The
network is named here as the user typed it (a name, a relative or absolute path, a copy);
the identity holds its content digest instead."""


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

    def identity(self) -> dict:
        """What a resumed sweep must share with the results already in its directory: the
        settings, the spec's *content* (not its path), the simulator versions and the
        commit of this code. Not the output directory, so a re-run resumes."""
        settings = {k: v for k, v in asdict(self).items() if k not in NOT_IDENTITY}
        return {"settings": settings,
                "spec_digest": content_digest(load_spec(self.network)),
                "versions": {name: version for name, version in provenance.versions().items()
                             if name in provenance.result_packages()},
                "git_commit": provenance.git_commit(provenance.ROOT)}

    def sweep_id(self) -> str:
        """12 hex digits identifying :meth:`identity`."""
        return identity_id(self.identity())


def identity_id(identity: dict) -> str:
    """12 hex digits of SHA-256 over a sweep identity (see :meth:`SweepConfig.identity`)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def plan(config: SweepConfig, sweep_id: str | None = None) -> list[Unit]:
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
    if len(set(config.timesteps)) != len(config.timesteps):
        raise SweepError(f"--timesteps {','.join(map(str, config.timesteps))}: each k once")
    if not config.backends:
        raise SweepError("--backends: expected at least one backend")
    if len(set(config.backends)) != len(config.backends):
        raise SweepError(f"--backends {','.join(config.backends)}: each backend once")
    reference = FIDELITY_REFERENCE if FIDELITY_REFERENCE in config.backends else config.backends[0]
    ordered = sorted(config.backends, key=lambda b: b != reference)
    sweep_id = sweep_id or config.sweep_id()
    digest = content_digest(spec)
    return [
        Unit(sweep_id=sweep_id, network=config.network, instance=spec.simulation.seed + i,
             backend=backend, dtype=config.dtype, threads=config.threads,
             timesteps=config.timesteps, runs=config.runs, duration_ms=config.duration_ms,
             cell_budget_s=config.cell_budget_s, cache_dir=config.cache_dir,
             measure_cold=config.measure_cold, fidelity=config.fidelity,
             fidelity_reference=reference, spec_digest=digest)
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
    ids = unit_cells(unit)
    done = finished_cells(out, only=set(ids))
    missing = [c for c in ids if c not in done]
    for cell in missing:
        k_text = cell.rsplit("-k", 1)[1]
        write_cell(out, cell, [ResultRow(
            sweep_id=unit.sweep_id, network=spec.name, instance=unit.instance,
            backend=unit.backend, comparison=entry(unit.backend).comparison,
            loop="" if k_text == "build" else unit.loop,
            k=0 if k_text == "build" else int(k_text),
            run=0, dtype=unit.dtype, threads=unit.threads,
            phase="compile_warm" if k_text == "build" else "loop",
            seconds=float("nan"), status="failed", reason=reason)])
    return len(missing)


@dataclass(frozen=True)
class SweepOutcome:
    """What a finished sweep left in its directory: the cells that failed (the CLI exits
    non-zero when there are any) out of all the sweep's cells."""

    out: Path
    total: int
    failed: tuple[str, ...]


def run_sweep(config: SweepConfig, out: Path, console: Console | None = None,
              executor: Executor | None = None) -> SweepOutcome:
    """Run (or resume) a sweep into ``out``, on this machine unless another ``executor``
    is given (it changes where units run, never what a cell measures)."""
    console = console or Console(stderr=True)
    executor = executor or LocalExecutor()
    out = Path(out)
    identity = config.identity()
    sweep_id = identity_id(identity)
    units = plan(config, sweep_id)
    spec = load_spec(config.network)
    with exclusive_lock(out):
        try:  # what the sweep writes into: folders of its own, never links out of ``out``
            for folder in ("cells", "logs"):
                if os.path.lexists(out / folder):
                    real_folder(out / folder)
        except UnsafePath as err:
            raise SweepError(str(err)) from None
        existing = load_provenance(out)
        if existing and existing.get("sweep_id") != sweep_id:
            raise SweepError(f"{out} holds results of another sweep "
                             f"({_difference(existing, identity, spec)}); "
                             f"resume with the same settings and spec, or start afresh with "
                             f"another --out (or delete {out})")
        if not existing:
            write_json_atomic(out / "provenance.json", provenance.collect(
                sweep_id=sweep_id, network=spec.name, spec_digest=identity["spec_digest"],
                spec=json.loads(dumps_json(spec)),
                neurons=sum(pop.size for pop in spec.populations),
                synapses_expected=round(estimate(spec).synapses),
                profile=config.profile, duration_ms=config.duration_ms or spec.simulation.duration,
                threads=config.threads, settings=asdict(config), executor=executor.name,
                cpu_pinning=(f"each backend process pinned to {config.threads} core(s)"
                             if hasattr(os, "sched_setaffinity") else "none (no affinity control)")))
        cells = {u: unit_cells(u) for u in units}
        all_cells = [cell for c in cells.values() for cell in c]
        _run_units(config, out, units, cells, console, executor)
        failed = tuple(sorted(set(all_cells) & failed_cells(out)))
    if failed:
        console.print(f"[red]done with {len(failed)} failed cell(s) of {len(all_cells)}[/] "
                      f"(reasons in their rows; a re-run tries them again): "
                      + ", ".join(failed[:8]) + (" ..." if len(failed) > 8 else ""), soft_wrap=True)
    console.print(f"done: results in {out}")
    return SweepOutcome(out=out, total=len(all_cells), failed=failed)


def _run_units(config: SweepConfig, out: Path, units: list[Unit], cells: dict[Unit, list[str]],
               console: Console, executor: Executor) -> None:
    memo: dict = {}  # each cell file's verdict, read once (see finished_cells)
    done = finished_cells(out, memo)
    total = sum(len(c) for c in cells.values())

    def count_done() -> int:
        finished = finished_cells(out, memo)
        return sum(1 for c in cells.values() for cell in c if cell in finished)

    already = sum(1 for c in cells.values() for cell in c if cell in done)
    spec = load_spec(config.network)
    console.print(f"[bold]spark-bench run[/] {spec.name} ({config.profile} profile: "
                  f"{config.instances} instance(s) x {config.runs} run(s), "
                  f"{config.duration_ms or spec.simulation.duration:g} ms simulated, dtype "
                  f"{config.dtype}, {config.threads} thread(s), k in {list(config.timesteps)}, "
                  f"budget {config.cell_budget_s:g} s per cell, executor {executor.name}) -> {out}")
    if already:
        console.print(f"resuming: {already} of {total} cells already done")
    refused = _refuse_up_front(units, out, console, executor, memo)
    real_folder(out / "logs")
    finished = finished_cells(out, memo)
    todo = [u for u in units if u not in refused and not all(c in finished for c in cells[u])]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("cells", total=total, completed=count_done())
        feedback = Feedback(
            console=console,
            started=lambda unit: progress.update(
                task, description=f"{unit.backend} (instance {unit.instance})"),
            event=lambda event: _show_event(event, console),
            cells_changed=lambda: progress.update(task, completed=count_done()))
        executor.run(todo, out, config.unit_timeout_s, feedback)
        progress.update(task, completed=count_done())


@dataclass(frozen=True)
class Feedback:
    """How an executor reports progress: a unit started, a worker's event (shown), cells
    written (the progress bar recounts), and the console for one-line messages."""

    console: Console
    started: Callable[[Unit], None]
    event: Callable[[dict], None]
    cells_changed: Callable[[], None]


class Executor(Protocol):
    """Runs a sweep's units and gets their rows into the results directory; the local
    executor below, or :class:`benchmarks.ray_executor.RayExecutor` for a Ray cluster."""

    name: str

    def refusal(self, unit: Unit, spec: NetworkSpec) -> str | None:
        """Why ``unit`` cannot run wherever this executor runs units, or None."""

    def run(self, units: list[Unit], out: Path, timeout_s: float, feedback: Feedback) -> None:
        """Run ``units`` (none finished, none refused) until each has written its cells or
        failed rows that say why."""


class LocalExecutor:
    """One unit after another on this machine, each in a worker process of its own."""

    name = "local"

    def refusal(self, unit: Unit, spec: NetworkSpec) -> str | None:
        return unit.refusal(spec)

    def run(self, units: list[Unit], out: Path, timeout_s: float, feedback: Feedback) -> None:
        for unit in units:
            feedback.started(unit)
            log_path = out / "logs" / f"{unit.cell_id(unit.spec().name, 'unit')}.log"
            for event in worker_events(unit, out, log_path, timeout_s):
                if event["event"] == "exit":
                    reason = failure_reason(event, timeout_s, log_path)
                    if reason is not None:
                        fail_unit(unit, out, reason, feedback.console)
                else:
                    feedback.event(event)
                    feedback.cells_changed()


def fail_unit(unit: Unit, out: Path, reason: str, console: Console) -> None:
    """Write ``failed`` rows with ``reason`` for the unit's unfinished cells and say so."""
    n = _fail_unfinished(unit, out, reason)
    console.print(f"[red]{unit.backend} instance {unit.instance}: {reason}; {n} cell(s) failed",
                  soft_wrap=True)


def _difference(existing: dict, identity: dict, spec: NetworkSpec) -> str:
    """Which part of a sweep's identity differs from the one recorded in provenance.json:
    for the spec, the fields that changed (from the spec provenance.json records), else
    its two content digests (provenance written before the spec was recorded)."""
    said = []
    if existing.get("spec_digest") != identity["spec_digest"]:
        recorded = existing.get("spec")
        if isinstance(recorded, dict):
            said.append("spec fields " + describe(recorded, json.loads(dumps_json(spec))))
        else:
            said.append(f"spec content digest {printable(str(existing.get('spec_digest')))} "
                        f"there, {identity['spec_digest']} now")
    settings = existing.get("settings") or {}
    changed = sorted(k for k, v in identity["settings"].items() if settings.get(k) != v
                     and not (isinstance(v, tuple) and settings.get(k) == list(v)))
    if changed:
        said.append("settings " + ", ".join(changed) + " differ")
    versions = existing.get("versions") or {}
    moved = sorted(k for k, v in identity["versions"].items() if versions.get(k, v) != v)
    if moved:
        said.append("versions of " + ", ".join(
            f"{k} ({versions.get(k)} there, {identity['versions'][k]} now)" for k in moved))
    if existing.get("git_commit") != identity["git_commit"]:
        said.append(f"commit {existing.get('git_commit') or '?'} there, "
                    f"{identity['git_commit'] or '?'} now")
    return "; ".join(said) or f"command {existing.get('command', '?')}"


@contextlib.contextmanager
def exclusive_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.sweep.lock`` (``flock``) for the sweep's lifetime; refuse (SweepError
    naming the holder) when another sweep holds it. The kernel drops the lock when the
    holder dies, so a killed sweep never leaves a stale lock behind."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / ".sweep.lock"
    try:  # never through a link: the lock is truncated when taken and when let go
        fd = open_no_follow(path, os.O_RDWR | os.O_CREAT)
    except UnsafePath as err:
        raise SweepError(str(err)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = printable(os.pread(fd, 4096, 0).decode(errors="replace").strip()) \
                or "unknown process"
            raise SweepError(f"{out}: another sweep is writing here ({holder}); wait for it "
                             "to finish or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}, "
                      f"command: {' '.join(sys.argv)[:300]}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _refuse_up_front(units: list[Unit], out: Path, console: Console,
                     executor: Executor, memo: dict) -> set[Unit]:
    """Write ``skipped`` cells for every unit whose backend's declared capabilities cannot
    run the spec (model, synapse, plasticity, dtype, threads, GPU), without starting a
    worker or materialising anything; return those units."""
    refused: set[Unit] = set()
    said: set[str] = set()
    done = finished_cells(out, memo)
    for unit in units:
        spec = unit.spec()
        reason = executor.refusal(unit, spec)
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


def _show_event(event: dict, console: Console) -> None:
    if event.get("event") == "cell":
        per = event["per_sim_s"]
        note = " (truncated)" if event.get("truncated") else ""
        status = "" if event["status"] in ("ok", "truncated") else f" [{event['status']}]"
        console.print(f"  {event['backend']:<26} k={event['k']:<6} instance {event['instance']}: "
                      f"{per:8.4f} s per simulated second{note}{status}", soft_wrap=True)
    elif event.get("event") == "unit":
        console.print(f"  {event['backend']:<26} {event['status']}: {event['reason']}", soft_wrap=True)


PROFILES: dict[str, dict] = {
    # The paper's protocol: 10 instances x 5 runs, 1 s, the paper's k values.
    "full": dict(instances=10, runs=5, duration_ms=None, timesteps=None, cell_budget_s=300.0),
    # A few minutes on a 2-core machine: 1 instance x 2 runs, 100 ms simulated.
    "quick": dict(instances=1, runs=2, duration_ms=100.0, timesteps=(1, 10, 100, 1000),
                  cell_budget_s=20.0),
}
