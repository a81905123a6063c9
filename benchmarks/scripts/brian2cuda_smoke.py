"""The brian2cuda GPU check: both brian2cuda backends built and run on a built-in network
(default ``tiny``) with spike recording, open loop and chunked at several k, against a CPU
reference, spikes compared. On a machine with a GPU:

    python -m benchmarks.scripts.brian2cuda_smoke [NETWORK] [--dtype float64]

It lives in benchmarks (not in the adapter) because it drives several backends through the
registry and compares them with the harness's fidelity tools.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from adapters.base import BackendOptions as Options
from adapters.base import ChunkInput
from adapters.registry import load_backend
from adapters.spec import load_spec, materialise
from adapters.spec.inputs import InputStream
from benchmarks.fidelity import compare_spikes


def smoke(net_name: str = "tiny", dtype: str = "float64", cache_dir: str | Path = ".cache/spark-bench",
          ks: tuple[int, ...] = (1, 7, 100), compare=compare_spikes, reference: str | None = "brian2-cpp-uninterrupted",
          out=print) -> dict:
    """GPU check of both brian2cuda backends on a built-in network, spike recording on.

    Runs ``brian2-cuda-uninterrupted`` (open loop, twice: wall and Brian2 loop time),
    ``brian2-cuda`` open loop (one chunk of the whole run) and chunked at every k in ``ks``
    (with the open-loop input: chunked must equal one chunk), and ``reference`` (a CPU
    backend, e.g. ``brian2-cpp-uninterrupted``; None skips it); then compares spike trains.
    ``compare`` is ``benchmarks.fidelity.compare_spikes`` by default; with None only exact
    equality and spike counts are reported.
    Prints one line per step with ``out`` and returns everything as a dict
    (``{"runs": {label: {...}}, "agreement": {pair: {...}}}``)."""

    spec = load_spec(net_name).overridden(dtype=dtype)
    net = materialise(spec)
    options = Options(cache_dir=Path(cache_dir), record_spikes=True)
    inputs = InputStream(net.spec).open_loop()
    sizes = {p.name: p.size for p in net.populations}
    result: dict = {"network": net_name, "dtype": dtype, "n_steps": net.n_steps, "runs": {},
                    "agreement": {}}
    spikes: dict[str, dict] = {}

    def record(label: str, backend, counts, seconds: float, **extra) -> None:
        spikes[label] = backend.recorded_spikes()
        total = int(sum(s.size for s, _ in spikes[label].values()))
        result["runs"][label] = {"counts": [int(c) for c in counts], "seconds": seconds,
                                 "n_spikes": total, **extra}
        out(f"[smoke] {label}: counts {list(map(int, counts))}, {total} spikes, {seconds:.4f} s"
            + "".join(f", {k} {v}" for k, v in extra.items()))

    def build(name: str):
        backend = load_backend(name)()
        t0 = time.perf_counter()
        report = backend.prepare(net, options)
        out(f"[smoke] {name}: prepared in {time.perf_counter() - t0:.1f} s "
            f"(cache hit {report.cache_hit}, phases "
            f"{ {k: round(v, 3) for k, v in report.phases.items()} })")
        return backend

    if reference:
        ref = build(reference)
        try:
            ref.reset()
            t0 = time.perf_counter()
            counts = ref.run_uninterrupted(inputs)
            record(reference, ref, counts, time.perf_counter() - t0)
        finally:
            ref.close()
    unint = build("brian2-cuda-uninterrupted")
    try:
        for attempt in range(2):
            unint.reset()
            t0 = time.perf_counter()
            counts = unint.run_uninterrupted(inputs)
            record(f"brian2-cuda-uninterrupted#{attempt}", unint, counts,
                   time.perf_counter() - t0, **unint.last_run_timings())
    finally:
        unint.close()
    resident = build("brian2-cuda")
    try:
        resident.reset()
        t0 = time.perf_counter()
        counts = resident.run_uninterrupted(inputs)
        record("brian2-cuda", resident, counts, time.perf_counter() - t0)
        for k in ks:
            resident.reset()
            total = np.zeros(len(net.spec.readout_names), np.int64)
            t0 = time.perf_counter()
            for start in range(0, net.n_steps, k):
                total += resident.run_chunk(ChunkInput(spikes=inputs[start:start + k]))
            record(f"brian2-cuda-k{k}", resident, total, time.perf_counter() - t0)
    finally:
        resident.close()

    base = reference if reference else "brian2-cuda-uninterrupted#0"
    for label, got in spikes.items():
        if label == base:
            continue
        want = spikes[base]
        same = all(np.array_equal(got.get(p, (np.zeros(0),))[0], want.get(p, (np.zeros(0),))[0])
                   and np.array_equal(got.get(p, (0, np.zeros(0)))[1], want.get(p, (0, np.zeros(0)))[1])
                   for p in sizes)
        entry: dict = {"identical": bool(same)}
        if compare is not None:
            agreement = compare(want, got, sizes, net.n_steps, net.dt, labels=(base, label))
            entry.update(agreement.as_row_fields())
            entry["first_difference"] = agreement.first_difference
        result["agreement"][f"{base} vs {label}"] = entry
        out(f"[smoke] {base} vs {label}: {entry}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("network", nargs="?", default="tiny")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--cache-dir", default=".cache/spark-bench")
    args = parser.parse_args(argv)
    result = smoke(args.network, args.dtype, args.cache_dir)
    print(json.dumps(result["agreement"], indent=1, default=str))
    return 0 if all(e["identical"] for e in result["agreement"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
