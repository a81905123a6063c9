"""Engine speed of spark on paper8 (float32): a plain script, run by hand.

Measures, with wall clocks around synchronised results (``run_chunk`` copies its outputs to
numpy before returning):

* seconds of wall time per simulated second, closed loop (host input stream fed back from
  the previous chunk's counts, as the harness does), at k = 1, 10, 100, 1000, 10000;
* compile seconds cold (empty persistent cache directory) and warm (same directory, a fresh
  simulator after an explicit ``jax.clear_caches()``), with the cache hit flag;
* batched throughput: B = 1, 5, 25 instances (seeds 1..B) in one vmapped program, open loop,
  wall seconds per instance-second.

On a shared machine the absolute numbers are noisy; compare ratios within one run.

    .venv/bin/python benchmarks/engine_speed.py [--duration-ms 1000] [--ks 1,10,100,1000,10000]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import jax
from adapters.spec.inputs import InputStream
from adapters.spark.translate import to_spark
from adapters.spec.materialise import materialise
from adapters.spec.networks import paper8
from spark.engine import BatchedSimulator, Simulator


def closed_loop(sim: Simulator, spec, k: int, n_steps: int) -> tuple[float, int]:
    """Wall seconds for ``n_steps // k`` chunks (one warm-up chunk excluded) and spikes."""
    stream = InputStream(spec, n_steps + k)
    sim.run_chunk(stream.next_chunk(k, None))  # warm-up: compile/load and first touch
    sim.reset()
    stream.reset()
    last, total = None, 0
    start = time.perf_counter()
    for _ in range(n_steps // k):
        last = sim.run_chunk(stream.next_chunk(k, last)).counts
        total += int(last.sum())
    return time.perf_counter() - start, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-ms", type=float, default=1000.0)
    parser.add_argument("--ks", default="1,10,100,1000,10000")
    parser.add_argument("--batches", default="1,5,25")
    parser.add_argument("--batch-k", type=int, default=1000)
    parser.add_argument("--method", default="auto", choices=["auto", "event", "dense", "native"])
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="root for the compile caches (default: a temporary directory)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    base = paper8()
    spec = base.overridden(dtype="float32", duration=args.duration_ms)
    n_steps = spec.simulation.n_steps
    sim_s = n_steps * spec.simulation.dt * 1e-3
    rows: list[dict] = []
    root = args.cache_dir or Path(tempfile.mkdtemp(prefix="spark-speed-"))
    print(f"paper8 float32, {args.duration_ms:g} ms, {platform.processor() or platform.machine()}, "
          f"jax {jax.__version__}; cache root {root}. Shared machine: numbers are noisy.")

    t0 = time.perf_counter()
    net = to_spark(materialise(spec))
    print(f"materialise: {time.perf_counter() - t0:.2f} s, {net.n_synapses} synapses")

    cache = root / "jax"
    t0 = time.perf_counter()
    cold_sim = Simulator(net, method=args.method, cache_dir=root / "cold")
    construct = time.perf_counter() - t0
    cold = cold_sim.compile(1)
    jax.clear_caches()  # what a fresh process pays: the persistent cache only
    warm = Simulator(net, method=args.method, cache_dir=root / "cold").compile(1)
    print(f"construct {construct:.2f} s; {cold_sim.notes}")
    print(f"compile k=1: cold {cold.seconds:.2f} s (hit={cold.cache_hit}), "
          f"warm {warm.seconds:.2f} s (hit={warm.cache_hit})")
    rows += [dict(phase="construct", seconds=construct),
             dict(phase="compile_cold", k=1, seconds=cold.seconds, cache_hit=cold.cache_hit),
             dict(phase="compile_warm", k=1, seconds=warm.seconds, cache_hit=warm.cache_hit)]
    del cold_sim

    sim = Simulator(net, method=args.method, cache_dir=cache)
    for k in (int(x) for x in args.ks.split(",")):
        if n_steps % k:
            print(f"k={k}: skipped (does not divide {n_steps} steps)")
            continue
        compiled = sim.compile(k)
        seconds, spikes = closed_loop(sim, spec, k, n_steps)
        rate = spikes / net.n_neurons / sim_s
        print(f"k={k:>6}: {seconds / sim_s:7.3f} s per simulated s, "
              f"{seconds / (n_steps // k) * 1e3:8.3f} ms per call, {rate:5.1f} Hz "
              f"(compile {compiled.seconds:.2f} s)")
        rows.append(dict(phase="loop", k=k, seconds=seconds, per_sim_s=seconds / sim_s,
                         per_call_ms=seconds / (n_steps // k) * 1e3, rate_hz=rate,
                         compile_s=compiled.seconds))
    del sim

    spikes = InputStream(spec).open_loop()
    k = min(args.batch_k, n_steps)
    for b in (int(x) for x in args.batches.split(",")):
        nets = [to_spark(materialise(spec, seed)) for seed in range(1, b + 1)]
        bsim = BatchedSimulator(nets, method=args.method, cache_dir=cache)
        compiled = bsim.compile(k)
        bsim.run_chunk(np.broadcast_to(spikes[:k], (b, k, spikes.shape[1])))  # warm-up
        bsim.reset()
        start = time.perf_counter()
        for i in range(0, n_steps - n_steps % k, k):
            bsim.run_chunk(np.broadcast_to(spikes[i:i + k], (b, k, spikes.shape[1])))
        seconds = time.perf_counter() - start
        per = seconds / (b * sim_s)
        print(f"batched B={b:>3} (k={k}): {seconds:7.2f} s wall, {per:.3f} s per instance-second "
              f"(compile {compiled.seconds:.2f} s)")
        rows.append(dict(phase="batched", batch=b, k=k, seconds=seconds, per_instance_sim_s=per,
                         compile_s=compiled.seconds))
        del bsim, nets
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
