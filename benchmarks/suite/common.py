"""Shared set-up for the asv benchmarks: a reduced paper network and backend building.

asv's default timeout is 60 s per benchmark; the reduced network (8 pools x 128 neurons,
50 ms) keeps every parameter combination well inside it on a 2-core machine, while keeping
the paper network's structure (delays, closed-loop input, cross-pool connectivity)."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

from adapters.base import Backend, BackendOptions, BackendUnavailable, BuildReport
from adapters.spec import MaterialisedNetwork, materialise
from adapters.spec.inputs import InputStream
from adapters.spec.networks import brunel_network, pools_network
from benchmarks.protocol import Pass, closed_loop_pass, open_loop_pass
from adapters.registry import load_backend

SMOKE = os.environ.get("SPARK_BENCH_ASV_SMOKE") == "1"
"""CI's smoke run (``make asv-smoke``): every benchmark on every backend, at k = 10 only.
The smoke run proves the suite runs; its timings are not tracked, and k changes only the
number of chunks, so the full k grid (``make asv-history``) would cost CI ~8 more minutes
for the same code paths. Latency covers k = 1 in the smoke run too."""
CLOSED_LOOP_BACKENDS = ["spark", "spark-native", "spark-native-direct", "brian2-cpp",
                        "brian2-runtime", "brian2-runtime-run-per-chunk", "spark-gpu",
                        "spark-native-gpu"]
"""The GPU labels are skipped (n/a, with the reason) where JAX sees no GPU. brian2-cuda is not
listed: its prepare compiles the project with nvcc even without a GPU (minutes per class)."""
SPEEDUP_BACKENDS = ["spark", "brian2-cpp"] if SMOKE else CLOSED_LOOP_BACKENDS
"""Speedup's per-backend code is ClosedLoop's (build, one pass); each of its cells also
builds the Brian2 reference (~40 s a cell on 2 cores), so the smoke run checks it on one
JAX and one Brian2 backend and ClosedLoop checks every backend."""
TIMESTEPS = [10] if SMOKE else [1, 10, 100]
DTYPE = "float32"
CACHE = Path(".cache/spark-bench-asv")


@lru_cache(maxsize=None)
def reduced_network(dtype: str = DTYPE) -> MaterialisedNetwork:
    # p = 0.4 keeps paper8's in-degree (~51 from the input and from each pool) at 1/8 of its
    # pool size, so the network fires like paper8 (~12 Hz); with paper8's p = 0.05 it was
    # silent (until 2026-12-04 the suite timed input propagation only).
    spec = pools_network("asv8x128", 8, 128, p=0.4, duration=50.0)
    net = materialise(spec)
    return net.with_dtype(dtype)


STANDARD_NETWORKS = ["brunel2000"]
"""Standard benchmark networks in the suite, each at a reduced size (see
:func:`standard_network`)."""

STANDARD_BACKENDS = ["spark", "spark-native", "brian2-cpp"]


@lru_cache(maxsize=None)
def standard_network(name: str, dtype: str = DTYPE) -> MaterialisedNetwork:
    """``brunel2000``: regime C at scale 0.04 (400 + 100 neurons, in-degree 40/10, J 2.5 mV,
    each neuron with 40 external Poisson sources), 50 ms: its drives and 1.5 ms delays,
    inside asv's timeout."""
    if name != "brunel2000":
        raise NotImplementedError(f"no reduced standard network {name!r}")
    return materialise(brunel_network("asv_brunel", "c", scale=0.04, duration=50.0)).with_dtype(dtype)


def backend_class(name: str) -> type[Backend]:
    """The backend class, or NotImplementedError so asv skips the combination cleanly."""
    try:
        return load_backend(name)
    except BackendUnavailable as err:
        raise NotImplementedError(err.reason) from None


# Combinations that cannot fit asv's timeout by nature (a Network.run per chunk costs Brian2's
# runtime ~0.1 s: 500 calls at k = 1). `spark-bench run` measures them with a stated,
# truncated duration instead. Until 2026-12-07 this was `brian2-runtime`, which then ran a
# Network.run per chunk: its asv history continues as brian2-runtime-run-per-chunk.
TOO_SLOW_FOR_ASV = {("brian2-runtime-run-per-chunk", 1)}


def check_fits(name: str, k: int) -> None:
    """NotImplementedError (asv: skipped, n/a) for a combination listed in TOO_SLOW_FOR_ASV."""
    if (name, k) in TOO_SLOW_FOR_ASV:
        raise NotImplementedError(f"{name} at k={k} exceeds asv's timeout on the reduced network")


def build(name: str, *, cold: bool = False, dtype: str = DTYPE,
          net: MaterialisedNetwork | None = None) -> tuple[Backend, BuildReport]:
    """A prepared backend (for ``net``, default the reduced paper network); ``cold``
    builds into a fresh empty cache directory."""
    cls = backend_class(name)
    backend = cls()
    cache = Path(tempfile.mkdtemp(prefix="asv-cold-")) if cold else CACHE
    try:
        report = backend.prepare(net or reduced_network(dtype),
                                 BackendOptions(cache_dir=cache, cold=cold))
    except BackendUnavailable as err:
        backend.close()
        raise NotImplementedError(err.reason) from None
    return backend, report


def one_pass(backend: Backend, k: int, net: MaterialisedNetwork | None = None) -> Pass:
    """One closed-loop pass over the network's whole duration (protocol timing; default
    the reduced paper network)."""
    net = net or reduced_network()
    stream = InputStream(net.spec)
    if not backend.capabilities.closed_loop:
        return open_loop_pass(backend, stream.open_loop())
    return closed_loop_pass(backend, stream, k, net.n_steps // k)
