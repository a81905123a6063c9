"""Run one unit of work in this process: ``python -m benchmarks.worker UNIT_JSON RESULTS_DIR``.

The sweep starts one worker per unit so that Brian2's global device, JAX's memory and any
crash stay inside it. Progress events go to stdout as JSON lines prefixed with ``@@``.

Before anything else the worker pins itself (and so every thread and subprocess it starts:
XLA's thread pool, a Brian2 binary, NEST) to ``unit.threads`` cores, so that "1 thread" means
one core for every backend. Without it XLA:CPU keeps a thread pool as wide as the machine and
hands work between cores (measured on paper8, pure-JAX Spark at k = 1: 170 us per chunk
unpinned, 117 us pinned to one core).

The sweep starts each worker as the leader of a new process group. If the sweep dies, the
kernel sends this worker SIGTERM (``PR_SET_PDEATHSIG``, Linux), and the worker then ends its
whole group: no compiler or binary outlives the sweep that asked for it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path

EVENT_PREFIX = "@@"
SWEEP_PID_ENV = "SPARK_BENCH_SWEEP_PID"


def pin_to_cores(threads: int) -> list[int] | None:
    """Restrict this process to the first ``threads`` of its allowed cores; the cores used,
    or None where the OS offers no affinity control (the unit then runs unpinned)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    cores = allowed[:max(1, threads)]
    os.sched_setaffinity(0, cores)
    return cores


def end_with_parent() -> None:
    """Ask the kernel for SIGTERM when the parent (the sweep) dies, and make SIGTERM end
    this worker's whole process group (it leads one: the sweep starts it in a new session)."""
    def end_group(signum, frame):  # noqa: ARG001 - signal handler signature
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpgrp(), signal.SIGKILL)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, end_group)
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    sweep = os.environ.get(SWEEP_PID_ENV)
    if sweep and os.getppid() != int(sweep):  # the sweep died before the request took effect
        end_group(signal.SIGTERM, None)


def main(argv: list[str]) -> int:
    end_with_parent()
    data = json.loads(argv[0])
    cores = pin_to_cores(int(data["threads"]))
    # Imported only now: nothing may start a thread pool before the affinity is set.
    from .protocol import Unit, run_unit

    data["timesteps"] = tuple(data["timesteps"])
    unit = Unit(**data)

    def emit(event: dict) -> None:
        print(EVENT_PREFIX + json.dumps(event), flush=True)

    emit({"event": "pinned", "cores": cores})
    run_unit(unit, Path(argv[1]), emit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
