"""B instances of one spec (different seeds) through Spark's batched simulator."""

from __future__ import annotations

import numpy as np

from ..spec.inputs import InputStream
from ..spec.materialise import materialise
from ..spec.model import NetworkSpec
from .translate import to_spark


def run_batched(spec: NetworkSpec, seeds: list[int], k: int, n_steps: int | None = None,
                method: str = "auto") -> np.ndarray:
    """Run ``len(seeds)`` instances of ``spec`` open loop (the spec's input spikes, the same
    for every instance) in chunks of ``k``; returns int64 counts ``(n_chunks, B, n_pops)``."""
    from spark.engine import BatchedSimulator

    sim = BatchedSimulator([to_spark(materialise(spec, s)) for s in seeds], method=method)
    total = spec.simulation.n_steps if n_steps is None else int(n_steps)
    spikes = InputStream(spec, total).open_loop()
    out = []
    for start in range(0, total - total % k, k):
        chunk = np.broadcast_to(spikes[start:start + k], (len(seeds), k, spikes.shape[1]))
        out.append(sim.run_chunk(chunk))
    return np.stack(out) if out else np.zeros((0, len(seeds), len(spec.populations)), np.int64)
