"""Run one unit of work in this process: ``python -m benchmarks.worker UNIT_JSON RESULTS_DIR``.

The sweep starts one worker per unit so that Brian2's global device, JAX's memory and any
crash stay inside it. Progress events go to stdout as JSON lines prefixed with ``@@``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .protocol import Unit, run_unit

EVENT_PREFIX = "@@"


def unit_from_json(text: str) -> Unit:
    data = json.loads(text)
    data["timesteps"] = tuple(data["timesteps"])
    return Unit(**data)


def main(argv: list[str]) -> int:
    unit = unit_from_json(argv[0])

    def emit(event: dict) -> None:
        print(EVENT_PREFIX + json.dumps(event), flush=True)

    run_unit(unit, Path(argv[1]), emit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
