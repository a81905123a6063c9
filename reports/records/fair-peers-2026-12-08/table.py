"""Issue 35's table: every label at k = 1, 10, 100, 1000 (open-loop labels: their one k),
median (range) of 3 runs, seconds per simulated second."""
import sys
from pathlib import Path
import numpy as np
from benchmarks.results import load_rows
root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/peers")
KS = (1, 10, 100, 1000)
out = []
for dtype in ("float64", "float32"):
    for net in ("paper8", "cuba", "coba", "cuba_small", "coba_small", "brunel2000_small"):
        d = root / f"{net}-{dtype}"
        if not (d / "cells").exists():
            continue
        rows = load_rows(d)
        again = root / f"{net}-{dtype}-brainpy"  # brainpy re-measured after its grouping commit
        if (again / "cells").exists():
            import pandas as pd
            rows = pd.concat([rows[rows.backend != "brainpy"], load_rows(again)], ignore_index=True)
        numpy_dir = root / f"{net}-{dtype}-numpy"  # brian2-numpy, measured after the others
        if (numpy_dir / "cells").exists():
            import pandas as pd
            rows = pd.concat([rows, load_rows(numpy_dir)], ignore_index=True)
        out += [f"\n### {net}, {dtype}\n", "| label | class | loop | k = 1 | k = 10 | k = 100 | k = 1000 |",
                "|---|---|---|---:|---:|---:|---:|"]
        for backend in dict.fromkeys(rows.backend):
            b = rows[rows.backend == backend]
            loop = b[(b.phase == "loop") & b.status.isin(["ok", "truncated"])]
            if loop.empty:
                why = b[b.status == "skipped"].reason
                out.append(f"| {backend} | {b.comparison.iloc[0]} | | skipped: {why.iloc[0][:90] if len(why) else b.status.iloc[0]} | | | |")
                continue
            cells = []
            kind = loop.loop.iloc[0]
            ks = KS if kind == "closed" else sorted(loop.k.unique())
            for k in ks:
                r = loop[loop.k == k]
                v = (r.seconds / r.sim_seconds).to_numpy()
                t = " (truncated)" if (r.status == "truncated").any() else ""
                cells.append(f"{np.median(v):.3g} ({v.min():.3g}–{v.max():.3g}){t}" if v.size else "–")
            if kind != "closed":
                cells = [f"open loop, one call: {cells[0]}", "", "", ""]
            out.append(f"| {backend} | {b.comparison.iloc[0]} | {kind} | " + " | ".join(cells) + " |")
print("\n".join(out))
