"""Brian2's global state (preferences, current device) behind context managers.

Brian2 keeps one current device and one preference table per process. Every build here
enters :func:`brian2_prefs` (backup/restore of the whole table) and, for standalone
modes, :func:`standalone_device` (``set_device`` on entry; ``device.reinit()`` and
``reset_device('runtime')`` on exit), so several builds in one process (the tests) do
not see each other. Runtime modes cannot restore preferences after ``prepare`` because
Brian2 regenerates code at every ``Network.run``; they re-apply their own preferences
(:func:`apply_prefs`) before each run instead.

Compiler flags: Brian2's defaults contain ``-ffast-math`` (licence to reassociate and to
contract ``a*b + c`` into an FMA). The pinned updates are written as one IEEE operation
per statement, so we compile with :data:`STRICT_FLAGS` (``-ffast-math`` and
``-fno-finite-math-only`` removed, ``-ffp-contract=off`` added, ``-O3 -march=native``
kept): generated code then computes the same float64 numbers as numpy evaluating the
formulas of :mod:`adapters.spec.model`. The arithmetic is a handful of multiply/adds per
neuron (propagators are host constants, no ``exp`` in the loop), so fast-math buys little.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
import numpy as np

STRICT_FLAGS = ["-w", "-O3", "-march=native", "-ffp-contract=off", "-std=c++17"]
"""Compile flags for every Brian2 C++/Cython build (see module docstring)."""


def base_prefs(dtype: str) -> dict[str, object]:
    """Preferences every mode uses: float dtype, no sympy loop-invariant rewriting
    (it would refactor the pinned statements), strict compiler flags."""
    return {
        "core.default_float_dtype": np.float32 if dtype == "float32" else np.float64,
        "codegen.loop_invariant_optimisations": False,
        "codegen.cpp.extra_compile_args_gcc": list(STRICT_FLAGS),
    }


def apply_prefs(values: dict[str, object]) -> None:
    from brian2 import prefs

    for key, value in values.items():
        if prefs[key] is not value:
            prefs[key] = value


@contextlib.contextmanager
def brian2_prefs(values: dict[str, object]) -> Iterator[None]:
    """Set ``values`` for the duration of the block, then restore every preference."""
    from brian2 import prefs

    prefs._backup()
    try:
        apply_prefs(values)
        yield
    finally:
        prefs._restore()


@contextlib.contextmanager
def standalone_device(kind: str, **build_options) -> Iterator[object]:
    """Make ``kind`` (``cpp_standalone``/``cuda_standalone``) the current device for one
    build, with ``build_on_run=False``; always back to a fresh runtime device after."""
    from brian2.devices.device import all_devices, get_device, reset_device, set_device

    if get_device().__class__.__name__ != "RuntimeDevice":
        raise RuntimeError("another Brian2 standalone build is active in this process")
    all_devices[kind].reinit()
    set_device(kind, build_on_run=False, **build_options)
    try:
        yield get_device()
    finally:
        try:
            all_devices[kind].reinit()
        finally:
            reset_device("runtime")


@contextlib.contextmanager
def keep_cwd() -> Iterator[None]:
    """Brian2's ``device.build``/``device.run`` change directory; always come back."""
    old = os.getcwd()
    try:
        yield
    finally:
        os.chdir(old)
