"""Static ring-buffer delays vs the plastic synapses' spike-history delays, on paper8.

The engine has two delay mechanisms: static synapses add their weight into a ring buffer
of future input per target (event-driven, cost ~ spikes x out-degree per step); plastic
synapses look up each synapse's presynaptic spike ``d`` steps back in a spike history
(cost ~ all plastic synapses per step), because STDP needs each delivery per synapse.
This script runs paper8 once with static synapses and once with every projection marked
plastic with zero learning (same spikes expected) and reports seconds per simulated
second of each, the measurement behind keeping the two mechanisms apart.

    python -m benchmarks.scripts.delay_paths [--steps 500]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from adapters.spark.translate import to_spark
from adapters.spec import load_spec, materialise
from adapters.spec.inputs import InputStream
from adapters.spec.model import STDP
from spark.engine import Simulator


def _timed(sim: Simulator, x: np.ndarray, repeats: int) -> tuple[float, int]:
    sim.run_chunk(x)  # compile + warm-up
    best, spikes = float("inf"), 0
    for _ in range(repeats):
        sim.reset()
        start = time.perf_counter()
        out = sim.run_chunk(x)
        best = min(best, time.perf_counter() - start)
        spikes = int(out.counts.sum())
    return best, spikes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = load_spec("paper8")
    spec = spec.overridden(dtype="float32", duration=args.steps * spec.simulation.dt)
    frozen = STDP(a_plus=0.0, a_minus=0.0, w_min=-1e9, w_max=1e9)
    plastic = replace(spec, projections=tuple(replace(p, plasticity=frozen)
                                              for p in spec.projections))
    x = InputStream(spec).open_loop()
    sim_s = args.steps * spec.simulation.dt * 1e-3
    for label, s in (("static (ring buffer, event-driven)", spec),
                     ("plastic path (spike history per synapse)", plastic)):
        net = materialise(s, 1)
        seconds, spikes = _timed(Simulator(to_spark(net), method="event"), x, args.repeats)
        print(f"{label:<44} {seconds / sim_s:8.3f} s per simulated s, {spikes} spikes "
              f"({net.n_synapses} synapses, best of {args.repeats})")


if __name__ == "__main__":
    main()
