import sys
from pathlib import Path
import numpy as np
from benchmarks.results import load_rows
nets = ["cuba_small", "coba_small", "brunel2000_small"]
out = []
for dtype in ("float64", "float32"):
    out.append(f"\n### {dtype}\n")
    out.append("| network | backend (class) | k = 1 | k = 10 | k = 100 | k = 1000 |")
    out.append("|---|---|---:|---:|---:|---:|")
    for net in nets:
        d = Path(f"{sys.argv[1] if len(sys.argv) > 1 else '/tmp/bpm'}/{net}-{dtype}")
        if not d.exists(): continue
        rows = load_rows(d)
        loop = rows[(rows.phase == "loop") & rows.status.isin(["ok", "truncated"])]
        med = {}
        for backend in ("spark-native", "brian2-cpp", "brainpy"):
            cells = []
            for k in (1, 10, 100, 1000):
                r = loop[(loop.backend == backend) & (loop.k == k)]
                v = (r.seconds / r.sim_seconds).to_numpy()
                med[(backend, k)] = np.median(v) if v.size else np.nan
                cells.append(f"{np.median(v):.3g} ({v.min():.3g}–{v.max():.3g}, n={v.size})" if v.size else "–")
            cls = r.comparison.iloc[0] if len(r) else "?"
            out.append(f"| {net} | {backend} ({cls}) | " + " | ".join(cells) + " |")
        out.append(f"| {net} | brainpy / spark-native | " + " | ".join(f"{med[('brainpy',k)]/med[('spark-native',k)]:.1f}×" for k in (1,10,100,1000)) + " |")
        out.append(f"| {net} | brainpy / brian2-cpp | " + " | ".join(f"{med[('brainpy',k)]/med[('brian2-cpp',k)]:.1f}×" for k in (1,10,100,1000)) + " |")
print("\n".join(out))
