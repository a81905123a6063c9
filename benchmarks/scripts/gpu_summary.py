"""One Markdown summary of a device check: the closed-loop table (seconds per simulated
second per backend and k, with per-chunk p50/p99), compile times, fidelity, and the batched
and size figures of ``gpu_extras.json``. Reads one or more results directories (the sweep
writes brian2cuda into its own, see ``benchmarks/device_check.sh``); it only formats what
was measured: an empty cell means no row.

    python -m benchmarks.scripts.gpu_summary RESULTS [RESULTS...] [--extras FILE] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from benchmarks.results import load_rows


def _fmt(x: float, digits: int = 3) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def _load(dirs: list[Path]) -> pd.DataFrame:
    frames = []
    for d in dirs:
        try:
            frames.append(load_rows(d))
        except FileNotFoundError as err:
            print(f"gpu_summary: {err}")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def loop_table(rows: pd.DataFrame) -> str:
    loops = rows[(rows.phase == "loop") & rows.status.isin(["ok", "truncated"])]
    if loops.empty:
        return "(no loop rows)\n"
    ks = sorted(int(k) for k in loops[loops.loop == "closed"].k.unique())
    lines = ["| backend | device | " + " | ".join(f"k={k}" for k in ks) + " | open loop |",
             "|---|---|" + "---|" * (len(ks) + 1)]
    for backend, group in loops.groupby("backend", sort=False):
        cells = []
        for k in ks:
            g = group[(group.loop == "closed") & (group.k == k)]
            if g.empty:
                cells.append("")
                continue
            mark = "*" if (g.status == "truncated").any() else ""
            cells.append(f"{_fmt(g.rtf.median())}{mark} (p50 {_fmt(g.latency_p50_s.median() * 1e6)}"
                         f" / p99 {_fmt(g.latency_p99_s.median() * 1e6)} us)")
        open_rows = group[group.loop == "open"]
        own = open_rows.simulator_loop_s / open_rows.sim_seconds
        cells.append("" if open_rows.empty else _fmt(open_rows.rtf.median()) + (
            f" (own timer {_fmt(own.median())})" if own.notna().any() else ""))
        device = group.device.iloc[0] if "device" in group else ""
        lines.append(f"| {backend} | {device} | " + " | ".join(cells) + " |")
    return ("Seconds of wall time per simulated second (one run; * = cell budget truncated the "
            "run, the rate is over what ran), per-chunk latency p50 / p99 in us:\n\n"
            + "\n".join(lines) + "\n")


def build_table(rows: pd.DataFrame) -> str:
    builds = rows[rows.phase.isin(["compile_cold", "compile_warm", "codegen_compile"])
                  & (rows.status == "ok")]
    if builds.empty:
        return ""
    lines = ["| backend | phase | seconds | cache hit |", "|---|---|---|---|"]
    for (backend, phase), g in builds.groupby(["backend", "phase"], sort=False):
        lines.append(f"| {backend} | {phase} | {_fmt(g.seconds.max())} | "
                     f"{','.join(sorted(set(g.cache_hit)))} |")
    return "\nBuild / compile (the longest row per backend and phase):\n\n" + "\n".join(lines) + "\n"


def fidelity_table(rows: pd.DataFrame) -> str:
    fid = rows[(rows.fidelity_reference != "") & (rows.status == "ok")]
    if fid.empty:
        return ""
    lines = ["| backend | reference | identical fraction | exact window (ms) |", "|---|---|---|---|"]
    for backend, g in fid.groupby("backend", sort=False):
        lines.append(f"| {backend} | {g.fidelity_reference.iloc[0]} | "
                     f"{_fmt(g.fidelity_identical_fraction.iloc[0], 6)} | "
                     f"{_fmt(g.fidelity_exact_window_ms.iloc[0])} |")
    return "\nFidelity (sweep, float32, open loop):\n\n" + "\n".join(lines) + "\n"


def extras_tables(path: Path) -> str:
    if not path.exists():
        return ""
    data = json.loads(path.read_text())
    out = []
    batched = [r for r in data if r.get("study") == "batched" and "error" not in r]
    if batched:
        out += ["\nBatched paper8 instances on one device (k = %d, one pass after a warm-up):\n"
                % batched[0]["k"], "| method | B | seconds | instance-s per s | s per instance-s "
                "| instance 0 spikes |", "|---|---|---|---|---|---|"]
        out += [f"| {r['method']} | {r['batch']} | {_fmt(r['seconds'])} | "
                f"{_fmt(r['instance_s_per_s'])} | {_fmt(r['s_per_instance_s'])} | "
                f"{r['spikes_instance0']} |" for r in batched]
    size = [r for r in data if r.get("study") == "size" and "error" not in r]
    if size:
        out += ["\nSize study (one instance, k = %d):\n" % size[0]["k"],
                "| network | neurons | synapses | method | s per simulated s | spikes |",
                "|---|---|---|---|---|---|"]
        out += [f"| {r['network']} | {r['neurons']} | {r['synapses']} | {r['method']} | "
                f"{_fmt(r['s_per_sim_s'])} | {r['spikes']} |" for r in size]
    errors = [r for r in data if "error" in r]
    out += [f"\n{r['study']} failed: {r['error']}" for r in errors]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--extras", type=Path, default=Path("/nonexistent"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = _load(args.results)
    text = "# Device check summary\n\n"
    if not rows.empty:
        text += loop_table(rows) + build_table(rows) + fidelity_table(rows)
    text += extras_tables(args.extras)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
