"""Figure styles are a pure function of the backend name: no call-order or process effects."""

from __future__ import annotations

import os
import subprocess
import sys

from reports import figures

KNOWN = {
    "spark": ("#0072B2", "o", "-"),
    "spark-native": ("#56B4E9", "D", "-"),
    "spark-native-direct": ("#56B4E9", "p", (0, (1, 1.5))),
    "brian2-cpp": ("#D55E00", "s", "--"),
    "brian2-cpp-relaunch": ("#CC79A7", "v", ":"),
    "brian2-runtime": ("#009E73", "^", "-."),
    "brian2-runtime-run-per-chunk": ("#009E73", "<", ":"),
    "brian2-numpy": ("#E69F00", "P", (0, (5, 2, 1, 2, 1, 2))),
    "brian2-cuda": ("#000000", "X", (0, (1, 1))),
    "nest": ("#999999", "*", (0, (3, 1, 1, 1))),
    "nest-native": ("#999999", "d", (0, (1, 2))),
    "brainpy": ("#882255", "h", (0, (1, 2))),
    "spark-gpu": ("#0072B2", "H", (0, (3, 1, 1, 1, 1, 1))),
    "spark-native-gpu": ("#56B4E9", "8", (0, (3, 1, 1, 1, 1, 1))),
    "brainpy-gpu": ("#882255", ">", (0, (3, 1, 1, 1, 1, 1))),
}
KNOWN_OPEN = {
    "brian2-cpp-uninterrupted": ("#333333", (0, (6, 3))),
    "nest-uninterrupted": ("#999999", (0, (2, 2))),
    "brian2-cuda-uninterrupted": ("#000000", (0, (6, 3))),
}
UNKNOWN = ("genn", "my-simulator", "brian2-cpp-v2")

_SCRIPT = """
import sys
from reports.figures import open_style, style
for name in sys.argv[2:]:
    style(name), open_style(name)
print(repr([(n, style(n), open_style(n)) for n in sys.argv[1].split(",")]))
"""


def _styles_in_fresh_process(names: list[str], warm_up: list[str], hash_seed: str) -> str:
    """Styles of ``names`` printed by a new interpreter (its own ``hash()`` salt) that
    styled ``warm_up`` first."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, ",".join(names), *warm_up], env=env,
                          check=True, capture_output=True, text=True, cwd=os.getcwd())
    return done.stdout


def test_unknown_backend_style_ignores_call_order():
    first = {name: (figures.style(name), figures.open_style(name)) for name in UNKNOWN}
    for other in ("x", "y", "z", *KNOWN, *reversed(UNKNOWN)):
        figures.style(other)
        figures.open_style(other)
    assert {name: (figures.style(name), figures.open_style(name)) for name in UNKNOWN} == first
    for colour, marker, _ in (s for s, _ in first.values()):
        assert colour in figures._FALLBACK_COLOURS and marker in figures._FALLBACK_MARKERS


def test_unknown_backend_style_is_the_same_in_every_process():
    names = [*UNKNOWN, *KNOWN, "brian2-cpp-uninterrupted"]
    one = _styles_in_fresh_process(names, [], "1")
    two = _styles_in_fresh_process(names, ["zz", "yy", *reversed(names)], "2")
    assert one == two and "genn" in one


def test_known_table_unchanged_and_never_grows():
    for name in ("a-new-backend", "another", *UNKNOWN):
        figures.style(name)
        figures.open_style(name)
    assert dict(figures._STYLES) == KNOWN
    assert dict(figures._OPEN_STYLES) == KNOWN_OPEN
    assert {name: figures.style(name) for name in KNOWN} == KNOWN
    assert {name: figures.open_style(name) for name in KNOWN_OPEN} == KNOWN_OPEN
    assert figures.open_style("spark") == ("#0072B2", (0, (4, 2, 1, 2)))


def test_gpu_lines_are_thicker_and_unknown_gpu_backends_dash_dot_dot():
    cpu = figures.device_style("spark", "cpu")
    gpu = figures.device_style("spark-gpu", "gpu: NVIDIA H200")
    assert cpu == (*KNOWN["spark"], figures.LINE_WIDTH)
    assert gpu == (*KNOWN["spark-gpu"], figures.GPU_LINE_WIDTH) and gpu[3] > cpu[3]
    other = figures.device_style("genn-gpu", "gpu")
    assert other[2] == figures._GPU_FALLBACK_LINE and other[3] == figures.GPU_LINE_WIDTH
    assert figures.device_style("genn-gpu", "cpu")[2] == "-"
    assert figures.device_tag("gpu: NVIDIA H200") == " [gpu: NVIDIA H200]" and figures.device_tag("") == ""
    # brian2cuda's open loop is dashed like the normaliser's line
    assert figures.open_style("brian2-cuda-uninterrupted")[1] == figures.open_style(
        "brian2-cpp-uninterrupted")[1]


def test_every_registered_backend_has_a_style_of_its_own():
    """A new backend gets a fixed style, not a hashed fallback that may repeat another's."""
    from adapters.registry import BACKENDS

    for name, entry in BACKENDS.items():
        table = figures._STYLES if entry.capabilities.closed_loop else figures._OPEN_STYLES
        assert name in table, f"{name}: add its style to reports/figures.py"
    closed = [v for n, v in figures._STYLES.items()]
    assert len(set(closed)) == len(closed)
