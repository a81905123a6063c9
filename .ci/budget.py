"""CI's stage clock: time each stage of ``.ci/run``, print the table, fail a stage over budget.

Why: CI has a hard limit (90 min on 2 cores) and grew 5x in thirteen landings without anyone
seeing it until it was two-thirds full. Each stage has a budget, and so does the sum; a
run over either fails *with the table*, so a slowdown is seen by the commit that makes it.

    python3 .ci/budget.py run NAME BUDGET_S -- CMD [ARG ...]   # time one stage
    python3 .ci/budget.py report TOTAL_BUDGET_S                # the table; exit 1 if over

Stage times go to ``$CI_STAGES`` (default ``.cache/ci-stages.json``). Standard library only:
it runs before the virtual environment exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

STAGES = Path(os.environ.get("CI_STAGES", ".cache/ci-stages.json"))


def load(path: Path = STAGES) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def record(stage: dict, path: Path = STAGES) -> None:
    stages = [s for s in load(path) if s["name"] != stage["name"]] + [stage]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stages, indent=1))
    tmp.replace(path)


def table(stages: list[dict], total_budget: float) -> tuple[str, bool]:
    """The stage table and whether anything is over budget (a failed stage counts as over)."""
    rows = [("stage", "seconds", "budget", "status")]
    over = False
    for s in stages:
        status = "ok"
        if s["rc"] != 0:
            status, over = f"FAILED (exit {s['rc']})", True
        elif s["seconds"] > s["budget"]:
            status, over = f"OVER BUDGET by {s['seconds'] - s['budget']:.0f} s", True
        rows.append((s["name"], f"{s['seconds']:.0f}", f"{s['budget']:.0f}", status))
    total = sum(s["seconds"] for s in stages)
    status = "ok"
    if total > total_budget:
        status, over = f"OVER BUDGET by {total - total_budget:.0f} s", True
    rows.append(("total", f"{total:.0f}", f"{total_budget:.0f}", status))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0].ljust(widths[0])}  {r[1].rjust(widths[1])}  {r[2].rjust(widths[2])}  {r[3]}"
             for r in rows]
    return "\n".join(lines), over


def run(name: str, budget: float, command: list[str]) -> int:
    print(f"== stage {name} (budget {budget:.0f} s): {' '.join(command)}", flush=True)
    start = time.monotonic()
    rc = subprocess.call(command)
    seconds = time.monotonic() - start
    record({"name": name, "seconds": seconds, "budget": budget, "rc": rc})
    print(f"== stage {name} took {seconds:.0f} s (budget {budget:.0f} s), exit {rc}", flush=True)
    return rc


def report(total_budget: float) -> int:
    text, over = table(load(), total_budget)
    print("== CI stage times\n" + text, flush=True)
    if over:
        print("== CI FAILED: a stage failed or ran over its budget (budgets in .ci/run)")
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 4 and argv[0] == "run" and argv[3] == "--":
        return run(argv[1], float(argv[2]), argv[4:])
    if len(argv) == 2 and argv[0] == "report":
        return report(float(argv[1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
