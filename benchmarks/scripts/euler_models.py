"""spark (pure JAX) vs spark-native on paper8 with its LIF pools replaced by Izhikevich or
AdEx neurons, float32, one core: seconds per simulated second at k = 1 and k = 100.

    python -m benchmarks.scripts.euler_models [--before DIR] [--repeats 3] [--out FILE]

Every configuration runs in a fresh subprocess pinned to core 0 (``taskset``), the
configurations alternating within each repeat, so the ratios are side by side. ``--before``
names a directory holding an older ``spark`` package (e.g. ``git archive COMMIT spark | tar
-x -C DIR``) to compare against: it shadows this checkout's ``spark`` in the workers marked
"before". Quoted in the note of the commit that fused AdEx/Izhikevich (99e0608).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = {1: 2000, 100: 10000}
WARMUP_STEPS = 200


def worker(model: str, method: str) -> dict:
    from adapters.spark.translate import to_spark
    from adapters.spec.inputs import InputStream
    from adapters.spec.materialise import materialise
    from adapters.spec.model import AdEx, Izhikevich, Uniform
    from adapters.spec.networks import paper8
    from spark.engine import Simulator

    spec = paper8()
    neuron = (Izhikevich(i_offset=3.0, t_ref=2.0) if model == "izh"
              else AdEx(v_rest=-65.0, v_reset=-65.0, i_offset=14.0, t_ref=2.0))
    pops = tuple(replace(p, model=neuron, initial={"v": Uniform(low=-70.0, high=-60.0)})
                 for p in spec.populations)
    spec = replace(spec, populations=pops,
                   simulation=replace(spec.simulation, dtype="float32", duration=1000.0))
    net = materialise(spec, 1)
    x = InputStream(net.spec, max(STEPS.values()) + WARMUP_STEPS).open_loop()
    out: dict = {"model": model, "method": method}
    for k, steps in STEPS.items():
        sim = Simulator(to_spark(net), method=method)
        sim.compile(k)
        out["notes"] = sim.notes
        for s in range(0, WARMUP_STEPS, k):
            sim.run_chunk(x[s:s + k])
        spikes = 0
        start = time.perf_counter()
        for s in range(WARMUP_STEPS, WARMUP_STEPS + steps, k):
            spikes += int(sim.run_chunk(x[s:s + k]).counts.sum())  # counts on the host: synchronised
        out[f"k{k}"] = (time.perf_counter() - start) / (steps * net.dt * 1e-3)
        out[f"spikes_per_step_k{k}"] = spikes / steps
    return out


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="a directory holding an older spark package")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write every result as JSON here")
    args = parser.parse_args(argv)
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    trees = {"now": str(ROOT)} | ({"before": f"{args.before}:{ROOT}"} if args.before else {})
    configs = [(tree, model, method) for model in ("izh", "adex") for tree in trees
               for method in ("auto", "native")]
    results = []
    for repeat in range(args.repeats):
        for tree, model, method in configs:
            proc = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", __spec__.name,
                                   "--worker", model, method], cwd=ROOT, capture_output=True,
                                  text=True, env=dict(env, PYTHONPATH=trees[tree]))
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            results.append({**json.loads(line[0][7:]), "tree": tree, "repeat": repeat})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))

    def times(tree: str, model: str, method: str, k: int) -> list[float]:
        return [r[f"k{k}"] for r in results if (r["tree"], r["model"], r["method"]) == (tree, model, method)]

    print("| model | k | tree | spark (pure JAX) | spark-native | native speed-up over pure JAX |")
    print("|---|---|---|---|---|---|")
    for model in ("izh", "adex"):
        for k in STEPS:
            for tree in trees:
                jax_t, native_t = times(tree, model, "auto", k), times(tree, model, "native", k)
                ratio = [a / b for a, b in zip(jax_t, native_t)]
                print(f"| {model} | {k} | {tree} | {_fmt(jax_t)} | {_fmt(native_t)} | {_fmt(ratio)}x |")
    if args.before:
        for model in ("izh", "adex"):
            for k in STEPS:
                ratio = [a / b for a, b in zip(times("before", model, "native", k),
                                               times("now", model, "native", k))]
                print(f"spark-native {model} k={k}: now / before speed-up {_fmt(ratio)}x")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print("RESULT " + json.dumps(worker(*sys.argv[2:4])))
    else:
        raise SystemExit(main())
