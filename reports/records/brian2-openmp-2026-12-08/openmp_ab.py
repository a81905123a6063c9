"""Brian2 C++ standalone on one thread: openmp_threads = 0 (Brian2's default, what
`brian2-cpp` builds since 2026-12-07) against openmp_threads = 1 (OpenMP code pinned to one
thread, what it built before). The same `brian2-cpp` resident binary otherwise; variant B
is built into its own cache folder with the one preference changed. Rounds alternate A B,
each a closed-loop pass per k as the sweep times it (benchmarks.protocol.closed_loop_pass).

    python openmp_ab.py NETWORK DTYPE DURATION_MS ROUNDS OUT_JSON
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from adapters.base import BackendOptions
from adapters.brian2 import cpp_resident
from adapters.spec import load_spec, materialise
from adapters.spec.inputs import InputStream
from benchmarks.protocol import closed_loop_pass

KS = (1, 100, 1000)
network, dtype, duration, rounds, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
spec = load_spec(network).overridden(dtype=dtype, duration=duration)
net = materialise(spec)
real_build = cpp_resident.generate_and_compile
caches = {"openmp0": Path(tempfile.mkdtemp(prefix="omp0-")),
          "openmp1": Path(tempfile.mkdtemp(prefix="omp1-"))}


def backend_for(variant: str):
    def build(*args, **kwargs):
        if variant == "openmp1":
            kwargs["extra_prefs"] = {"devices.cpp_standalone.openmp_threads": 1}
        return real_build(*args, **kwargs)
    cpp_resident.generate_and_compile = build
    backend = cpp_resident.Brian2CppResidentBackend()
    backend.prepare(net, BackendOptions(cache_dir=caches[variant]))
    cpp_resident.generate_and_compile = real_build
    return backend


backends = {v: backend_for(v) for v in caches}
sim_s = spec.simulation.n_steps * spec.simulation.dt / 1e3
results: dict = {v: {k: [] for k in KS} for v in caches}
for r in range(rounds):
    for variant, backend in backends.items():
        for k in KS:
            p = closed_loop_pass(backend, InputStream(spec), k, spec.simulation.n_steps // k)
            results[variant][k].append(p.seconds / sim_s)
    print(f"round {r}: " + "; ".join(f"{v} " + ", ".join(f"k={k} {results[v][k][-1]:.4f}" for k in KS)
                                      for v in caches), flush=True)
for b in backends.values():
    b.close()
Path(out).write_text(json.dumps({"network": network, "dtype": dtype, "duration_ms": duration,
                                 "seconds_per_simulated_second": results}, indent=1))
