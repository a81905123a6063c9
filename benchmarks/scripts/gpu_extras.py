"""GPU figures the sweep does not produce: batched throughput and the size study.

Run by ``benchmarks/device_check.sh`` on a machine with an NVIDIA GPU (and usable on the CPU:
``--device cpu``). Every time is a wall clock around synchronised chunks (``run_chunk``
returns host arrays), after one excluded warm-up pass; compile seconds are reported apart.

* ``batched``: B instances of ``paper8`` in one vmapped program (pure JAX and the CUDA
  kernel, ``method="auto"`` / ``"native"``), chunks of ``--k`` steps, open-loop input (the
  same spikes for every instance). The B instances are B copies of instance 1 (tiled on the
  device): materialising and building 100 distinct paper8 instances on the host would take
  minutes of the check's time and changes nothing in the work per step.
  Reported: seconds per pass, instance-seconds simulated per wall second, and instance 0's
  spike count (must equal the B = 1 count).
* ``size``: seconds per simulated second of one instance of each network in ``--networks``
  (e.g. ``paper8`` and its scaled variant) for each method, at ``--k``.

    python -m benchmarks.scripts.gpu_extras --out DIR [--device gpu] [--batches 1,25,100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def warm_then_timed(reset, run_chunk, n_steps: int, k: int) -> tuple[float, int]:
    """One excluded warm-up pass, then one timed pass: ``(seconds, spikes)``; ``run_chunk(i)``
    runs the chunk starting at step i and returns its spike count (a host value: the chunk
    is synchronised before the clock reads)."""

    def one_pass() -> tuple[float, int]:
        reset()
        total = 0
        start = time.perf_counter()
        for i in range(0, n_steps, k):
            total += run_chunk(i)
        return time.perf_counter() - start, total

    one_pass()
    return one_pass()


def _tile(tree, b: int):
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda x: jnp.repeat(x, b, axis=0), tree)


def batched(spec_name: str, batches: list[int], methods: list[str], k: int, duration_ms: float,
            dtype: str) -> list[dict]:
    import jax

    from adapters.spark.translate import to_spark
    from adapters.spec import load_spec, materialise
    from adapters.spec.inputs import InputStream
    from spark.engine import BatchedSimulator, precision

    spec = load_spec(spec_name).overridden(dtype=dtype, duration=duration_ms)
    net = to_spark(materialise(spec, 1))
    spikes = InputStream(spec).open_loop()
    n_steps = spikes.shape[0] - spikes.shape[0] % k
    rows = []
    for method in methods:
        for b in batches:
            t0 = time.perf_counter()
            sim = BatchedSimulator([net], method=method)
            with precision(sim.dtype):
                sim.params = _tile(sim.params, b)
                sim._initial = _tile(sim._initial, b)._replace(t=sim._initial.t)  # noqa: SLF001
                sim.nets = [net] * b
                sim.reset()
            build = time.perf_counter() - t0
            compiled = sim.compile(k)

            def chunk_spikes(i: int, b: int = b) -> int:
                chunk = np.broadcast_to(spikes[i:i + k], (b, k, spikes.shape[1]))
                return int(sim.run_chunk(chunk)[0].sum())

            seconds, spikes0 = warm_then_timed(sim.reset, chunk_spikes, n_steps, k)
            sim_s = n_steps * spec.simulation.dt * 1e-3
            rows.append(dict(study="batched", network=spec.name, method=method, batch=b, k=k,
                             dtype=dtype, seconds=seconds, sim_seconds=sim_s,
                             instance_s_per_s=b * sim_s / seconds,
                             s_per_instance_s=seconds / (b * sim_s), spikes_instance0=spikes0,
                             build_s=build, compile_s=compiled.seconds,
                             device=str(jax.config.jax_default_device)))
            print(json.dumps(rows[-1]), flush=True)
            del sim
    return rows


def size(networks: list[str], methods: list[str], k: int, duration_ms: float,
         dtype: str) -> list[dict]:
    import jax

    from adapters.spark.translate import to_spark
    from adapters.spec import load_spec, materialise
    from adapters.spec.inputs import InputStream
    from spark.engine import Simulator

    rows = []
    for name in networks:
        spec = load_spec(name).overridden(dtype=dtype, duration=duration_ms)
        t0 = time.perf_counter()
        net = materialise(spec, 1)
        materialise_s = time.perf_counter() - t0
        spikes = InputStream(spec).open_loop()
        n_steps = spikes.shape[0] - spikes.shape[0] % k
        for method in methods:
            sim = Simulator(to_spark(net), method=method)
            compiled = sim.compile(k)

            seconds, count = warm_then_timed(
                sim.reset, lambda i: int(sim.run_chunk(spikes[i:i + k]).counts.sum()), n_steps, k)
            sim_s = n_steps * spec.simulation.dt * 1e-3
            rows.append(dict(study="size", network=name, neurons=int(net.n_neurons),
                             synapses=int(net.n_synapses),
                             method=method, k=k, dtype=dtype, seconds=seconds,
                             sim_seconds=sim_s, s_per_sim_s=seconds / sim_s, spikes=count,
                             materialise_s=materialise_s, compile_s=compiled.seconds,
                             notes=sim.notes, device=str(jax.config.jax_default_device)))
            print(json.dumps(rows[-1]), flush=True)
            del sim
    return rows


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for gpu_extras.json")
    parser.add_argument("--device", default="gpu", choices=("gpu", "cpu"))
    parser.add_argument("--studies", default="batched,size")
    parser.add_argument("--methods", default="native,auto")
    parser.add_argument("--batches", type=_ints, default=[1, 25, 100])
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated ms")
    parser.add_argument("--networks", default="paper8")
    parser.add_argument("--size-duration", type=float, default=500.0)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args(argv)

    import jax

    try:
        device = jax.devices(args.device)[0]
    except RuntimeError as err:
        print(f"gpu_extras: no {args.device} device: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    methods = [m for m in args.methods.split(",") if m]
    rows: list[dict] = []
    path = out / "gpu_extras.json"
    with jax.default_device(device):
        for study in args.studies.split(","):
            try:
                if study == "batched":
                    rows += batched("paper8", args.batches, methods, args.k, args.duration,
                                    args.dtype)
                elif study == "size":
                    rows += size(args.networks.split(","), methods, args.k, args.size_duration,
                                 args.dtype)
            except Exception as err:  # keep what the other studies measured
                rows.append(dict(study=study, error=f"{type(err).__name__}: {err}"))
                print(f"gpu_extras: {study} failed: {type(err).__name__}: {err}", file=sys.stderr)
            path.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
