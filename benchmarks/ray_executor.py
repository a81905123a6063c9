"""Run a sweep's units on a Ray cluster: ``spark-bench run --executor ray --address ADDR``.

Each unit (one backend x one network instance, every k) becomes one Ray task that runs the
same worker process a local sweep runs (:mod:`benchmarks.remote_unit`), on one node, and
streams its result files back as each cell finishes; the driver writes them atomically into
the one results directory, so a resumed or interrupted sweep behaves as a local one.

Rules that keep timings honest:

* **One timing unit per node at a time.** A node offers the custom resource
  :data:`SLOT` (``ray start ... --resources '{"spark_bench_slot": 1}'``) and every unit
  asks for one, plus ``--threads`` CPUs; inside the unit the worker pins itself to its cores
  as it does locally. Start one Ray node per machine: two nodes on one machine would time
  two units side by side on shared cores.
* **GPU units only on GPU nodes** (``num_gpus=1`` for backends that need a GPU); a cluster
  without a GPU node refuses them up front, with the reason, as a GPU-less machine does.
* **Ratios within a machine.** The backends of one network instance run after its fidelity
  reference (they need its spikes) and are steered (softly) to the reference's node; every
  row names its machine, and the report never divides times of two machines.
* **Same code everywhere.** A node whose commit or simulator versions differ from the
  driver's refuses the unit (failed rows with the reason).

Faults: a worker that dies mid-unit leaves its finished cells (already streamed back) and
``failed`` rows for the rest; a task lost with its node (or a crashed Ray worker) is tried
again up to ``retries`` times, then its unfinished cells fail with the reason; a re-run of the
same command (resume) measures only what is missing.
"""

from __future__ import annotations

import csv
import math
import os
import socket
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import ray
from ray.exceptions import RayError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from adapters.files import open_no_follow, real_folder, write_bytes_atomic, write_text_atomic
from adapters.registry import entry
from adapters.spec.model import NetworkSpec

from . import provenance
from .protocol import Unit, spike_file
from .remote_unit import Seed, result_path, run_on_node, seed_for
from .results import finished_cells, write_json_atomic
from .sweep import Feedback, SweepError, fail_unit, unit_cells
from .unit_process import failure_reason

SLOT = "spark_bench_slot"
"""The custom Ray resource a node offers to admit one timing unit at a time."""

START_RECIPE = (f"ray start --head --port 6379 --resources '{{\"{SLOT}\": 1}}' on one machine, "
                f"ray start --address HEAD:6379 --resources '{{\"{SLOT}\": 1}}' on each other one")

NO_NODE_GRACE_S = 120.0
"""How long a sweep waits for a node with a slot to (re)appear before it fails the units
still to run (``SPARK_BENCH_RAY_NO_NODE_GRACE_S`` overrides it, e.g. in tests)."""

UNIT_LOG_COLUMNS = ("unit", "attempt", "machine", "node_id", "outcome", "submitted", "task_started",
                    "returned", "worker_s", "task_s")


def _unit_task(seed: Seed, timeout_s: float):
    """The Ray task: :func:`run_on_node`'s messages, each tagged with this node's Ray id."""
    node_id = ray.get_runtime_context().get_node_id()
    for message in run_on_node(seed, timeout_s):
        yield {**message, "node_id": node_id}


@dataclass
class Attempt:
    """One submission of a unit: which try, when, and what has come back so far."""

    unit: Unit
    number: int
    submitted: float


class RayExecutor:
    """Units as Ray tasks on the cluster at ``address`` (see the module docstring)."""

    def __init__(self, address: str, retries: int = 1) -> None:
        self.address = address
        self.retries = retries
        _check_reachable(address)  # ray.init would retry for minutes
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise SweepError(f"--address {address}: no Ray cluster to join there ({first[:200]}); "
                             f"start one with: {START_RECIPE}") from None
        self.nodes = [n for n in ray.nodes() if n.get("Alive") and n["Resources"].get(SLOT, 0) >= 1]
        if not self.nodes:
            ray.shutdown()
            raise SweepError(f"--address {address}: no node of that Ray cluster offers the resource "
                             f"{SLOT!r} that admits timing units; start nodes with: {START_RECIPE}")
        self.name = f"ray at {address}, {len(self.nodes)} node(s)"

    def refusal(self, unit: Unit, spec: NetworkSpec) -> str | None:
        caps = entry(unit.backend).capabilities
        reason = caps.refusal(spec, unit.threads, None)
        if reason is not None:
            return reason
        fits = [n for n in self.nodes if n["Resources"].get("CPU", 0) >= unit.threads]
        if caps.needs_gpu:
            fits = [n for n in fits if n["Resources"].get("GPU", 0) >= 1]
            if not fits:
                return (f"needs a CUDA GPU; no node of the Ray cluster with a {SLOT!r} has one "
                        f"and {unit.threads} CPU(s)")
        if not fits:
            return f"asks for {unit.threads} core(s); no node of the Ray cluster offers that many CPUs"
        return None

    def run(self, units: list[Unit], out: Path, timeout_s: float, feedback: Feedback) -> None:
        run = _ClusterRun(self, out, timeout_s, feedback)
        try:
            run.go(units)
        finally:
            run.cancel_all()
            ray.shutdown()
        run.summarise()


class _NodeWatch:
    """Notices a cluster left without any node that offers a slot (checked every few seconds)."""

    def __init__(self, grace_s: float | None = None, every_s: float = 5.0) -> None:
        self.grace_s = grace_s if grace_s is not None else float(
            os.environ.get("SPARK_BENCH_RAY_NO_NODE_GRACE_S", NO_NODE_GRACE_S))
        self.every_s = every_s
        self.checked = self.seen = time.monotonic()

    def none_for_too_long(self) -> bool:
        now = time.monotonic()
        if now - self.checked >= min(self.every_s, self.grace_s):
            self.checked = now
            if any(n.get("Alive") and n["Resources"].get(SLOT, 0) >= 1 for n in ray.nodes()):
                self.seen = now
        return now - self.seen > self.grace_s


class _ClusterRun:
    """One executor run: submissions, the messages that come back, retries."""

    def __init__(self, executor: RayExecutor, out: Path, timeout_s: float, feedback: Feedback) -> None:
        self.executor, self.out, self.timeout_s, self.feedback = executor, out, timeout_s, feedback
        self.task = ray.remote(_unit_task)
        self.in_flight: dict = {}  # ObjectRefGenerator -> Attempt
        self.after_reference: dict[tuple[int, str], list[Unit]] = defaultdict(list)
        self.expected = {"git_commit": provenance.git_commit(provenance.ROOT),
                         "versions": {k: v for k, v in provenance.versions().items()
                                      if k in provenance.result_packages()}}
        self.records: list[dict] = []

    # ------------------------------------------------------------------ scheduling

    def go(self, units: list[Unit]) -> None:
        references = {(u.instance, u.dtype) for u in units if u.fidelity and u.backend == u.fidelity_reference}
        for unit in units:
            key = (unit.instance, unit.dtype)
            if key in references and unit.backend != unit.fidelity_reference:
                self.after_reference[key].append(unit)  # needs the reference's spikes
            else:
                self.submit(unit, 1)
        watch = _NodeWatch()
        while self.in_flight:
            ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=1.0)
            for generator in ready:
                self.receive(generator)
            if not ready and watch.none_for_too_long():
                return self.abandon(f"no node of the Ray cluster has offered a {SLOT!r} for "
                                    f"{watch.grace_s:g} s (all gone?)")

    def abandon(self, reason: str) -> None:
        """Fail every unit still running or waiting with ``reason`` (the cluster lost every
        node that could run it: Ray would keep the tasks pending forever)."""
        waiting = [u for units in self.after_reference.values() for u in units]
        self.after_reference.clear()
        running = [attempt.unit for attempt in self.in_flight.values()]
        self.cancel_all()
        for unit in running + waiting:
            fail_unit(unit, self.out, reason, self.feedback.console)
        self.feedback.cells_changed()

    def submit(self, unit: Unit, number: int, node_id: str | None = None) -> None:
        spec = unit.spec()
        ids = unit_cells(unit)
        done = finished_cells(self.out, only=set(ids))
        cells = [c for c in ids if c in done]
        reference = (spike_file(self.out, spec.name, unit.instance, unit.fidelity_reference, unit.dtype)
                     if unit.fidelity and unit.backend != unit.fidelity_reference else None)
        seed = seed_for(unit, self.out, cells, reference, self.expected)
        options: dict = dict(num_cpus=unit.threads, resources={SLOT: 1}, max_retries=0,
                             num_gpus=1 if entry(unit.backend).capabilities.needs_gpu else 0)
        if node_id:
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=True)
        generator = self.task.options(**options).remote(seed, self.timeout_s)
        self.in_flight[generator] = Attempt(unit, number, time.time())
        self.feedback.started(unit)

    def release(self, unit: Unit, node_id: str | None) -> None:
        """The reference of ``unit``'s instance is done: its other backends may start, on
        the same node if it is free (so that their ratios are of one machine)."""
        if unit.backend == unit.fidelity_reference:
            for waiting in self.after_reference.pop((unit.instance, unit.dtype), []):
                self.submit(waiting, 1, node_id)

    # ------------------------------------------------------------------ messages

    def receive(self, generator) -> None:
        attempt = self.in_flight.pop(generator)
        try:
            message = ray.get(next(generator))
        except StopIteration:
            return self.lost(attempt, "the task ended without a result")
        except RayTaskError as err:  # an exception in our code on the node: not retried
            return self.finish(attempt, None, f"the unit's task raised {_last_line(err)}")
        except RayError as err:  # node gone, Ray worker killed, object lost
            return self.lost(attempt, f"{type(err).__name__}: {_last_line(err)}")
        self.store_files(message.get("files", {}))
        if message["kind"] == "progress":
            self.feedback.event(message["event"])
            self.feedback.cells_changed()
            self.in_flight[generator] = attempt
            return
        self.write_machine(message["machine"])
        log_path = real_folder(self.out / "logs") / f"{attempt.unit.cell_id(attempt.unit.spec().name, 'unit')}.log"
        write_text_atomic(log_path, f"# ran on {message['machine']['machine']} (Ray node "
                                    f"{message['node_id']}), attempt {attempt.number}\n"
                                    + message.get("log", ""))
        if "refused" in message:
            reason = f"node refused the unit: {message['refused']}"
        else:
            reason = failure_reason(message["exit"], self.timeout_s, log_path)
        self.record(attempt, message, "ok" if reason is None else "failed")
        self.finish(attempt, message["node_id"], reason)

    def finish(self, attempt: Attempt, node_id: str | None, reason: str | None) -> None:
        if reason is not None:
            fail_unit(attempt.unit, self.out, reason, self.feedback.console)
        self.feedback.cells_changed()
        self.release(attempt.unit, node_id)

    def lost(self, attempt: Attempt, why: str) -> None:
        """The task died with its node or its Ray worker: try again (it resumes after the
        cells it streamed back), or fail the rest with the reason."""
        self.record(attempt, {}, f"lost: {why}")
        if attempt.number <= self.executor.retries:
            self.feedback.console.print(
                f"[yellow]{attempt.unit.backend} instance {attempt.unit.instance}: lost on the "
                f"cluster ({why}); trying again (attempt {attempt.number + 1})", soft_wrap=True)
            return self.submit(attempt.unit, attempt.number + 1)
        self.finish(attempt, None, f"lost on the Ray cluster after {attempt.number} attempt(s): {why}")

    def store_files(self, files: dict[str, bytes]) -> None:
        for relative, data in files.items():
            target = self.out / result_path(relative)
            write_bytes_atomic(real_folder(target.parent) / target.name, data)

    def write_machine(self, record: dict) -> None:
        name = provenance.machine_folder_name(record["machine"])
        write_json_atomic(real_folder(self.out / "machines") / f"{name}.json", record)

    # ------------------------------------------------------------------ bookkeeping

    def record(self, attempt: Attempt, message: dict, outcome: str) -> None:
        exit_event = message.get("exit") or {}
        self.records.append({
            "unit": attempt.unit.cell_id(attempt.unit.spec().name, "unit"), "attempt": attempt.number,
            "machine": (message.get("machine") or {}).get("machine", ""),
            "node_id": message.get("node_id", ""), "outcome": outcome,
            "submitted": attempt.submitted, "task_started": message.get("task_started", math.nan),
            "returned": time.time(), "worker_s": exit_event.get("seconds", math.nan),
            "task_s": message.get("task_s", math.nan)})
        path = real_folder(self.out / "logs") / "ray_units.csv"
        new = not path.exists()
        with os.fdopen(open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a",
                       newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=UNIT_LOG_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(self.records[-1])

    def cancel_all(self) -> None:
        """Ctrl-C, SIGTERM or an error here: end every task still running (its worker
        process group ends with it)."""
        for generator in list(self.in_flight):
            try:
                ray.cancel(generator, force=True)
            except (RayError, TypeError, ValueError):
                pass
        self.in_flight.clear()

    def summarise(self) -> None:
        """One line: units, machines, and the seconds Ray adds per unit on the node around
        the worker (seeding, file return, task start) — not the queueing."""
        done = [r for r in self.records if r["outcome"] == "ok"]
        if not done:
            return
        overhead = [r["task_s"] - r["worker_s"] for r in done]
        machines = sorted({r["machine"] for r in done})
        self.feedback.console.print(
            f"ray: {len(done)} unit(s) on {len(machines)} machine(s) ({', '.join(machines)}); "
            f"node-side overhead per unit outside the worker: median {statistics.median(overhead):.3f} s "
            f"(per unit in {self.out / 'logs' / 'ray_units.csv'})", soft_wrap=True)


CONNECT_TIMEOUT_S = 10.0


def _check_reachable(address: str) -> None:
    """SweepError (one line, with the recipe) unless something accepts connections at the
    head's HOST:PORT."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--address {address!r}: expected HOST:PORT of the Ray cluster's head "
                         "(e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise SweepError(f"--address {address}: no Ray cluster answers there ({err.strerror or err}); "
                         f"start one with: {START_RECIPE}") from None


def _last_line(err: BaseException) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(err).__name__
