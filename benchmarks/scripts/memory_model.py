"""Per-backend memory model: peak resident memory of one fresh process per (backend, size).

The shared estimate (:mod:`adapters.spec.estimate`) counts the arrays every backend holds;
a sweep worker also holds an interpreter, a simulator library, a compiled program and the
simulator's own copy of the network. This script measures that, the way a sweep worker
lives: for every backend and every network size it starts ONE fresh Python process that

1. imports the backend and its simulator (``import_hwm``: the baseline),
2. materialises a paper8-like network (``materialise_hwm``),
3. prepares the backend (``prepare_hwm``): with ``--builds cold`` (the default) from an
   empty cache (``BackendOptions(cold=True)``: every compiler the backend has runs in this
   process, as in a sweep worker's ``compile_cold`` step, which every worker runs unless
   ``--no-cold``), with ``--builds shared`` from a cache shared by the processes (a warm
   worker's figure where the cache holds the build),
4. runs the whole duration in chunks (closed loop, k = 50) or in one call (open loop),

and reports its own ``VmHWM`` (``/proc/self/status``) after each stage. Descendants are
measured on their own: a thread polls ``/proc`` every 50 ms while the backend prepares, and
``build_peak`` is the largest summed ``VmRSS`` of the descendants that ended during
``prepare`` (Brian2's ``make`` and its compilers, Cython's; sampled, so a compiler living
under 50 ms can be missed), ``child_hwm`` the ``VmHWM`` of every descendant still alive after
the run (Brian2's resident C++ binary), read before the backend is closed. ``peak`` = own
``VmHWM`` + ``child_hwm``: what the worker and its binary hold together; a build's compilers
run while the worker holds ``prepare_hwm`` at most, so ``prepare_hwm + build_peak`` bounds
the build's moment. (``RUSAGE_CHILDREN`` cannot give the compilers' peak: a child's
``ru_maxrss`` starts from its parent's resident size at the fork, so every compiler reads as
at least the worker's own size.)

The networks are :func:`adapters.spec.networks.pools_network` (8 pools, the structure of
paper8) at the pool size of paper8 (1024, so 8,192 neurons and 1,024 inputs: the neuron
count is held fixed, and no per-neuron figure is fitted) with every connection probability
scaled so that the expected synapse count is ``--synapses`` (millions), float64, dt 0.1 ms,
``--duration`` ms. The fit per backend is least squares of ``peak = base + bytes_per_synapse
x synapses`` over the sizes (the base is the fit's intercept; ``import_hwm`` is printed
beside it).

With ``--builds shared``, Brian2's C++ modes share one build per network (flavour
``cpp-resident``): ``brian2-cpp`` builds (its row has the build) and
``brian2-cpp-uninterrupted`` then finds it in the cache (no code generation in its process:
~1 GiB less at 12 M synapses); the Cython cache is shared by the sizes (the generated code
does not depend on them), so only the first ``brian2-runtime`` row compiles. The default,
``cold``, builds in every process, so that every row is a worker that builds and the fit
is over like rows. ``--cache-dir`` defaults to a fresh directory under ``--out`` so that
reruns measure the same thing.

    .venv/bin/python -m benchmarks.scripts.memory_model --out /tmp/spark-bench-memory-model

writes ``rows.json``, ``rows.csv`` and ``fit.json`` there and prints both tables. One
process at a time (the measurements must not share the machine's memory).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a file as well as with -m
    sys.path.insert(0, str(ROOT))

BACKENDS = ("spark", "spark-native", "nest", "brian2-cpp", "brian2-cpp-uninterrupted",
            "brian2-runtime")
"""Measured in this order (brian2-cpp before brian2-cpp-uninterrupted: it builds, the other
reuses the build)."""

OPEN_LOOP_ONLY = frozenset({"brian2-cpp-uninterrupted"})
POOLS, POOL_SIZE = 8, 1024
CHUNK_STEPS = 50


def _import_jax() -> None:
    import jax  # noqa: F401
    import spark  # noqa: F401


def _import_brian2() -> None:
    import brian2  # noqa: F401


def _import_nest() -> None:
    from adapters.nest.kernel import import_nest

    import_nest("nest")


SIMULATOR_IMPORT: dict[str, Callable[[], None]] = {
    "spark": _import_jax, "spark-native": _import_jax, "nest": _import_nest,
    "brian2-cpp": _import_brian2, "brian2-cpp-uninterrupted": _import_brian2,
    "brian2-runtime": _import_brian2,
}
"""What "after imports" means per backend: its simulator, imported explicitly (the backend
modules import theirs lazily, inside ``prepare``)."""


# --------------------------------------------------------------------------- /proc readers


def _status_kib(pid: int | str, field: str) -> int:
    """A ``kB`` field of ``/proc/PID/status`` (``VmHWM``, ``VmRSS``); 0 when gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(root: int) -> list[int]:
    """Every live process below ``root`` (from ``/proc/*/stat``'s parent pids)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parent[int(entry)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [child for child, ppid in parent.items() if ppid == pid]
        found += kids
        frontier += kids
    return found


class DescendantSampler:
    """Polls the live descendants of this process on a thread while in its ``with`` block.
    :attr:`gone_peak_kib`: the largest sum of ``VmRSS`` over the descendants that had
    ended by the block's end (the build's make and compilers, not the binary it started)."""

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self.samples: list[dict[int, int]] = []
        self.gone_peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples.append({pid: _status_kib(pid, "VmRSS")
                                 for pid in _descendants(os.getpid())})

    def __enter__(self) -> DescendantSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        alive = set(_descendants(os.getpid()))
        self.gone_peak_kib = max((sum(rss for pid, rss in sample.items() if pid not in alive)
                                  for sample in self.samples), default=0)


# --------------------------------------------------------------------------- networks


def network(synapses_m: float, duration_ms: float):
    """paper8's structure at pool size 1024 with the probability scaled to ``synapses_m``
    million expected synapses (float64)."""
    from adapters.spec.estimate import estimate
    from adapters.spec.networks import pools_network

    def build(p: float):
        return pools_network(f"memmodel{synapses_m:g}M".replace(".", "p"), POOLS, POOL_SIZE,
                             p=p, description="memory model").overridden(
            dtype="float64", duration=duration_ms)

    per_unit_p = estimate(build(1.0)).synapses
    return build(min(1.0, synapses_m * 1e6 / per_unit_p))


# --------------------------------------------------------------------------- one process


@dataclass
class Row:
    backend: str
    builds: str  # "cold": built from an empty cache; "shared": from the shared cache
    synapses_m: float  # the size asked for
    synapses: int  # materialised
    neurons: int
    duration_ms: float
    import_hwm_mib: float
    materialise_hwm_mib: float
    prepare_hwm_mib: float
    run_hwm_mib: float
    child_hwm_mib: float  # live descendants after the run (the resident binary)
    build_peak_mib: float  # largest summed VmRSS of the descendants that ended in prepare
    peak_mib: float  # run_hwm + child_hwm
    cache_hit: bool | None
    prepare_s: float
    run_s: float
    total_s: float
    status: str = "ok"
    reason: str = ""


def measure(backend_name: str, synapses_m: float, duration_ms: float, cache_dir: Path,
            builds: str) -> Row:
    """Everything in this (fresh) process: import, materialise, prepare, run, read peaks."""
    t_start = time.perf_counter()
    mib = 1.0 / 1024.0
    from adapters.base import BackendOptions
    from adapters.registry import load_backend
    from adapters.spec import materialise
    from adapters.spec.inputs import InputStream
    from benchmarks.protocol import closed_loop_pass, open_loop_pass

    backend_cls = load_backend(backend_name)
    SIMULATOR_IMPORT[backend_name]()
    import_hwm = _status_kib("self", "VmHWM")
    spec = network(synapses_m, duration_ms)
    net = materialise(spec, 1)
    materialise_hwm = _status_kib("self", "VmHWM")
    backend = backend_cls()
    t0 = time.perf_counter()
    try:
        with DescendantSampler() as build:
            report = backend.prepare(net, BackendOptions(cache_dir=cache_dir,
                                                         cold=builds == "cold"))
        prepare_s = time.perf_counter() - t0
        build_peak = build.gone_peak_kib
        prepare_hwm = _status_kib("self", "VmHWM")
        stream = InputStream(net.spec)
        t1 = time.perf_counter()
        if backend_name in OPEN_LOOP_ONLY:
            open_loop_pass(backend, stream.open_loop())
        else:
            closed_loop_pass(backend, stream, CHUNK_STEPS, net.n_steps // CHUNK_STEPS)
        run_s = time.perf_counter() - t1
        run_hwm = _status_kib("self", "VmHWM")
        child_hwm = sum(_status_kib(pid, "VmHWM") for pid in _descendants(os.getpid()))
    finally:
        backend.close()
    return Row(backend=backend_name, builds=builds, synapses_m=synapses_m,
               synapses=int(net.n_synapses), neurons=int(net.n_neurons), duration_ms=duration_ms,
               import_hwm_mib=import_hwm * mib, materialise_hwm_mib=materialise_hwm * mib,
               prepare_hwm_mib=prepare_hwm * mib, run_hwm_mib=run_hwm * mib,
               child_hwm_mib=child_hwm * mib, build_peak_mib=build_peak * mib,
               peak_mib=(run_hwm + child_hwm) * mib, cache_hit=report.cache_hit,
               prepare_s=prepare_s, run_s=run_s, total_s=time.perf_counter() - t_start)


def child_main(args: argparse.Namespace) -> int:
    row = measure(args.backend, args.one_size, args.duration, Path(args.cache_dir), args.builds)
    Path(args.result).write_text(json.dumps(asdict(row)))
    return 0


# --------------------------------------------------------------------------- the sweep


def run_one(backend: str, size: float, args: argparse.Namespace, out: Path) -> Row:
    result = out / f"row-{backend}-{size:g}M.json"
    log = out / f"log-{backend}-{size:g}M.txt"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.scripts.memory_model", "--child",
           "--backend", backend, "--one-size", repr(size), "--duration", repr(args.duration),
           "--cache-dir", str(args.cache_dir), "--builds", args.builds,
           "--result", str(result)]
    start = time.perf_counter()
    status, reason = "ok", ""
    with open(log, "w") as fh:
        try:
            proc = subprocess.run(cmd, cwd=str(ROOT), stdout=fh, stderr=subprocess.STDOUT,
                                  timeout=args.timeout)
            if proc.returncode != 0:
                status, reason = "failed", f"exit {proc.returncode}; see {log}"
        except subprocess.TimeoutExpired:
            status, reason = "failed", f"timed out after {args.timeout} s; see {log}"
    if status == "ok" and result.exists():
        return Row(**json.loads(result.read_text()))
    nan = float("nan")
    return Row(backend=backend, builds=args.builds, synapses_m=size, synapses=0, neurons=0,
               duration_ms=args.duration,
               import_hwm_mib=nan, materialise_hwm_mib=nan, prepare_hwm_mib=nan,
               run_hwm_mib=nan, child_hwm_mib=nan, build_peak_mib=nan, peak_mib=nan,
               cache_hit=None, prepare_s=nan, run_s=nan, total_s=time.perf_counter() - start,
               status="failed", reason=reason or f"no result; see {log}")


def fit(rows: list[Row]) -> dict[str, dict]:
    """Per backend: least squares ``peak = base + bytes_per_synapse x synapses`` (bytes)."""
    out: dict[str, dict] = {}
    for backend in dict.fromkeys(r.backend for r in rows):
        ok = [r for r in rows if r.backend == backend and r.status == "ok"]
        if len({r.synapses for r in ok}) < 2:
            continue
        x = np.array([r.synapses for r in ok], float)
        y = np.array([r.peak_mib for r in ok], float) * 2**20
        slope, intercept = np.polyfit(x, y, 1)
        residual = float(np.max(np.abs(y - (intercept + slope * x))))
        build = [r.build_peak_mib for r in ok if r.build_peak_mib > 0]
        out[backend] = {
            "base_bytes": float(intercept), "bytes_per_synapse": float(slope),
            "max_residual_bytes": residual, "points": len(ok),
            "import_hwm_bytes": float(np.median([r.import_hwm_mib for r in ok])) * 2**20,
            "build_peak_bytes": max(build) * 2**20 if build else 0.0,
            "synapses": [int(v) for v in x],
        }
    return out


def print_tables(rows: list[Row], fits: dict[str, dict]) -> None:
    print(f"{'backend':<26}{'size':>6}{'synapses':>12}{'import':>9}{'mat.':>8}{'prepare':>9}"
          f"{'run':>8}{'binary':>8}{'peak':>8}{'build':>8}{'secs':>7}  status")
    for r in rows:
        print(f"{r.backend:<26}{r.synapses_m:>5g}M{r.synapses:>12,d}{r.import_hwm_mib:>9.0f}"
              f"{r.materialise_hwm_mib:>8.0f}{r.prepare_hwm_mib:>9.0f}{r.run_hwm_mib:>8.0f}"
              f"{r.child_hwm_mib:>8.0f}{r.peak_mib:>8.0f}{r.build_peak_mib:>8.0f}"
              f"{r.total_s:>7.0f}  {r.status}{(': ' + r.reason) if r.reason else ''}")
    print("(MiB: VmHWM after imports / materialise / prepare / run, the resident binary's "
          "VmHWM, peak = run + binary, build = make and compilers during prepare, summed)")
    print()
    print(f"{'backend':<26}{'base MiB':>10}{'B/synapse':>11}{'max resid MiB':>15}"
          f"{'import MiB':>12}{'build MiB':>11}")
    for name, f in fits.items():
        print(f"{name:<26}{f['base_bytes'] / 2**20:>10.0f}{f['bytes_per_synapse']:>11.1f}"
              f"{f['max_residual_bytes'] / 2**20:>15.1f}{f['import_hwm_bytes'] / 2**20:>12.0f}"
              f"{f['build_peak_bytes'] / 2**20:>11.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/spark-bench-memory-model"))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--synapses", default="1,4,12",
                        help="network sizes: expected synapses in millions, comma-separated")
    parser.add_argument("--duration", type=float, default=50.0, help="simulated ms per run")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="build cache shared by the processes (default: OUT/cache)")
    parser.add_argument("--builds", choices=("cold", "shared"), default="cold",
                        help="cold: every process builds from an empty cache (a sweep worker); "
                             "shared: builds are reused between processes where possible")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--one-size", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    args.cache_dir = (args.cache_dir or out / "cache").resolve()
    sizes = [float(s) for s in args.synapses.split(",") if s.strip()]
    backends = [b for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in SIMULATOR_IMPORT]
    if unknown:
        parser.error(f"--backends: not measured by this script: {', '.join(unknown)}")
    rows: list[Row] = []
    for size in sizes:
        for backend in backends:
            row = run_one(backend, size, args, out)
            rows.append(row)
            print(f"{backend} {size:g}M: peak {row.peak_mib:.0f} MiB, "
                  f"build {row.build_peak_mib:.0f} MiB, {row.total_s:.0f} s {row.status} "
                  f"{row.reason}", flush=True)
            (out / "rows.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    with open(out / "rows.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    fits = fit(rows)
    (out / "fit.json").write_text(json.dumps(fits, indent=1))
    print(f"\nbuilds: {args.builds}; {args.duration:g} ms float64; cache {args.cache_dir}")
    print_tables(rows, fits)
    print(f"\nrows: {out / 'rows.json'}, {out / 'rows.csv'}; fit: {out / 'fit.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
