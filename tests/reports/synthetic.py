"""A small synthetic-but-realistic results directory in the real format (written with
:func:`benchmarks.results.write_cell` and :func:`write_json_atomic`, like a sweep does).

2 instances x 2 runs; backends spark, brian2-cpp (resident binary, closed loop),
brian2-runtime (its k = 1 cell of instance 2 truncated by the cell budget), brian2-cpp-uninterrupted
(open loop, k = n_steps: the normaliser) and brian2-cuda (skipped, with a reason);
k = 1, 10, 100, 1000; 1 s simulated at dt = 0.1 ms. Timings follow a simple cost model
(a per-call overhead per chunk + a per-simulated-second cost) with a few per cent of noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.results import ResultRow, read_cell_file, sealed, write_cell, write_json_atomic

NETWORK = "paper8"
DT_S = 1e-4
N_STEPS = 10_000
KS = (1, 10, 100, 1000)
INSTANCES = (1, 2)
RUNS = 2
DTYPE = "float32"
REFERENCE = "brian2-cpp-uninterrupted"
CUDA_REASON = "cannot import its simulator (No module named 'brian2cuda')"

# backend: (loop, seconds per simulated second, per-call overhead s, cold, warm, construct)
MODEL = {
    "brian2-cpp-uninterrupted": ("open", 0.24, 0.0, 5.0, 0.2, 0.23),
    "spark": ("closed", 0.72, 3.0e-4, 3.1, 0.6, 0.05),
    "brian2-cpp": ("closed", 0.22, 1.6e-4, 5.2, 0.21, 0.25),
    "brian2-runtime": ("closed", 0.5, 2.6e-2, 22.0, 1.5, 0.4),
}
# backend: (exact window ms, identical fraction, rate error, distance, control)
FIDELITY = {
    "spark": (12.3, 0.41, 0.004, 0.05, 0.25),
    "brian2-cpp": (1000.0, 1.0, 0.0, 0.0, 0.24),
    "brian2-runtime": (1000.0, 1.0, 0.0, 0.0, 0.24),
}
BUDGET_S = 800.0  # cell budget: only instance 2 of brian2-runtime at k = 1 runs out of it
GPU = "NVIDIA H200 (synthetic)"
GPU_FIELDS = dict(device=f"gpu: {GPU}", gpu_model=GPU, gpu_driver="570.86.15",
                  cuda_version="12.8")
# with gpu=True: spark on the GPU (closed loop; jax_device cuda:0) and brian2cuda open loop
GPU_MODEL = {
    "spark-gpu": ("closed", 0.56, 5.5e-4, 4.0, 0.9, 0.1),
    "brian2-cuda-uninterrupted": ("open", 5.9, 0.0, 38.0, 0.5, 0.6),
}


def write_synthetic_results(out: Path, *, seed: int = 0, speed: dict[str, float] | None = None,
                            cpu: str = "AMD EPYC 7B13 (synthetic)",
                            instances: tuple[int, ...] = INSTANCES, runs: int = RUNS,
                            gpu: bool = False, network: str = NETWORK,
                            neurons: int = 8192) -> Path:
    """Write the results directory ``out``; ``speed`` scales a backend's loop times (for
    comparing two result sets, or a larger network); ``gpu`` adds the GPU backends of
    :data:`GPU_MODEL` (rows saying they ran on :data:`GPU`); ``network`` and ``neurons``
    name the network and its size (the provenance records it, as a sweep does)."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    speed = speed or {}
    sweep_id = f"synthetic{seed:04d}"
    model = {**MODEL, **(GPU_MODEL if gpu else {})}

    def where(backend: str) -> dict[str, str]:
        """The device columns a worker on this (synthetic) machine would have written."""
        if backend in GPU_MODEL or (gpu and backend == "brian2-cuda"):
            return {**GPU_FIELDS, "jax_device": "cuda:0" if backend == "spark-gpu" else ""}
        if backend == "brian2-cuda":
            return {"device": "gpu"}  # a GPU backend on a machine without one
        return {"device": "cpu", "jax_device": "cpu:0" if backend == "spark" else ""}

    def row(**kw) -> ResultRow:
        return ResultRow(sweep_id=sweep_id, network=network, dtype=DTYPE, threads=1,
                         **{**where(kw["backend"]), **kw})

    for instance in instances:
        inst_factor = 1.0 + 0.04 * (instance - 1)  # instance 2 spikes a bit more
        for backend, (loop, per_s, overhead, cold, warm, construct) in model.items():
            fid = {}
            if backend in FIDELITY:
                win, ident, rate, dist, ctrl = FIDELITY[backend]
                fid = dict(fidelity_reference=REFERENCE, fidelity_exact_window_ms=win,
                           fidelity_identical_fraction=ident,
                           fidelity_rate_rel_error_max=rate * inst_factor,
                           fidelity_distance=dist, fidelity_distance_control=ctrl)
            noise = lambda: float(rng.lognormal(0.0, 0.04))  # noqa: E731
            build = [
                row(instance=instance, backend=backend, loop="", k=0, run=-1,
                    phase="materialise", seconds=1.9 * noise(), **fid),
                row(instance=instance, backend=backend, loop="", k=0, run=-1,
                    phase="compile_cold", seconds=cold * noise(), cache_hit="no",
                    peak_rss_mb=900.0, **fid),
                row(instance=instance, backend=backend, loop="", k=0, run=-1,
                    phase="compile_warm", seconds=warm * noise(), cache_hit="yes",
                    peak_rss_mb=900.0, **fid),
                row(instance=instance, backend=backend, loop="", k=0, run=-1,
                    phase="construct", seconds=construct * noise(), **fid),
            ]
            write_cell(out, f"{network}-i{instance}-{backend}-{DTYPE}-t1-kbuild", build)
            ks = (N_STEPS,) if loop == "open" else KS
            for k in ks:
                chunks_total = N_STEPS // k
                true_rate = (per_s + overhead * chunks_total) * inst_factor * speed.get(backend, 1.0)
                n_chunks = chunks_total
                status, reason = "ok", ""
                if true_rate * (runs + 1) > BUDGET_S:  # truncated like measure_cell does
                    n_chunks = max(100 // k, int(BUDGET_S / (runs + 1) / (true_rate * k * DT_S)))
                    status = "truncated"
                    reason = (f"cell budget {BUDGET_S:g} s: ran {n_chunks * k} of {N_STEPS} "
                              f"steps ({n_chunks * k * DT_S * 1e3:g} ms simulated)")
                sim = n_chunks * (N_STEPS if loop == "open" else k) * DT_S
                if loop == "open":
                    sim = N_STEPS * DT_S
                    n_chunks = 1
                rows = []
                for run in (-1, *range(runs)):
                    secs = true_rate * sim * noise() * (1.3 if run < 0 else 1.0)
                    per_chunk = secs / n_chunks  # closed loop: a skewed chunk distribution
                    latency = {} if loop == "open" else dict(
                        latency_p50_s=0.95 * per_chunk, latency_p90_s=1.1 * per_chunk,
                        latency_p99_s=1.5 * per_chunk * noise(), latency_max_s=3.0 * per_chunk)
                    rows.append(row(instance=instance, backend=backend, loop=loop, k=k, run=run,
                                    phase="warmup" if run < 0 else "loop", seconds=secs,
                                    sim_seconds=sim, rtf=secs / sim, n_chunks=n_chunks,
                                    peak_rss_mb=1200.0, status="ok" if run < 0 else status,
                                    reason="" if run < 0 else reason, **latency, **fid))
                write_cell(out, f"{network}-i{instance}-{backend}-{DTYPE}-t1-k{k}", rows)
        # brian2-cuda: unavailable -> one skipped build row and one skipped row per k
        skipped = dict(instance=instance, backend="brian2-cuda", seconds=float("nan"),
                       status="skipped", reason=CUDA_REASON)
        write_cell(out, f"{network}-i{instance}-brian2-cuda-{DTYPE}-t1-kbuild", [
            row(loop="", k=0, run=-1, phase="materialise", **{**skipped, "seconds": 1.9,
                                                              "status": "ok", "reason": ""}),
            row(loop="", k=0, run=-1, phase="compile_warm", **skipped)])
        for k in KS:
            write_cell(out, f"{network}-i{instance}-brian2-cuda-{DTYPE}-t1-k{k}",
                       [row(loop="closed", k=k, run=0, phase="loop", **skipped)])

    write_json_atomic(out / "provenance.json", {
        "sweep_id": sweep_id, "created": "2026-11-23T12:00:00+00:00",
        "command": "spark-bench run paper8 --instances 2 --runs 2 --timesteps 1,10,100,1000",
        "git_commit": "0123456789abcdef0123456789abcdef01234567", "network": network,
        "neurons": neurons, "spec_digest": "feedfacecafebeef", "profile": "quick",
        "duration_ms": 1000.0, "cpu_model": cpu, "cores": 2, "gpu": GPU if gpu else "",
        "gpu_driver": GPU_FIELDS["gpu_driver"] if gpu else "",
        "cuda_version": GPU_FIELDS["cuda_version"] if gpu else "", "os": "Linux-6.1-x86_64",
        "python": "3.11.9", "versions": {"jax": "0.10.2", "brian2": "2.9.0", "numpy": "2.3.5",
                                         "brian2cuda": ""},
        "threads": 1, "notes": "synthetic results for the report tests",
    })
    return out


def edit_cells(results_dir: Path, edit) -> None:
    """Rewrite every cell of ``results_dir`` through ``edit(frame) -> frame`` and seal it
    again as :func:`write_cell` does (results as an older or newer suite writes them)."""
    import io

    import pandas as pd

    for path in sorted((Path(results_dir) / "cells").glob("*.csv")):
        cell = read_cell_file(path)
        assert not cell.problem, cell.problem
        frame = edit(pd.read_csv(io.StringIO(cell.body), keep_default_na=False, dtype=str))
        path.write_text(sealed(frame.to_csv(index=False), cell.sweep))
