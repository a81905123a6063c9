"""Batched instances: B materialisations of one spec (different seeds) in one program.

The instances are padded to one :class:`~spark.network.Layout` (longest synapse row, largest
delay and plastic table) and the chunk function is ``vmap``-ed over a leading axis of every
parameter and state leaf, so B networks cost one dispatch and one compiled program.
"""

from __future__ import annotations

import numpy as np

from adapters.spec.inputs import InputStream
from adapters.spec.materialise import materialise
from adapters.spec.model import NetworkSpec

from .engine import BatchedSimulator


def run_batched(spec: NetworkSpec, seeds: list[int], k: int, n_steps: int | None = None,
                method: str = "auto") -> np.ndarray:
    """Run ``len(seeds)`` instances of ``spec`` open loop (the spec's input spikes, the same
    for every instance) in chunks of ``k``; returns int64 counts ``(n_chunks, B, n_pops)``."""
    nets = [materialise(spec, s) for s in seeds]
    sim = BatchedSimulator(nets, method=method)
    total = spec.simulation.n_steps if n_steps is None else int(n_steps)
    spikes = InputStream(spec, total).open_loop()
    out = []
    for start in range(0, total - total % k, k):
        chunk = np.broadcast_to(spikes[start:start + k], (len(seeds), k, spikes.shape[1]))
        out.append(sim.run_chunk(chunk))
    return np.stack(out) if out else np.zeros((0, len(seeds), len(spec.populations)), np.int64)
