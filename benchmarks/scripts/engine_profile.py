"""Where a Spark step's time goes, pure JAX vs native kernels (paper8, float32 by default).

A plain script, run by hand; every figure is a wall-clock difference of synchronised runs
measured in this process (best of ``--repeats``), in microseconds per step:

* scan       - an empty ``lax.scan`` over the state (only ``t`` advances): loop overhead;
* compaction - pure JAX only: the two-level spike compaction alone, on the run's real spikes;
* update     - a whole step with propagation removed, minus the scan (neuron update,
               threshold, delivery, reset);
* propagation- a whole step minus the step without propagation;
* step       - the whole chunk program per step at k = 1000 (what a long chunk costs);
* dispatch   - a k = 1 chunk (call, run, read the counts back) minus one step.

    .venv/bin/python benchmarks/engine_profile.py [--dtype float32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

import jax
import jax.numpy as jnp
from jax import lax

from adapters.spec.inputs import InputStream
from adapters.spark.translate import to_spark
from adapters.spec.materialise import materialise
from adapters.spec.networks import paper8
from spark import network as netmod
from spark.engine import COMPILER_OPTIONS, Simulator

STEPS = 1000


def best_of(fn, repeats: int) -> float:
    fn()  # compile, first touch
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def scan_steps(params, state, inputs, step_fn):
    def body(s, x):
        return step_fn(params, s, x)[0], None
    return lax.scan(body, state, inputs)[0]


def per_step_us(sim: Simulator, params, inputs: np.ndarray, step_fn, repeats: int) -> float:
    fn = jax.jit(scan_steps, static_argnums=(3,), compiler_options=COMPILER_OPTIONS)
    state = sim._initial  # noqa: SLF001  (never donated here)
    return best_of(lambda: jax.block_until_ready(fn(params, state, inputs, step_fn)),
                   repeats) / len(inputs) * 1e6


def empty_step(params, state, x):
    return state._replace(t=state.t + 1), None


def profile(method: str, net, inputs: np.ndarray, neuron_spikes: np.ndarray,
            repeats: int) -> dict[str, float]:
    sim = Simulator(net, method=method)
    out: dict[str, float] = {}
    out["scan"] = per_step_us(sim, sim.params, inputs, empty_step, repeats)
    if method == "native":
        rows = sim.params.propagator
        silent = dataclasses.replace(rows, row_ptr=jnp.zeros_like(rows.row_ptr))
        no_prop = dataclasses.replace(sim.params, propagator=silent)
    else:
        no_prop = dataclasses.replace(sim.params, propagator=None)
        prop = sim.params.propagator
        all_spikes = np.concatenate([neuron_spikes, inputs], axis=1)

        def compact(count, spikes):
            return count + jnp.sum(prop._compact_first(spikes), dtype=jnp.int32), None  # noqa: SLF001

        fn = jax.jit(lambda s: lax.scan(compact, jnp.int32(0), s)[0])
        out["compaction"] = best_of(lambda: jax.block_until_ready(fn(all_spikes)),
                                    repeats) / STEPS * 1e6
    whole = per_step_us(sim, sim.params, inputs, netmod.step, repeats)
    update = per_step_us(sim, no_prop, inputs, netmod.step, repeats)
    out["update"] = update - out["scan"]
    out["propagation"] = whole - update

    def chunk(k: int) -> float:
        sim.reset()
        x = inputs[:k]
        sim.run_chunk(x)  # compile
        n = max(1, STEPS // k)

        def run():
            for _ in range(n):
                sim.run_chunk(x)
        return best_of(run, repeats) / n * 1e6

    out["step"] = chunk(STEPS) / STEPS
    out["dispatch"] = chunk(1) - out["step"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    # This script calls the engine's jitted step directly, outside Simulator's scoped
    # precision: a float64 profile needs 64-bit JAX for the whole script.
    jax.config.update("jax_enable_x64", args.dtype == "float64")
    spec = paper8()
    spec = spec.overridden(dtype=args.dtype, duration=STEPS * spec.simulation.dt)
    net = to_spark(materialise(spec))
    inputs = InputStream(spec).open_loop()
    rec = Simulator(net, method="native", record_spikes=True)
    rec.run_chunk(inputs)
    steps, idx = rec.recorded()
    neuron_spikes = np.zeros((STEPS, net.n_neurons), bool)
    neuron_spikes[steps, idx] = True
    print(f"paper8 {args.dtype}, {STEPS} steps, {neuron_spikes.sum() / STEPS:.1f} neuron and "
          f"{inputs.sum() / STEPS:.1f} input spikes per step; us per step, best of {args.repeats}")
    results = {m: profile(m, net, inputs, neuron_spikes, args.repeats) for m in ("event", "native")}
    names = ["scan", "compaction", "update", "propagation", "step", "dispatch"]
    print(f"{'component':<12} {'pure JAX':>9} {'native':>9}")
    for name in names:
        cells = [f"{results[m][name]:9.2f}" if name in results[m] else f"{'-':>9}"
                 for m in ("event", "native")]
        print(f"{name:<12} {' '.join(cells)}")


if __name__ == "__main__":
    main()
