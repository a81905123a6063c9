"""``brian2-cuda``: a brian2cuda ``cuda_standalone`` project, generated and compiled with nvcc.

The build runs in a subprocess (:mod:`.cuda_build`): importing brian2cuda registers a
device and preferences in Brian2's global state, and one ``cuda_standalone`` build must
not leak into the process's other Brian2 builds. The project is the open-loop run of the
network (input spikes of :meth:`InputStream.open_loop` in a ``SpikeGeneratorGroup``, one
``run(n_steps*dt)``). ``codegen_compile`` is code generation + nvcc/make.

Running is not implemented: ``reset``/``run_chunk``/``run_uninterrupted`` raise
:class:`BackendUnavailable` ("no GPU" where there is none). A closed loop on the GPU
would need the resident-binary protocol of ``brian2-cpp`` with a device-side input buffer.

Install (works with Brian2 2.9; brian2cuda 1.0b1 fails to import there)::

    pip install --no-deps brian2cuda==1.0a7
    pip install nvidia-curand          # CUDA 13 ships without cuRAND
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..base import (
    Backend,
    BackendFailed,
    BackendOptions,
    BackendUnavailable,
    BuildReport,
    Capabilities,
    ChunkInput,
    check_supported,
)
from ..spec.materialise import MaterialisedNetwork
from .builds import build_dir, build_key, locked
from ..hardware import gpu_present
from .translate import FEATURES

INSTALL = "pip install --no-deps brian2cuda==1.0a7 && pip install nvidia-curand"
FLAVOUR = "cuda"


class Brian2CudaBackend(Backend):
    """brian2cuda: code generation and nvcc compile measured; execution needs a GPU."""

    name = "brian2-cuda"
    # Open loop only (one generated binary, inputs in advance), and only on a GPU.
    capabilities = Capabilities(closed_loop=False, open_loop=True, needs_gpu=True, **FEATURES)

    def __init__(self) -> None:
        self._reason = "not prepared"

    def prepare(self, net: MaterialisedNetwork, options: BackendOptions) -> BuildReport:
        check_supported(type(self), net)
        if importlib.util.find_spec("brian2cuda") is None:
            raise BackendUnavailable(self.name, f"brian2cuda is not installed; install with: {INSTALL}")
        if importlib.util.find_spec("nvidia") is None or not _curand_dirs():
            raise BackendUnavailable(self.name, f"cuRAND not found; install with: {INSTALL}")
        if shutil.which("nvcc") is None:
            raise BackendUnavailable(self.name, "nvcc not on PATH (CUDA toolkit needed to compile)")
        bdir = build_dir(net, FLAVOUR, options)
        key = build_key(net, FLAVOUR, options)
        with locked(bdir):
            if bdir.is_built(key):
                phases, cache_hit = {"construct": 0.0, "codegen_compile": 0.0}, True
            else:
                phases = self._build(net, options, bdir)
                bdir.mark_built(key)
                cache_hit = False
        self._bdir = bdir
        self._reason = ("no GPU on this machine (project generated and compiled with nvcc only)"
                        if not gpu_present() else
                        "running brian2cuda projects is not implemented (compile only)")
        return BuildReport(phases=phases, cache_hit=cache_hit, log_path=bdir.log,
                           notes=f"build dir {bdir.path}; {self._reason}")

    def _build(self, net: MaterialisedNetwork, options: BackendOptions, bdir) -> dict[str, float]:
        bdir.clear()
        job = bdir.path / "spark_cuda_job.pkl"
        with open(job, "wb") as fh:
            pickle.dump({"net": net, "threads": options.threads,
                         "record": options.record_spikes}, fh)
        bdir.log.write_text("")
        repo_root = Path(__file__).resolve().parents[2]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(repo_root), *filter(None, [os.environ.get("PYTHONPATH")])]))
        t0 = time.perf_counter()
        with open(bdir.log, "ab") as log:
            proc = subprocess.run([sys.executable, "-m", "adapters.brian2.cuda_build", str(bdir.path)],
                                  stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(repo_root))
        wall = time.perf_counter() - t0
        result = bdir.path / "spark_cuda_result.json"
        if proc.returncode != 0 or not result.exists():
            raise BackendFailed(self.name, f"brian2cuda build failed (exit {proc.returncode})", bdir.log)
        phases = json.loads(result.read_text())
        phases["subprocess_total"] = wall
        return phases

    def _unavailable(self):
        raise BackendUnavailable(self.name, self._reason)

    def reset(self) -> None:
        self._unavailable()

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        self._unavailable()

    def run_uninterrupted(self, spikes: np.ndarray) -> np.ndarray:
        self._unavailable()


def _curand_dirs() -> tuple[Path, Path] | None:
    """(include, lib) of the nvidia-curand wheel, wherever its layout puts them."""
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for header in sorted(Path(root).glob("*/include/curand.h")):
            lib = header.parent.parent / "lib"
            if any(lib.glob("libcurand.so*")):
                return header.parent, lib
    return None
