"""Wall-clock A/B of two source trees, interleaved, and the A/A calibration of its threshold.

Why interleaved: on a shared runner the machine's speed drifts by more than the effects we
gate (identical commits vary 0.6-1.5x between jobs). Timing base and head in alternating
order (ABBA), in the same minutes, on the same core, and gating the *median of the per-round
head/base ratios* cancels most of that drift; the A/A calibration (the same tree against
itself) measures what remains and sets the threshold.

    python -m benchmarks.gate.ab --base-tree DIR --head-tree DIR [--rounds 15] [--out FILE]
    python -m benchmarks.gate.ab --calibrate 20 [--tree DIR] [--out FILE]
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
       log: Path = Path("ab.log"), progress=lambda text: None) -> dict:
    """``{"wall/BACKEND/kK": {"kind": "ratio", "value": median head/base, "rounds": [...]}}``;
    a cell either tree cannot time is ``{"skipped": reason}``."""
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
        for r in range(rounds):
            order = ("base", "head") if r % 2 == 0 else ("head", "base")
            for backend, k in live:
                seconds = {}
                for name in order:
                    reply = workers[name].ask(op="time", backend=backend, k=k, passes=PASSES)
                    if not reply["ok"]:
                        raise RuntimeError(f"{name} {backend} k={k}: {reply['error']}")
                    seconds[name] = reply["seconds"]
                ratios[(backend, k)].append(seconds["head"] / seconds["base"])
            progress(f"round {r + 1}/{rounds}")
        for (backend, k), values in ratios.items():
            figures[f"wall/{backend}/k{k}"] = {"kind": "ratio",
                                               "value": statistics.median(values),
                                               "rounds": values}
    finally:
        for w in workers.values():
            w.close()
    return figures


def calibrate(tree: Path, repetitions: int, rounds: int, out: Path | None) -> dict:
    """A/A: the gate's statistic for ``tree`` against itself, ``repetitions`` times."""
    runs = []
    for i in range(repetitions):
        t0 = time.perf_counter()
        figures = ab(tree, tree, rounds=rounds, log=(out or Path("aa")).with_suffix(".log"))
        runs.append({k: v["value"] for k, v in figures.items() if "value" in v})
        print(f"A/A {i + 1}/{repetitions} ({time.perf_counter() - t0:.0f} s): "
              + ", ".join(f"{k.split('/', 1)[1]} {v:.3f}" for k, v in runs[-1].items()), flush=True)
        if out:
            out.write_text(json.dumps({"rounds": rounds, "runs": runs}, indent=1))
    return {"rounds": rounds, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate.ab", description=__doc__.split("\n")[0])
    parser.add_argument("--base-tree", type=Path)
    parser.add_argument("--head-tree", type=Path)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--calibrate", type=int, default=0, metavar="N")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.calibrate:
        calibrate(args.tree.resolve(), args.calibrate, args.rounds, args.out)
        return 0
    if not (args.base_tree and args.head_tree):
        parser.error("give --base-tree and --head-tree, or --calibrate N")
    figures = ab(args.base_tree.resolve(), args.head_tree.resolve(), rounds=args.rounds,
                 log=(args.out or Path("ab")).with_suffix(".log"),
                 progress=lambda text: print(text, file=sys.stderr, flush=True))
    text = json.dumps({"figures": figures}, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
