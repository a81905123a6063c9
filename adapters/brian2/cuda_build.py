"""Subprocess entry point: build one brian2cuda project (see :mod:`.cuda`).

``python -m adapters.brian2.cuda_build <build_dir>`` reads ``spark_cuda_job.pkl`` there,
generates the project into ``<build_dir>`` and compiles it with nvcc, then writes phase
timings to ``spark_cuda_result.json`` and what the host needs to run it to
``spark_cuda_layout.json``. Two kinds of project (``job["mode"]``):

``open`` (``brian2-cuda-uninterrupted``)
    The open-loop run as a brian2cuda user writes it: the input spikes of
    :meth:`InputStream.open_loop` baked into a ``SpikeGeneratorGroup``, one
    ``run(n_steps*dt)``; the binary writes every array to ``<results_dir>`` at its end.
    The layout names the result files of the readout counts (each count monitor's ``N``)
    and of the recorded spikes (each spike monitor's ``i`` and ``t``), with their dtypes
    (``device.get_array_filename``), and a digest of the baked input events.

``resident`` (``brian2-cuda``)
    The resident binary of ``brian2-cpp`` (:mod:`.standalone`) on the GPU: ``run(0 ms)``,
    then the inserted loop of :func:`cuda_serve_loop` reads each chunk's input events
    from stdin, copies the dense (k, n_inputs) rows to the device
    (``spark_cuda_io::upload_chunk``), runs ``spark_net.run(k*dt)`` and writes the readout
    counts (host-side ``N`` of the count monitors, which brian2cuda keeps on the host) and
    the recorded spikes (the tail of each spike monitor's device vectors
    ``dev_dynamic_array_<mon>_i``/``_t``, copied back) to the result pipe. The input
    group's threshold is ``spark_device_input(i, t_in_timesteps) > 0``, a Brian2
    ``Function`` with a ``cuda`` implementation (:file:`cpp/spark_cuda_io.h`) reading the
    chunk's rows on the device.

Only Brian2's own array names (checked to be C identifiers) and numbers are written into
the inserted code.

Preferences (all needed on a machine without a GPU and with CUDA 13):
``detect_gpus=False``, ``compute_capability`` from the job (9.0 unless a GPU says
otherwise), ``gpu_id=0``; ``-std=c++17`` for nvcc and g++ (CUB needs it); ``--fmad=false``
(no FMA contraction in device code, as ``-ffp-contract=off`` on the host); the
nvidia-curand wheel's include/lib directories, plus a ``libcurand.so`` symlink (the wheel
ships only ``libcurand.so.10``) in ``<build_dir>/curand``.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from .cuda_support import NVCC_FLAGS, curand_dirs, input_digest

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _ident(name: str) -> str:
    """A Brian2 array name about to be written into C++: must be a plain identifier."""
    if not _IDENT.match(name):
        raise ValueError(f"not a C identifier: {name!r}")
    return name


def cuda_prefs(net, bdir: Path, compute_capability: float) -> dict:
    from .device_context import STRICT_FLAGS, base_prefs

    include, lib = curand_dirs()
    link_dir = bdir / "curand"
    link_dir.mkdir(exist_ok=True)
    link = link_dir / "libcurand.so"
    if not link.exists():
        target = sorted(lib.glob("libcurand.so*"))[0]
        link.symlink_to(target)
    prefs = base_prefs(net.dtype)
    prefs.update({
        "devices.cuda_standalone.cuda_backend.detect_gpus": False,
        "devices.cuda_standalone.cuda_backend.compute_capability": float(compute_capability),
        "devices.cuda_standalone.cuda_backend.gpu_id": 0,
        "devices.cuda_standalone.cuda_backend.extra_compile_args_nvcc": list(NVCC_FLAGS),
        "codegen.cpp.extra_compile_args_gcc": list(STRICT_FLAGS),
        "codegen.cpp.include_dirs": [str(include)],
        # "curand" relative to the build directory (make runs there): no user path in the
        # makefile. At run time libcurand.so.10 is found in the wheel's own directory.
        "codegen.cpp.library_dirs": [link_dir.name, str(lib)],
        "codegen.cpp.runtime_library_dirs": [str(lib)],
    })
    return prefs


def _file_entry(device, var) -> dict:
    return {"file": device.get_array_filename(var), "dtype": np.dtype(var.dtype).str}


def open_loop_layout(net, model, device) -> dict:
    """What the host reads back after the open-loop binary ran (see module docstring)."""
    from ..spec.inputs import InputStream

    readouts = list(net.spec.readout_names)
    recorded = list(model.spike_monitors)
    return {
        "mode": "open", "n_inputs": int(net.n_inputs), "readouts": readouts,
        "recorded": recorded, "dt_s": float(model.clock.dt_), "n_steps": int(net.n_steps),
        "counts": {r: _file_entry(device, model.count_monitors[r].variables["N"]) for r in readouts},
        "spikes": {p: {"i": _file_entry(device, model.spike_monitors[p].variables["i"]),
                       "t": _file_entry(device, model.spike_monitors[p].variables["t"])}
                   for p in recorded},
        "input_digest": input_digest(InputStream(net.spec).open_loop()),
    }


def cuda_serve_loop(model, device, n_inputs: int, readouts: list[str], recorded: list[str],
                    dt_s: float) -> str:
    """C++ inserted into ``main`` after ``run(0 ms)``: the protocol of
    :func:`.standalone.serve_loop` (same bytes on the pipes), with the chunk's input copied
    to the device and the monitors' device vectors copied back. A CUDA error ends the
    binary with exit code 5 after printing it to stderr."""
    n_in = int(n_inputs)
    counts = [_ident(device.get_array_name(model.count_monitors[r].variables["N"]))
              for r in readouts]
    dev_i = [_ident(device.get_array_name(model.spike_monitors[p].variables["i"],
                                          access_data=False, prefix="dev")) for p in recorded]
    dev_t = [_ident(device.get_array_name(model.spike_monitors[p].variables["t"],
                                          access_data=False, prefix="dev")) for p in recorded]
    nr, npop = len(counts), len(recorded)
    before = ", ".join(f"(int64_t){c}[0]" for c in counts)
    after = ", ".join(f"(int64_t){c}[0] - spark_before[{j}]" for j, c in enumerate(counts))
    rec_lines = []
    for p, (di, dtv) in enumerate(zip(dev_i, dev_t)):
        rec_lines.append(f"""
            {{
                const size_t spark_n = {di}.size();
                if ({dtv}.size() != spark_n) {{
                    std::fprintf(stderr, "spark: monitor {p}: %zu indices but %zu times\\n",
                                 spark_n, (size_t){dtv}.size());
                    std::exit(5);
                }}
                if (!spark_cuda_io::copy_tail({di}, spark_seen[{p}], spark_n, spark_rec_i,
                                              "cudaMemcpy(monitor {p} indices, device -> host)") ||
                    !spark_cuda_io::copy_tail({dtv}, spark_seen[{p}], spark_n, spark_rec_t,
                                              "cudaMemcpy(monitor {p} times, device -> host)"))
                    std::exit(5);
                int64_t spark_new = (int64_t)(spark_n - spark_seen[{p}]);
                spark_io::write_exact(&spark_new, sizeof(int64_t));
                for (size_t q = 0; q < spark_rec_t.size(); ++q) {{
                    int64_t s = (int64_t)llround((double)spark_rec_t[q] / spark_dt);
                    spark_io::write_exact(&s, sizeof(int64_t));
                }}
                for (size_t q = 0; q < spark_rec_i.size(); ++q) {{
                    int64_t s = (int64_t)spark_rec_i[q];
                    spark_io::write_exact(&s, sizeof(int64_t));
                }}
                spark_seen[{p}] = spark_n;
            }}""")
    rec_types = ""
    if npop:
        rec_types = (f"std::vector<std::remove_cv<std::remove_reference<decltype({dev_i[0]})>::type>"
                     f"::type::value_type> spark_rec_i;\n"
                     f"        std::vector<std::remove_cv<std::remove_reference<decltype({dev_t[0]})>::type>"
                     f"::type::value_type> spark_rec_t;")
    return f"""
    // ---- spark-bench resident loop, CUDA (adapters/brian2/cuda_build.py) ----
    {{
        spark_io::open_result_fd();
        spark_io::n_inputs = {n_in};
        const double spark_dt = {float(dt_s)!r};
        int64_t spark_step = 0;
        std::vector<size_t> spark_seen({max(npop, 1)}, 0);
        std::vector<int32_t> spark_ev;
        {rec_types}
        if (!spark_cuda_io::check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (start)"))
            std::exit(5);
        const int64_t spark_hello[2] = {{0x5350524B, {nr}}};
        spark_io::write_exact(spark_hello, sizeof(spark_hello));
        spark_io::flush();
        while (true) {{
            int64_t spark_hdr[3];
            if (!spark_io::read_exact(spark_hdr, sizeof(spark_hdr))) break;
            if (spark_hdr[0] != 1) break;
            const int64_t spark_k = spark_hdr[1], spark_nev = spark_hdr[2];
            if (spark_k < 0 || spark_nev < 0) {{
                std::fprintf(stderr, "spark: bad chunk header k=%lld n_events=%lld\\n",
                             (long long)spark_k, (long long)spark_nev);
                std::exit(6);
            }}
            spark_io::input.assign((size_t)spark_k * (size_t){n_in}, 0);
            spark_ev.resize((size_t)(2 * spark_nev));
            if (spark_nev > 0 && !spark_io::read_exact(spark_ev.data(), spark_ev.size() * sizeof(int32_t))) break;
            for (int64_t e = 0; e < spark_nev; ++e) {{
                const int64_t row = spark_ev[2 * e], col = spark_ev[2 * e + 1];
                if (row >= 0 && row < spark_k && col >= 0 && col < {n_in})
                    spark_io::input[(size_t)row * {n_in} + (size_t)col] = 1;
            }}
            if (!spark_cuda_io::upload_chunk(spark_io::input.data(), spark_step, spark_k, {n_in}))
                std::exit(5);
            const int64_t spark_before[{max(nr, 1)}] = {{{before or "0"}}};
            // As in the C++ loop: every chunk starts at the exact time of its first step
            // (Network::run's accumulated double t drifts over many short chunks).
            spark_net.t = (double)spark_step * spark_dt;
            spark_net.run(spark_k * spark_dt, NULL, 10.0);
            if (!spark_cuda_io::check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (after chunk)"))
                std::exit(5);
            spark_step += spark_k;
            const int64_t spark_counts[{max(nr, 1)}] = {{{after or "0"}}};
            spark_io::write_exact(spark_counts, sizeof(int64_t) * {nr});
            {"".join(rec_lines)}
            spark_io::flush();
        }}
        spark_cuda_io::release();
    }}
    // ---- end spark-bench resident loop ----
"""


def device_input_function():
    """``spark_device_input(i, step)``: a Brian2 ``Function`` whose ``cuda`` implementation
    (:file:`cpp/spark_cuda_io.h`, copied to ``spark_src/`` of the build directory and named
    by that relative path: make runs there and nvcc has ``-I.``) reads the chunk's input rows
    on the device."""
    from brian2 import Function

    from .standalone import SRC_SUBDIR

    def _python_side(i, step):  # pragma: no cover - never called: standalone only
        raise NotImplementedError("spark_device_input exists only in cuda_standalone builds")

    fn = Function(_python_side, arg_units=[1, 1], arg_types=["integer", "integer"],
                  return_unit=1, return_type="integer", stateless=False)
    fn.implementations.add_implementation(
        "cuda", code="", name="spark_device_input",
        compiler_kwds={"headers": [f'"{SRC_SUBDIR}/spark_cuda_io.h"'],
                       "sources": [f"{SRC_SUBDIR}/spark_cuda_io.cu"]})
    return fn


def main(argv: list[str]) -> int:
    bdir = Path(argv[0]).resolve()
    job = pickle.loads((bdir / "spark_cuda_job.pkl").read_bytes())
    net = job["net"]
    mode = job.get("mode", "open")

    import brian2 as b2
    import brian2cuda  # noqa: F401  (registers the cuda_standalone device)

    from ..spec.inputs import InputStream, spikes_to_events
    from .builds import BuildDir
    from .device_context import brian2_prefs, keep_cwd, standalone_device
    from .standalone import CPP_DIR, NET_NAME, SRC_SUBDIR, run_make
    from .translate import build_model

    prefs = cuda_prefs(net, bdir, job.get("compute_capability", 9.0))
    record = bool(job["record"])
    if mode == "open":
        spikes = InputStream(net.spec).open_loop()
        steps, idx = spikes_to_events(spikes)

        def make_input(n, clock):
            return b2.SpikeGeneratorGroup(n, idx.astype(np.int32), steps * net.dt * b2.ms,
                                          clock=clock, name="input")
    elif mode == "resident":
        src = bdir / SRC_SUBDIR
        src.mkdir(exist_ok=True)
        for name in ("spark_host_io.h", "spark_host_io.cpp", "spark_cuda_io.h", "spark_cuda_io.cu"):
            shutil.copyfile(CPP_DIR / name, src / name)

        def make_input(n, clock):
            return b2.NeuronGroup(n, "", threshold="spark_device_input(i, t_in_timesteps) > 0",
                                  reset="", clock=clock, name="input",
                                  namespace={"spark_device_input": device_input_function()})
    else:
        raise ValueError(f"unknown mode {mode!r}")

    phases = {}
    with keep_cwd(), brian2_prefs(prefs), standalone_device("cuda_standalone") as device:
        t0 = time.perf_counter()
        model = build_model(net, make_input, record=record, use_defaultclock=True)
        network = b2.Network(*model.objects(), name=NET_NAME)
        if mode == "open":
            network.run(net.n_steps * net.dt * b2.ms)
            layout = open_loop_layout(net, model, device)
        else:
            network.run(0 * b2.ms)
            readouts, recorded = list(net.spec.readout_names), list(model.spike_monitors)
            layout = {"mode": "resident", "n_inputs": int(net.n_inputs), "readouts": readouts,
                      "recorded": recorded, "dt_s": float(model.clock.dt_),
                      "n_steps": int(net.n_steps)}
            device.headers.append(f'"{SRC_SUBDIR}/spark_cuda_io.h"')
            device.insert_code("main", cuda_serve_loop(model, device, net.n_inputs, readouts,
                                                       recorded, layout["dt_s"]))
        phases["construct"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        device.build(directory=str(bdir), compile=False, run=False, with_output=False)
        phases["codegen"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    run_make(BuildDir(path=bdir, cold=True), "brian2-cuda")  # nvcc via the generated makefile
    phases["compile"] = time.perf_counter() - t2
    phases["codegen_compile"] = phases["codegen"] + phases["compile"]
    (bdir / "spark_cuda_layout.json").write_text(json.dumps(layout))
    (bdir / "spark_cuda_result.json").write_text(json.dumps(phases))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
