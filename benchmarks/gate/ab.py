"""Wall-clock A/B of two source trees, interleaved, and the A/A calibration of its threshold.

Why interleaved: on a shared runner the machine's speed drifts by more than the effects we
gate (identical commits vary 0.6-1.5x between jobs). Timing base and head in alternating
order (ABBA), in the same minutes, on the same core, and gating the *median of the per-round
head/base ratios* cancels most of that drift; the A/A calibration (the same tree against
itself) measures what remains and sets the threshold. The gate stops each cell early
once its answer is clear (``--limit``, :mod:`.stopping`).

    python -m benchmarks.gate.ab --base-tree DIR --head-tree DIR [--rounds 15] [--limit 1.15]
    python -m benchmarks.gate.ab --calibrate 20 [--tree DIR] [--limit 1.15] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .stopping import decide, median_interval

WORKER = Path(__file__).with_name("ab_worker.py")
CELLS = (("spark-native", 1), ("spark-native", 100), ("spark-native-direct", 1), ("spark", 10),
         ("brian2-cpp", 1), ("brian2-cpp", 100))
"""The asv closed-loop cells the gate times: the Spark paths and the resident Brian2
binary, at the latency end (k = 1) and the throughput end (k = 100) of the sweep."""
ROUNDS = 15
PASSES = 3


class Worker:
    """One ab_worker process for one tree."""

    def __init__(self, tree: Path, core: int | None, log: Path):
        cmd = [sys.executable, str(WORKER), "--tree", str(tree)]
        if core is not None:
            cmd += ["--core", str(core)]
        self._log = open(log, "a")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, cwd=str(tree))

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"A/B worker exited (code {self.proc.poll()}); see {self._log.name}")
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self._log.close()


def timing_core() -> int | None:
    """The last core this process may use: both workers are pinned to it (requests are
    sequential, so they never run at the same time)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return max(os.sched_getaffinity(0))


def ab(base_tree: Path, head_tree: Path, *, rounds: int = ROUNDS, cells=CELLS,
       limit: float | None = None, log: Path = Path("ab.log"),
       progress=lambda text: None) -> dict:
    """``{"wall/BACKEND/kK": {"kind": "ratio", "value": median head/base, "rounds": [...]}}``;
    a cell either tree cannot time is ``{"skipped": reason}``.

    With ``limit``, ``rounds`` is a maximum: a cell stops being timed once the 95 %
    interval of its median ratio lies wholly below or above ``limit``
    (:mod:`.stopping`); its figure says which (``"decided"``) and the interval. Without
    it every cell runs all ``rounds`` (the fixed protocol the calibration compares with).
    """
    core = timing_core()
    workers = {"base": Worker(base_tree, core, log), "head": Worker(head_tree, core, log)}
    figures: dict = {}
    try:
        live = []
        for backend, k in cells:
            key = f"wall/{backend}/k{k}"
            replies = {name: w.ask(op="setup", backend=backend, k=k) for name, w in workers.items()}
            errors = [f"{name}: {r['error']}" for name, r in replies.items() if not r["ok"]]
            if errors:
                figures[key] = {"skipped": "; ".join(errors)[:300]}
            else:
                live.append((backend, k))
        ratios: dict = {cell: [] for cell in live}
        decided: dict = {}
        for r in range(rounds):
            order = ("base", "head") if r % 2 == 0 else ("head", "base")
            for backend, k in live:
                if (backend, k) in decided:
                    continue
                seconds = {}
                for name in order:
                    reply = workers[name].ask(op="time", backend=backend, k=k, passes=PASSES)
                    if not reply["ok"]:
                        raise RuntimeError(f"{name} {backend} k={k}: {reply['error']}")
                    seconds[name] = reply["seconds"]
                ratios[(backend, k)].append(seconds["head"] / seconds["base"])
                if limit is not None:
                    verdict = decide(ratios[(backend, k)], limit)
                    if verdict:
                        decided[(backend, k)] = verdict
            progress(f"round {r + 1}/{rounds}: {len(decided)} of {len(live)} cells decided")
            if len(decided) == len(live):
                break
        for (backend, k), values in ratios.items():
            figure = {"kind": "ratio", "value": statistics.median(values), "rounds": values}
            if limit is not None:
                interval = median_interval(values)
                figure.update(decided=decided.get((backend, k), "undecided"),
                              interval=list(interval) if interval else None)
            figures[f"wall/{backend}/k{k}"] = figure
    finally:
        for w in workers.values():
            w.close()
    return figures


def calibrate(tree: Path, repetitions: int, rounds: int, out: Path | None,
              limit: float | None = None) -> dict:
    """A/A: the gate's statistic for ``tree`` against itself, ``repetitions`` times; with
    ``limit``, the adaptive protocol the gate runs (each run also records the rounds every
    cell took and whether it was decided inside or outside the limit)."""
    runs, spent = [], []
    for i in range(repetitions):
        t0 = time.perf_counter()
        figures = ab(tree, tree, rounds=rounds, limit=limit,
                     log=(out or Path("aa")).with_suffix(".log"))
        spent.append(time.perf_counter() - t0)
        runs.append({k: {"value": v["value"], "rounds": len(v["rounds"]),
                         "decided": v.get("decided", "fixed")}
                     for k, v in figures.items() if "value" in v})
        print(f"A/A {i + 1}/{repetitions} ({spent[-1]:.0f} s): "
              + ", ".join(f"{k.split('/', 1)[1]} {v['value']:.3f} ({v['rounds']} r)"
                          for k, v in runs[-1].items()), flush=True)
        if out:
            out.write_text(json.dumps({"rounds": rounds, "limit": limit, "seconds": spent,
                                       "runs": runs}, indent=1))
    return {"rounds": rounds, "limit": limit, "seconds": spent, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate.ab", description=__doc__.split("\n")[0])
    parser.add_argument("--base-tree", type=Path)
    parser.add_argument("--head-tree", type=Path)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--calibrate", type=int, default=0, metavar="N")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="rounds per cell (with --limit, the most a cell may take)")
    parser.add_argument("--limit", type=float, default=None,
                        help="stop each cell once its median ratio is clearly below or above "
                             "this (the gate passes its threshold); default: fixed rounds")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.calibrate:
        calibrate(args.tree.resolve(), args.calibrate, args.rounds, args.out, args.limit)
        return 0
    if not (args.base_tree and args.head_tree):
        parser.error("give --base-tree and --head-tree, or --calibrate N")
    figures = ab(args.base_tree.resolve(), args.head_tree.resolve(), rounds=args.rounds,
                 limit=args.limit, log=(args.out or Path("ab")).with_suffix(".log"),
                 progress=lambda text: print(text, file=sys.stderr, flush=True))
    text = json.dumps({"figures": figures}, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
