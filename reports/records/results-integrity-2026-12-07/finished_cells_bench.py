"""finished_cells on 1,000 three-row cells: without the memo, with it (first call), with it again.

    python reports/records/results-integrity-2026-12-07/finished_cells_bench.py

2026-12-08, 2-core EPYC, 3 runs: 12.2 / 13.0 / 13.6 s; 12.0 / 14.1 / 12.3 s; 0.009-0.011 s."""
import sys, time, tempfile
from pathlib import Path
from dataclasses import replace
from benchmarks.results import ResultRow, write_cell, finished_cells
good = ResultRow(sweep_id="abc123", network="tiny", instance=1, backend="spark", loop="closed",
                 k=10, run=0, dtype="float64", threads=1, phase="loop", seconds=0.5,
                 sim_seconds=0.1, rtf=5.0, n_chunks=10, device="cpu")
d = Path(tempfile.mkdtemp())
for i in range(1000):
    write_cell(d, f"c{i}", [replace(good, run=r) for r in range(3)])
memo = {}
for label, m in (("no memo", None), ("memo first", memo), ("memo again", memo)):
    t = time.perf_counter(); n = len(finished_cells(d, m)); print(label, n, f"{time.perf_counter()-t:.3f} s")
