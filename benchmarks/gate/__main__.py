"""``python -m benchmarks.gate``: measure the commit under test and its parent, compare, and
exit 1 with a readable table when a tracked figure regresses (see the package docstring).

    python -m benchmarks.gate [--base REV] [--work DIR] [--only spikes,cache,instructions]

The parent (``--base``, default ``$GATE_BASE`` or ``HEAD^``) is checked out as a detached git
worktree under ``--work``; both trees are measured by *this* tree's ``measure.py`` (run by
path, importing each tree's own packages) in two processes side by side: every figure is a
count or a digest, which running concurrently does not change. A parent that cannot be
measured (too old, broken) is reported and the gate passes with that warning: it must never
block a commit for its parent's sake.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .ab import ROUNDS, ab
from .compare import COUNT_THRESHOLD, WALL_THRESHOLD, judge, parse_trailers, table

ROOT = Path(__file__).resolve().parents[2]
MEASURE = Path(__file__).with_name("measure.py")


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()


def checkout(rev: str, where: Path) -> Path:
    """A clean detached worktree of ``rev`` at ``where`` (replacing an older one)."""
    if where.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT,
                       capture_output=True)
    subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
    git("worktree", "add", "--detach", str(where), rev)
    return where


def share_cython_cache(work: Path, names: tuple[str, ...] = ("head", "base")) -> Path:
    """One Brian2 Cython cache for both trees' measurements (their ``brian2/cython``
    folders become links to it). Safe: Brian2 names each module by a hash of its code and
    compiler settings and locks it while compiling, so a generator change in HEAD builds
    its own modules; unchanged code is compiled once instead of twice (~100 s of tiny's
    build on 2 cores)."""
    import shutil

    shared = work / "cython-shared"
    shared.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = work / f"cache-{name}" / "brian2" / "cython"
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            shutil.rmtree(link)
        link.symlink_to(shared, target_is_directory=True)
    return shared


def start_measure(tree: Path, work: Path, name: str, parts: list[str]) -> subprocess.Popen:
    log = open(work / f"{name}.log", "w")
    cmd = [sys.executable, str(MEASURE), "--tree", str(tree), "--out", str(work / f"{name}.json"),
           "--spikes", str(work / f"{name}-spikes.npz"), "--cache", str(work / f"cache-{name}")]
    for part in parts:
        cmd += ["--only", part]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(tree))


def first_spike_difference(work: Path, key: str) -> str:
    """Where two recorded spike trains of one figure first differ (for the table's reader)."""
    import numpy as np

    try:
        base = np.load(work / "base-spikes.npz")
        head = np.load(work / "head-spikes.npz")
    except OSError:
        return ""
    for name in sorted(n for n in head.files if n.startswith(key + "/") and n.endswith("/steps")):
        pop = name[len(key) + 1:-len("/steps")]
        if name not in base.files:
            return f"{pop}: no parent spikes"
        pairs = []
        for tree in (base, head):
            steps, idx = tree[name], tree[name[:-len("steps")] + "indices"]
            pairs.append(list(zip(steps.tolist(), idx.tolist())))
        b, h = pairs
        for i, (x, y) in enumerate(zip(b, h)):
            if x != y:
                return f"{pop}: spike #{i} is (step, neuron) {x} in the parent, {y} here"
        if len(b) != len(h):
            return f"{pop}: {len(b)} spikes in the parent, {len(h)} here"
    return ""


def describe_rounds(figure: dict) -> str:
    """One wall cell's A/B for the log: how many rounds it took and why it stopped."""
    text = f"{len(figure['rounds'])} rounds, median {figure['value']:.3f}"
    if figure.get("interval"):
        low, high = figure["interval"]
        text += f", 95 % interval {low:.3f}-{high:.3f} ({figure.get('decided', 'fixed')})"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate", description=__doc__.split("\n")[0])
    parser.add_argument("--base", default=os.environ.get("GATE_BASE", "HEAD^"))
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "gate")
    parser.add_argument("--only", default="spikes,cache,instructions,wall")
    parser.add_argument("--count-threshold", type=float, default=COUNT_THRESHOLD)
    parser.add_argument("--wall-threshold", type=float, default=WALL_THRESHOLD)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    parts = [p for p in args.only.split(",") if p]
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        base_rev = git("rev-parse", "--verify", args.base + "^{commit}")
    except subprocess.CalledProcessError:
        print(f"gate: no parent commit {args.base!r} to compare with; nothing to gate")
        return 0
    head_rev = git("rev-parse", "HEAD")
    messages = git("log", "--format=%B%x00", f"{base_rev}..HEAD").split("\0")
    trailers = parse_trailers(messages)
    base_tree = checkout(base_rev, work / "base-tree")
    print(f"gate: HEAD {head_rev[:10]} against {args.base} = {base_rev[:10]} "
          f"({', '.join(parts)}); logs in {work}", flush=True)
    start = time.perf_counter()
    measured = [p for p in parts if p != "wall"]
    codes = {"head": 0, "base": 0}
    if measured:
        share_cython_cache(work)
        procs = {"head": start_measure(ROOT, work, "head", measured),
                 "base": start_measure(base_tree, work, "base", measured)}
        codes = {name: proc.wait() for name, proc in procs.items()}
    else:
        for name in codes:
            (work / f"{name}.json").write_text(json.dumps({"figures": {}}))
    print(f"gate: measured both trees in {time.perf_counter() - start:.0f} s", flush=True)
    if codes["head"] != 0:
        print(f"gate: FAILED: measuring HEAD failed (exit {codes['head']}); "
              f"see {work / 'head.log'}:\n" + (work / "head.log").read_text()[-3000:])
        return 1
    head = json.loads((work / "head.json").read_text())["figures"]
    if codes["base"] != 0:
        print(f"gate: WARNING: the parent {base_rev[:10]} could not be measured (exit "
              f"{codes['base']}; see {work / 'base.log'}); nothing compared, gate passes")
        return 0
    base = json.loads((work / "base.json").read_text())["figures"]
    if "wall" in parts:
        print(f"gate: wall clock, up to {args.rounds} interleaved rounds per cell (base and head "
              f"alternating; a cell stops once its median is clearly inside or outside "
              f"x{args.wall_threshold})", flush=True)
        t0 = time.perf_counter()
        try:
            wall = ab(base_tree, ROOT, rounds=args.rounds, limit=args.wall_threshold,
                      log=work / "ab.log")
            over = [k for k, v in wall.items() if v.get("value", 0.0) > args.wall_threshold]
            if over:
                # Confirmation: a cell fails only if a second, independent A/B also puts it
                # over the threshold (the gate's figure is the smaller of the two medians).
                # A/A outliers come from a burst of load on the machine, not from the code:
                # two in a row are ~p^2 as likely; a real regression shows both times.
                print(f"gate: {', '.join(over)} over x{args.wall_threshold}; confirming",
                      flush=True)
                cells = [(k.split("/")[1], int(k.split("/")[2][1:])) for k in over]
                again = ab(base_tree, ROOT, rounds=args.rounds, cells=cells,
                           limit=args.wall_threshold, log=work / "ab.log")
                for key in over:
                    second = again.get(key, {}).get("value", float("inf"))
                    wall[key] = dict(wall[key], first=wall[key]["value"], confirm=second,
                                     value=min(wall[key]["value"], second))
        except RuntimeError as err:
            wall = {"wall/all": {"skipped": str(err)[:300]}}
        print(f"gate: wall clock took {time.perf_counter() - t0:.0f} s", flush=True)
        for key, figure in sorted(wall.items()):
            if "rounds" in figure:
                print(f"  {key}: {describe_rounds(figure)}")
        head.update(wall)
        base.update({k: ({"kind": "ratio", "value": 1.0} if "value" in v else v)
                     for k, v in wall.items()})
    verdicts = judge(base, head, trailers, count_threshold=args.count_threshold,
                     wall_threshold=args.wall_threshold)
    print(table(verdicts))
    for v in verdicts:
        if v.kind == "digest" and v.change == "differs":
            where = first_spike_difference(work, v.figure)
            if where:
                print(f"  {v.figure}: {where}")
    (work / "verdicts.json").write_text(json.dumps([v.__dict__ for v in verdicts], indent=1))
    failed = [v for v in verdicts if v.fails]
    if failed:
        print(f"gate: FAILED: {len(failed)} figure(s) regressed or changed without a trailer "
              "('Behaviour-change: why' / 'Accept-regression: why' in a commit message)")
        return 1
    print("gate: passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
