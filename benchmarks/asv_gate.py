"""Regression gate over stored asv results: ``python -m benchmarks.asv_gate BASE HEAD``.

``asv compare`` prints the table but always exits 0; this runs asv's own comparison
(``Compare.print_table``, the code ``asv continuous`` uses) on results already stored for
two commits and exits 1 with a ``PERFORMANCE DECREASED`` line when any benchmark got worse
by more than ``--factor``. Use it after ``asv run`` has measured both commits (nightly or on
demand: shared runners are too noisy for a per-push gate on absolute times).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asv.commands.compare import Compare
from asv.config import Config
from asv.repo import NoSuchNameError, get_repo
from asv.machine import iter_machine_files
from asv.util import load_json


def _resolve(repo, name: str) -> str:
    try:
        return repo.get_hash_from_name(name)
    except NoSuchNameError:
        return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.asv_gate", description=__doc__)
    parser.add_argument("base")
    parser.add_argument("head")
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--config", default="asv.conf.json")
    args = parser.parse_args(argv)
    conf = Config.load(str(Path(args.config).resolve()))
    repo = get_repo(conf)
    base, head = _resolve(repo, args.base), _resolve(repo, args.head)
    machines = sorted({load_json(p)["machine"] for p in iter_machine_files(conf.results_dir)})
    if len(machines) != 1:
        print(f"asv_gate: error: expected results of exactly one machine in {conf.results_dir}, "
              f"found {machines or 'none'}", file=sys.stderr)
        return 2
    worsened, improved = Compare.print_table(
        conf, base, head, factor=args.factor, split=False, machine=machines[0],
        only_changed=False, commit_names={base: args.base, head: args.head})
    if worsened:
        print("PERFORMANCE DECREASED.")
        return 1
    print("performance improved." if improved else "no significant performance change.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
