"""Subprocess entry point: build one brian2cuda project (see :mod:`.cuda`).

``python -m adapters.brian2.cuda_build <build_dir>`` reads ``spark_cuda_job.pkl`` there,
generates the project into ``<build_dir>`` and compiles it with nvcc, then writes phase
timings to ``spark_cuda_result.json``.

Preferences (all needed on a machine without a GPU and with CUDA 13):
``detect_gpus=False``, ``compute_capability=9.0``, ``gpu_id=0``; ``-std=c++17`` for nvcc
and g++ (CUB needs it); the nvidia-curand wheel's include/lib directories, plus a
``libcurand.so`` symlink (the wheel ships only ``libcurand.so.10``) in ``<build_dir>/curand``.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    bdir = Path(argv[0]).resolve()
    job = pickle.loads((bdir / "spark_cuda_job.pkl").read_bytes())
    net = job["net"]

    import brian2 as b2
    import brian2cuda  # noqa: F401  (registers the cuda_standalone device)

    from ..spec.inputs import InputStream, spikes_to_events
    from .cuda import _curand_dirs
    from .builds import BuildDir
    from .device_context import STRICT_FLAGS, base_prefs, brian2_prefs, keep_cwd, standalone_device
    from .standalone import run_make
    from .translate import build_model

    include, lib = _curand_dirs()
    link_dir = bdir / "curand"
    link_dir.mkdir(exist_ok=True)
    link = link_dir / "libcurand.so"
    if not link.exists():
        target = sorted(lib.glob("libcurand.so*"))[0]
        link.symlink_to(target)
    prefs = base_prefs(net.dtype)
    prefs.update({
        "devices.cuda_standalone.cuda_backend.detect_gpus": False,
        "devices.cuda_standalone.cuda_backend.compute_capability": 9.0,
        "devices.cuda_standalone.cuda_backend.gpu_id": 0,
        "devices.cuda_standalone.cuda_backend.extra_compile_args_nvcc": ["-w", "-std=c++17"],
        "codegen.cpp.extra_compile_args_gcc": list(STRICT_FLAGS),
        "codegen.cpp.include_dirs": [str(include)],
        # "curand" relative to the build directory (make runs there): no user path in the
        # makefile. At run time libcurand.so.10 is found in the wheel's own directory.
        "codegen.cpp.library_dirs": [link_dir.name, str(lib)],
        "codegen.cpp.runtime_library_dirs": [str(lib)],
    })
    spikes = InputStream(net.spec).open_loop()
    steps, idx = spikes_to_events(spikes)

    def make_input(n, clock):
        return b2.SpikeGeneratorGroup(n, idx.astype(np.int32), steps * net.dt * b2.ms,
                                      clock=clock, name="input")

    phases = {}
    with keep_cwd(), brian2_prefs(prefs), standalone_device("cuda_standalone") as device:
        t0 = time.perf_counter()
        model = build_model(net, make_input, record=bool(job["record"]), use_defaultclock=True)
        network = b2.Network(*model.objects(), name="spark_net")
        network.run(net.n_steps * net.dt * b2.ms)
        phases["construct"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        device.build(directory=str(bdir), compile=False, run=False, with_output=False)
        phases["codegen"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    run_make(BuildDir(path=bdir, cold=True), "brian2-cuda")  # nvcc via the generated makefile
    phases["compile"] = time.perf_counter() - t2
    phases["codegen_compile"] = phases["codegen"] + phases["compile"]
    (bdir / "spark_cuda_result.json").write_text(json.dumps(phases))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
