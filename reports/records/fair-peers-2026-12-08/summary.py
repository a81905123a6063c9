"""Ratios of medians (time per simulated second) from the fair-peers sweeps."""
import sys
from pathlib import Path
import numpy as np
import pandas as pd
from benchmarks.results import load_rows
root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/peers")
PAIRS = [("brian2-runtime-run-per-chunk", "brian2-runtime"), ("brian2-numpy", "brian2-runtime"), ("nest", "nest-native"),
         ("brainpy", "spark-native"), ("brainpy", "brian2-cpp"), ("brian2-cpp", "spark-native")]
print("| network | dtype | ratio (slower / faster label, medians) | k = 1 | k = 10 | k = 100 | k = 1000 |")
print("|---|---|---|---:|---:|---:|---:|")
for dtype in ("float64", "float32"):
    for net in ("paper8", "cuba", "coba", "brunel2000_small"):
        d = root / f"{net}-{dtype}"
        if not (d / "cells").exists():
            continue
        rows = load_rows(d)
        again = root / f"{net}-{dtype}-brainpy"
        if (again / "cells").exists():
            rows = pd.concat([rows[rows.backend != "brainpy"], load_rows(again)], ignore_index=True)
        numpy_dir = root / f"{net}-{dtype}-numpy"  # brian2-numpy, measured after the others
        if (numpy_dir / "cells").exists():
            import pandas as pd
            rows = pd.concat([rows, load_rows(numpy_dir)], ignore_index=True)
        loop = rows[(rows.phase == "loop") & rows.status.isin(["ok", "truncated"])]
        med = lambda b, k: np.median((lambda r: (r.seconds / r.sim_seconds).to_numpy())(loop[(loop.backend == b) & (loop.k == k)]) if len(loop[(loop.backend == b) & (loop.k == k)]) else np.nan)
        for a, b in PAIRS:
            vals = [med(a, k) / med(b, k) for k in (1, 10, 100, 1000)]
            if all(np.isnan(vals)):
                continue
            print(f"| {net} | {dtype} | {a} / {b} | " + " | ".join("–" if np.isnan(v) else f"{v:.2f}" for v in vals) + " |")
