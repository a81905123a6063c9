"""``python -m benchmarks.control`` (also ``spark-bench cartpole``): the cartpole workload.

``learn``: many agents (seeds 0 .. N-1), batched in one Spark program, train then test;
``bench``: one agent per backend and k, the loop timed with the environment apart.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.arguments import UsageError, positive_int

from .cartpole import REWARDS, CartpoleTask
from .encoding import PlaceCode, TracedReadout


def _count(text: str) -> int:
    """A whole number >= 0."""
    return 0 if text.strip() == "0" else positive_int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``learn`` and ``bench`` sub-commands (shared by ``spark-bench cartpole``)."""
    sub = parser.add_subparsers(dest="cartpole_command", required=True)
    learn = sub.add_parser("learn", help="train and test N agents (batched Spark), report "
                                         "every agent")
    learn.add_argument("--agents", type=positive_int, default=25)
    learn.add_argument("--train", type=positive_int, default=1000, help="training episodes")
    learn.add_argument("--test", type=_count, default=250, help="test episodes (weights fixed)")
    learn.add_argument("--k", type=positive_int, default=50,
                       help="network steps (1 ms) per environment step")
    learn.add_argument("--reward", choices=REWARDS, default="td",
                       help="td: a host-side critic's TD error every step, learnt from the "
                            "failure signal alone (default); failure: the failure signal "
                            "itself; return: the episode's return against a running mean")
    learn.add_argument("--out", type=Path, default=Path("results/cartpole-learn"))
    bench = sub.add_parser("bench", help="time the loop per backend and k (one agent each)")
    bench.add_argument("--backends", nargs="+", default=["spark", "spark-native", "spark-gpu",
                                                         "brian2-cpp", "brian2-runtime", "nest"])
    bench.add_argument("--k", nargs="+", type=positive_int, default=[10, 50, 100])
    bench.add_argument("--episodes", type=positive_int, default=20)
    bench.add_argument("--reward", choices=REWARDS, default="td")
    bench.add_argument("--out", type=Path, default=Path("results/cartpole-bench"))


def _progress(label: str):
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 2.0 or done == total:
            print(f"\r{label}: {done}/{total} episodes", end="\n" if done == total else "",
                  file=sys.stderr, flush=True)
            last[0] = now

    return show


def run(args: argparse.Namespace) -> int:
    from adapters.spec.networks import cartpole_agent

    from .runs import bench, learn

    spec = cartpole_agent()
    task = CartpoleTask(k=args.k if args.cartpole_command == "learn" else 50,
                        code=PlaceCode(n_per_dim=spec.input.size // 4), readout=TracedReadout(),
                        reward=args.reward)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a directory")
    if args.cartpole_command == "learn":
        summary = learn(spec, task, args.agents, args.train, args.test, args.out,
                        progress=_progress(f"{args.agents} agents"))
        print(f"solved {int(summary.solved.sum())}/{len(summary)}; report: "
              f"{args.out / 'summary.md'}")
    else:
        table = bench(spec, task, args.backends, args.k, args.episodes, args.out,
                      progress=lambda cell: print(f"cartpole bench: {cell}", file=sys.stderr))
        print(f"{(table.status == 'ok').sum()} cells measured; report: {args.out / 'summary.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.control",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except UsageError as err:
        print(f"python -m benchmarks.control: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
