"""What both halves of the brian2cuda backends share (:mod:`.cuda`, the backend in this
process, and :mod:`.cuda_build`, the build run in a subprocess): the nvcc flags, the
digest of an open-loop input, where the curand wheel keeps its files. A leaf module, so
neither half imports the other."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np

NVCC_FLAGS = ["-w", "-std=c++17", "--fmad=false"]
"""Extra nvcc flags of every brian2cuda build (part of the build key in :mod:`.cuda`)."""


def input_digest(spikes: np.ndarray) -> str:
    """Digest of a bool ``(n_steps, n_inputs)`` input: shape and events (step, index)."""
    spikes = np.asarray(spikes)
    steps, idx = np.nonzero(spikes)
    h = hashlib.sha256()
    h.update(np.asarray(spikes.shape, dtype="<i8").tobytes())
    h.update(steps.astype("<i8").tobytes())
    h.update(idx.astype("<i8").tobytes())
    return h.hexdigest()


def curand_dirs() -> tuple[Path, Path] | None:
    """(include, lib) of the nvidia-curand wheel, wherever its layout puts them."""
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for header in sorted(Path(root).glob("*/include/curand.h")):
            lib = header.parent.parent / "lib"
            if any(lib.glob("libcurand.so*")):
                return header.parent, lib
        header = Path(root) / "curand" / "include" / "curand.h"  # older wheels: nvidia/curand
        lib = header.parent.parent / "lib"
        if header.exists() and any(lib.glob("libcurand.so*")):
            return header.parent, lib
    return None
