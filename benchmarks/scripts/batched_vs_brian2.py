"""Throughput of B network instances: Spark native batched in one program vs B sequential
Brian2 C++ standalone runs. A plain script, run by hand (it builds B Brian2 projects).

Every instance (seeds 1..B of the spec) gets the same open-loop input spikes. Times are
loop-only wall clocks of synchronised runs (builds and compiles excluded, reported apart):

* Spark: one ``BatchedSimulator`` (native fused kernel) over all B, chunks of ``--k`` steps,
  one warm-up pass excluded, for each thread count in ``--threads``;
* Brian2: ``brian2-cpp-uninterrupted`` (1 thread) built and run once per instance, one
  warm-up run excluded; the B loop times are summed (what B sequential runs cost).

    .venv/bin/python benchmarks/batched_vs_brian2.py [--batch 25] [--duration-ms 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from adapters.base import BackendOptions
from adapters.spec.inputs import InputStream
from adapters.spark.translate import to_spark
from adapters.spec.materialise import materialise
from adapters.spec.networks import paper8
from benchmarks.protocol import open_loop_pass
from adapters.registry import load_backend
from spark.engine import BatchedSimulator


def spark_batched(nets, spikes: np.ndarray, k: int, threads: int) -> tuple[float, float]:
    """(compile seconds, loop seconds) of one batched pass after a warm-up pass."""
    sim = BatchedSimulator([to_spark(n) for n in nets], method="native", threads=threads)
    compiled = sim.compile(k)
    b = len(nets)

    def run() -> float:
        sim.reset()
        start = time.perf_counter()
        for i in range(0, spikes.shape[0], k):
            sim.run_chunk(np.broadcast_to(spikes[i:i + k], (b, k, spikes.shape[1])))
        return time.perf_counter() - start

    run()  # warm-up
    return compiled.seconds, run()


def brian2_sequential(nets, spikes: np.ndarray, cache: Path) -> tuple[float, float]:
    """(summed build seconds, summed loop seconds) of one run per instance."""
    cls = load_backend("brian2-cpp-uninterrupted")
    build = loop = 0.0
    for i, net in enumerate(nets, 1):
        backend = cls()
        start = time.perf_counter()
        backend.prepare(net, BackendOptions(threads=1, cache_dir=cache))
        build += time.perf_counter() - start
        open_loop_pass(backend, spikes)  # warm-up (first touch of the binary and data)
        loop += open_loop_pass(backend, spikes).seconds
        backend.close()
        print(f"  brian2 instance {i}/{len(nets)}: loop so far {loop:.2f} s", flush=True)
    return build, loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--duration-ms", type=float, default=1000.0)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--k", type=int, default=1000, help="steps per Spark call")
    parser.add_argument("--threads", default="1,2", help="Spark thread counts to measure")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    spec = paper8()
    spec = spec.overridden(dtype=args.dtype, duration=args.duration_ms)
    spikes = InputStream(spec).open_loop()
    if spikes.shape[0] % args.k:
        parser.error(f"--k {args.k} must divide the {spikes.shape[0]} steps")
    sim_s = spikes.shape[0] * spec.simulation.dt * 1e-3
    start = time.perf_counter()
    nets = [materialise(spec, seed) for seed in range(1, args.batch + 1)]
    print(f"paper8 {args.dtype}, {args.duration_ms:g} ms, B={args.batch}: materialised in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        compile_s, loop = spark_batched(nets, spikes, args.k, threads)
        rows.append((f"spark-native batched, {threads} thread(s)", compile_s, loop))
        print(f"  {rows[-1][0]}: {loop:.2f} s loop, compile {compile_s:.2f} s", flush=True)
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="batched-brian2-"))
    build, loop = brian2_sequential(nets, spikes, cache)
    rows.append(("brian2-cpp-uninterrupted, sequential, 1 thread", build, loop))
    print(f"\n{'mode':<48} {'loop s':>8} {'inst-s/s':>9} {'vs brian2':>9}  build/compile s")
    for name, prep, seconds in rows:
        print(f"{name:<48} {seconds:8.2f} {args.batch * sim_s / seconds:9.2f} "
              f"{loop / seconds:8.2f}x  {prep:.1f}")


if __name__ == "__main__":
    main()
