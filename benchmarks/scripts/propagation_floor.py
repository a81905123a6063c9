"""What bounds the native kernel's synaptic propagation on one core, measured.

``spark-bench roofline`` reports paper8 at ~5e8 synaptic events per second on one core,
~16 % of the copy-bandwidth bound. This script shows why: it records a network's real
spiking rows (open loop, the direct native path), writes its synapse tables, and times
the kernel's walk of those rows (``propagation_floor.cc``, the same loop as
``propagate_rows`` in ``spark/native/kernels.cc``) in variants that each remove one cost:

* whole next row prefetched - what the kernel does when the tables exceed 16 MB (they
  come from DRAM);
* the next row's first 4 lines prefetched - the kernel before that change (below 16 MB
  it still asks for 4 lines);
* no software prefetch;
* rows read, nothing accumulated - the ring buffer's read-modify-write removed;
* rows cached - every spike walks one of 256 rows (cache-resident tables): the row reads'
  memory latency removed, the accumulation kept.

Printed per variant: microseconds per step and nanoseconds and events per second per
synaptic event (propagation only; the neuron update is not in this loop).

    python -m benchmarks.scripts.propagation_floor [--network paper8] [--duration 1000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from adapters.spark.translate import to_spark
from adapters.spec import load_spec, materialise
from adapters.spec.inputs import InputStream
from spark.direct import DirectSimulator

SOURCE = Path(__file__).with_name("propagation_floor.cc")
FLAGS = ("-O3", "-std=c++17", "-ffp-contract=off", "-fno-trapping-math")


def write_tables(network: str, duration: float, dtype: str, out: Path) -> int:
    """Synapse tables and the run's spiking rows (neurons then inputs, ascending, per step)
    as raw files in ``out``; the number of synaptic events."""
    spec = load_spec(network).overridden(dtype=dtype, duration=duration)
    sim = DirectSimulator(to_spark(materialise(spec, 1)), record_spikes=True)
    spikes = InputStream(spec).open_loop()
    k = 1000 if spikes.shape[0] % 1000 == 0 else spikes.shape[0]
    for i in range(0, spikes.shape[0], k):
        sim.run_chunk(spikes[i:i + k])
    steps, neurons = sim.recorded()
    input_steps, inputs = np.nonzero(spikes)
    n = sim.layout.n_neurons
    all_steps = np.concatenate([steps, input_steps])
    all_rows = np.concatenate([neurons, inputs + n])
    order = np.lexsort((all_rows, all_steps))  # neuron rows (< n) before input rows
    params = sim._sim.params  # noqa: SLF001  (the tables the kernel walks)
    row_ptr = np.asarray(params.propagator.row_ptr, np.int32)
    row_ptr.tofile(out / "row_ptr.bin")
    np.asarray(params.propagator.offsets, np.int32).tofile(out / "offsets.bin")
    np.asarray(params.propagator.weights, np.float32).tofile(out / "weights.bin")
    np.asarray(all_steps[order], np.int32).tofile(out / "steps.bin")
    rows = all_rows[order]
    np.asarray(rows, np.int32).tofile(out / "rows.bin")
    (out / "meta.txt").write_text(f"{params.ring} {params.n_cols} {spikes.shape[0]}\n")
    return int((row_ptr[rows + 1] - row_ptr[rows]).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="paper8")
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated ms")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        parser.error("needs a C++ compiler (g++)")
    with tempfile.TemporaryDirectory(prefix="propagation-floor-") as tmp:
        work = Path(tmp)
        events = write_tables(args.network, args.duration, "float32", work)
        table_mb = ((work / "offsets.bin").stat().st_size
                    + (work / "weights.bin").stat().st_size) / 2**20
        binary = work / "floor"
        subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", str(binary)], check=True)
        out = subprocess.run([str(binary), str(work), str(args.repeats)], check=True,
                             capture_output=True, text=True).stdout
    n_steps = round(args.duration / load_spec(args.network).simulation.dt)
    print(f"{args.network}, float32, {args.duration:g} ms: {events:,} synaptic events in "
          f"{n_steps:,} steps (best of {args.repeats}); {table_mb:.1f} MB of synapse tables: "
          f"the kernel prefetches {'whole rows' if table_mb > 16 else 'first 4 lines'}")
    print(f"{'variant':<40} {'us/step':>8} {'ns/event':>9} {'events/s':>10}")
    for line in out.strip().splitlines():
        name, seconds = line.rsplit("\t", 1)
        s = float(seconds)
        print(f"{name:<40} {s / n_steps * 1e6:8.2f} {s / events * 1e9:9.2f} {events / s:10.3g}")


if __name__ == "__main__":
    main()
