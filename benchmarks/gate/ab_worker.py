"""A/B timing worker for one source tree: ``python ab_worker.py --tree DIR`` (run by path).

Like measure.py it imports only the standard library, then the *tree's own* packages, so
the parent commit is timed with its own code. It answers JSON lines on stdin/stdout:

* ``{"op": "setup", "backend": B, "k": K}``: build B on the asv suite's reduced network
  (the tree's ``benchmarks.suite.common``), one warm-up pass at k = K;
* ``{"op": "time", "backend": B, "k": K, "passes": N}``: the fastest of N synchronised
  closed-loop passes (the protocol's own timing), in seconds.

The driver (:mod:`benchmarks.gate.ab`) keeps one worker per tree alive and alternates its
requests, so both trees are timed in the same minutes on the same core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, required=True)
    parser.add_argument("--core", type=int, default=None)
    args = parser.parse_args()
    tree = args.tree.resolve()
    sys.path.insert(0, str(tree))
    os.chdir(tree)  # the suite's build cache is relative: each tree keeps its own
    if args.core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    from benchmarks.suite.common import build, one_pass

    backends = {}
    out = sys.stdout
    sys.stdout = sys.stderr  # anything the simulators print stays off the protocol
    for line in sys.stdin:
        request = json.loads(line)
        try:
            key = (request["backend"], int(request["k"]))
            if request["op"] == "setup":
                if request["backend"] not in backends:
                    backends[request["backend"]] = build(request["backend"])[0]
                one_pass(backends[request["backend"]], key[1])
                reply = {"ok": True}
            else:
                backend = backends[request["backend"]]
                reply = {"ok": True, "seconds": min(one_pass(backend, key[1]).seconds
                                                    for _ in range(int(request["passes"])))}
        except Exception as err:  # the driver reports it; the worker keeps serving
            reply = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    for backend in backends.values():
        backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
