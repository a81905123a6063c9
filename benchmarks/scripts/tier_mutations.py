"""Does each test tier still catch a real bug? One injected bug per package, per tier.

    python -m benchmarks.scripts.tier_mutations [--tier fast|slow|all] [--only NAME]

Each mutation is a one-line change to this checkout's committed code, applied in a
scratch git worktree (your working tree is never touched). The tier's pytest run
(``-x``: it stops at the first failure) must fail; a mutation the tier lets pass is a
hole in that tier, printed as MISSED, and the script exits 1. The tier's tests of the
mutated package run first and the whole tier only if they all pass, so a caught mutation
costs minutes, not a full tier. Used for issue 38's
closing note: splitting the suite into a fast and a slow tier must not leave either one
blind to a package.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TIER_ARGS = {
    "fast": ["-m", "not slow"],
    "slow": ["-m", "slow"],
}


@dataclass(frozen=True)
class Mutation:
    name: str
    tier: str
    path: str
    old: str
    new: str
    what: str
    first: str
    """The tests to run first: the tier runs whole, in this order, and stops at a failure."""


MUTATIONS = (
    # fast tier: every package's unit tests
    Mutation("spark-alif-threshold", "fast", "spark/neurons.py",
             "return v > self.v_thresh + aux", "return v > self.v_thresh",
             "ALIF ignores its adaptive threshold", "tests/spark"),
    Mutation("adapters-delay-rounding", "fast", "adapters/spec/materialise.py",
             "np.maximum(1, np.rint(delay_ms / dt))", "np.maximum(1, np.floor(delay_ms / dt))",
             "delays in steps rounded down instead of to nearest", "tests/spec"),
    Mutation("benchmarks-pass-counts", "fast", "benchmarks/protocol.py",
             "total = last.astype(np.int64) if total is None else total + last",
             "total = last.astype(np.int64)",
             "a closed-loop pass keeps only its last chunk's counts", "tests/harness"),
    Mutation("reports-sample-sd", "fast", "reports/aggregate.py",
             "sd = float(v.std(ddof=1))", "sd = float(v.std(ddof=0))",
             "the report's confidence intervals use the population sd", "tests/reports"),
    # slow tier: what only the slow tests reach (the reports package has no slow tests:
    # its tests run on synthetic results and all sit in the fast tier)
    Mutation("spark-cuda-alif-jump", "slow", "spark/native/kernels_cuda.cu",
             "aux[i] = spike ? a + fp[kBeta] : a;", "aux[i] = spike ? a : a;",
             "the CUDA kernel's ALIF threshold never jumps at a spike (the CPU emulation)",
             "tests/spark"),
    Mutation("adapters-cython-input-step", "slow", "adapters/brian2/runtime.py",
             "(steps + self._step).astype(np.float64)", "(steps + self._step + 1).astype(np.float64)",
             "Brian2's runtime device gets each input spike one step late", "tests/brian2"),
    Mutation("benchmarks-ray-retries", "slow", "benchmarks/ray_executor.py",
             "if attempt.number <= self.executor.retries:", "if attempt.number < self.executor.retries:",
             "a unit lost with its Ray node is never tried again", "tests/cluster"),
)


def worktree(rev: str, where: Path) -> None:
    subprocess.run(["git", "worktree", "add", "--detach", str(where), rev], cwd=ROOT,
                   check=True, capture_output=True)


def remove_worktree(where: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT,
                   capture_output=True)
    shutil.rmtree(where, ignore_errors=True)


def apply(tree: Path, m: Mutation) -> None:
    path = tree / m.path
    text = path.read_text()
    if text.count(m.old) != 1:
        raise SystemExit(f"{m.name}: {m.path} holds {text.count(m.old)} copies of {m.old!r}, "
                         "expected exactly one (update the mutation)")
    path.write_text(text.replace(m.old, m.new))


def run_tier(tree: Path, m: Mutation, log: Path) -> tuple[int, float]:
    """The tier's tests of ``m.first``, then, if none failed, the whole tier."""
    env = dict(os.environ, SPARK_BENCH_REQUIRE_NATIVE="1",
               PYTHONPATH=str(tree))  # the worktree's packages, ahead of the editable install
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           *TIER_ARGS[m.tier]]
    start = time.monotonic()
    with open(log, "w") as out:
        rc = subprocess.call(cmd + [m.first], cwd=tree, env=env, stdout=out,
                             stderr=subprocess.STDOUT)
        if rc == 0:
            rc = subprocess.call(cmd, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT)
    return rc, time.monotonic() - start


def first_failure(log: Path) -> str:
    for line in log.read_text().splitlines():
        if line.startswith("FAILED") or line.startswith("ERROR"):
            return line[:160]
    return "(no FAILED line; see the log)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tier", choices=("fast", "slow", "all"), default="all")
    parser.add_argument("--only", default="")
    parser.add_argument("--logs", type=Path, default=ROOT / ".cache" / "mutations")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if m.old and (args.tier == "all" or m.tier == args.tier)
              and (not args.only or m.name == args.only)]
    args.logs.mkdir(parents=True, exist_ok=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    missed = []
    for m in chosen:
        tree = Path(tempfile.mkdtemp(prefix=f"mutant-{m.name}-"))
        tree.rmdir()
        worktree(rev, tree)
        try:
            apply(tree, m)
            log = args.logs / f"{m.name}.log"
            rc, seconds = run_tier(tree, m, log)
        finally:
            remove_worktree(tree)
        caught = rc == 1
        verdict = "caught" if caught else f"MISSED (pytest exit {rc})"
        print(f"{m.name:28s} {m.tier:4s} tier  {verdict:24s} {seconds:6.0f} s  {m.what}"
              + (f"\n    {first_failure(log)}" if caught else f"\n    log: {log}"), flush=True)
        if not caught:
            missed.append(m.name)
    print(f"{len(chosen) - len(missed)} of {len(chosen)} mutations caught at {rev[:10]}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
