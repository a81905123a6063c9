"""Generate and compile Brian2 standalone projects (C++ and CUDA) for a network.

The project's input group is a ``NeuronGroup`` whose threshold asks the host: its
threshold is ``spark_host_input(i, t_in_timesteps)``, a user-defined C++ function
(:file:`cpp/spark_host_io.h`) that reads the current chunk's input spikes from a buffer
the binary fills from its stdin. So a spike the host gives for step t is emitted at the
threshold slot of step t, exactly like a ``SpikeGeneratorGroup`` spike.

t = 0: the script calls ``Network.run(0 ms)`` once (it makes Brian2 emit the network's
objects and ``net.add`` calls into ``main``, and advances nothing); the code inserted
after it (``device.insert_code('main', ...)``, see :func:`serve_loop`) then runs chunks
with ``spark_net.run(k*dt)``. The first chunk starts at step 0 from the materialised
initial state, and every chunk starts with ``spark_net.t = step*dt`` (Network::run's
accumulated double ``t`` drifts over many short chunks), so chunked and uninterrupted
runs take the same steps.

Only numbers (sizes, dt written with ``repr``) and Brian2's own array names (derived from
validated population names) are written into the inserted code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..base import BackendFailed, BackendOptions, BackendUnavailable
from ..spec.materialise import MaterialisedNetwork
from .builds import BuildDir
from .device_context import base_prefs, brian2_prefs, keep_cwd, standalone_device
from .translate import BrianModel, build_model, float_dtype, modulated_pathways, modulator_code

CPP_DIR = Path(__file__).resolve().parent / "cpp"
NET_NAME = "spark_net"


@dataclass(frozen=True)
class Layout:
    """What the host needs to talk to a built binary."""

    n_inputs: int
    readouts: tuple[str, ...]
    recorded: tuple[str, ...]  # populations with spike recording, in this order
    dt_s: float
    modulated: bool = False  # reward-modulated synapses: chunks carry a modulator (cmd 2)


SRC_SUBDIR = "spark_src"
"""Where the host I/O sources are copied inside a build directory. The makefile names them
by this *relative* path (make runs in the build directory): no user path (a cache directory
with a space, or ``$(shell ...)`` in its name) is ever written into a makefile."""


def host_input_function():
    """The Brian2 ``Function`` behind ``spark_host_input(i, step)`` (C++ only), with its
    sources in ``SRC_SUBDIR`` of the build directory (a copy: the generated makefile writes
    the object file next to the source)."""
    from brian2 import Function

    def _python_side(i, step):  # pragma: no cover - never called: standalone only
        raise NotImplementedError("spark_host_input exists only in standalone builds")

    fn = Function(_python_side, arg_units=[1, 1], arg_types=["integer", "integer"],
                  return_unit=1, return_type="integer", stateless=False)
    fn.implementations.add_implementation(
        "cpp", code="", name="spark_host_input",
        compiler_kwds={"headers": ['"spark_host_io.h"'],
                       "sources": [f"{SRC_SUBDIR}/spark_host_io.cpp"],
                       "include_dirs": [SRC_SUBDIR]})
    return fn


def host_input_group():
    """``make_input`` for :func:`build_model`: the host-fed input ``NeuronGroup``."""

    def make(n: int, clock):
        from brian2 import NeuronGroup

        return NeuronGroup(n, "", threshold="spark_host_input(i, t_in_timesteps) > 0", reset="",
                           clock=clock, name="input",
                           namespace={"spark_host_input": host_input_function()})

    return make


def serve_loop(model: BrianModel, device, layout: Layout, modulator_update: str = "") -> str:
    """C++ inserted into ``main`` after ``run(0 ms)``: serve chunks until EOF / quit.

    Protocol (little-endian): host sends ``int64[3] = {cmd, k, n_events}``, for cmd 2 a
    ``float64`` modulator, then ``n_events`` pairs ``int32 (step_in_chunk, input_index)``;
    cmd 1 = run, 2 = run then apply ``modulator_update`` (the reward rule's end-of-chunk
    update, see :func:`.translate.modulator_code`; only a modulated network's loop accepts
    it), 0 = quit. Binary answers ``int64[n_readouts]`` counts, then per recorded
    population ``int64 n`` and ``n`` int64 steps and ``n`` int64 indices.
    """
    n_in = int(layout.n_inputs)
    counts = [device.get_array_name(model.count_monitors[r].variables["N"]) for r in layout.readouts]
    rec_i = [device.get_array_name(model.spike_monitors[p].variables["i"], access_data=False)
             for p in layout.recorded]
    rec_t = [device.get_array_name(model.spike_monitors[p].variables["t"], access_data=False)
             for p in layout.recorded]
    nr, npop = len(counts), len(layout.recorded)
    before = ", ".join(f"(int64_t){c}[0]" for c in counts)
    after = ", ".join(f"(int64_t){c}[0] - spark_before[{j}]" for j, c in enumerate(counts))
    rec_lines = []
    for p, (ai, at) in enumerate(zip(rec_i, rec_t)):
        rec_lines.append(f"""
        {{
            const size_t spark_n = {ai}.size();
            int64_t spark_new = (int64_t)(spark_n - spark_seen[{p}]);
            spark_io::write_exact(&spark_new, sizeof(int64_t));
            for (size_t q = spark_seen[{p}]; q < spark_n; ++q) {{
                int64_t s = (int64_t)llround({at}[q] / spark_dt);
                spark_io::write_exact(&s, sizeof(int64_t));
            }}
            for (size_t q = spark_seen[{p}]; q < spark_n; ++q) {{
                int64_t s = (int64_t){ai}[q];
                spark_io::write_exact(&s, sizeof(int64_t));
            }}
            spark_seen[{p}] = spark_n;
        }}""")
    return f"""
    // ---- spark-bench resident loop (adapters/brian2/standalone.py) ----
    {{
        spark_io::open_result_fd();
        spark_io::n_inputs = {n_in};
        const double spark_dt = {layout.dt_s!r};
        int64_t spark_step = 0;
        std::vector<size_t> spark_seen({max(npop, 1)}, 0);
        std::vector<int32_t> spark_ev;
        const int64_t spark_hello[2] = {{0x5350524B, {nr}}};
        spark_io::write_exact(spark_hello, sizeof(spark_hello));
        spark_io::flush();
        while (true) {{
            int64_t spark_hdr[3];
            if (!spark_io::read_exact(spark_hdr, sizeof(spark_hdr))) break;
            if (spark_hdr[0] != 1 && !(spark_hdr[0] == 2 && {int(bool(modulator_update))})) break;
            double spark_modulator = 0.0;
            if (spark_hdr[0] == 2 && !spark_io::read_exact(&spark_modulator, sizeof(double))) break;
            const int64_t spark_k = spark_hdr[1], spark_nev = spark_hdr[2];
            spark_io::input.assign((size_t)spark_k * (size_t){n_in}, 0);
            spark_ev.resize((size_t)(2 * spark_nev));
            if (spark_nev > 0 && !spark_io::read_exact(spark_ev.data(), spark_ev.size() * sizeof(int32_t))) break;
            for (int64_t e = 0; e < spark_nev; ++e) {{
                const int64_t row = spark_ev[2 * e], col = spark_ev[2 * e + 1];
                if (row >= 0 && row < spark_k && col >= 0 && col < {n_in})
                    spark_io::input[(size_t)row * {n_in} + (size_t)col] = 1;
            }}
            spark_io::chunk_start = spark_step;
            spark_io::chunk_len = spark_k;
            const int64_t spark_before[{max(nr, 1)}] = {{{before or "0"}}};
            // Network::run adds each duration to its double t; over many short chunks the
            // sum drifts past Clock's 1e-14 relative tolerance and steps get skipped.
            // Start every chunk from the exact time of its first step instead.
            {NET_NAME}.t = (double)spark_step * spark_dt;
            {NET_NAME}.run(spark_k * spark_dt, NULL, 10.0);
            if (spark_hdr[0] == 2) {{{modulator_update}
            }}
            spark_step += spark_k;
            const int64_t spark_counts[{max(nr, 1)}] = {{{after or "0"}}};
            spark_io::write_exact(spark_counts, sizeof(int64_t) * {nr});
            {"".join(rec_lines)}
            spark_io::flush();
        }}
    }}
    // ---- end spark-bench resident loop ----
"""


def run_make(bdir: BuildDir, backend_name: str) -> None:
    """Compile a generated project with its makefile, as Brian2's ``compile_source`` does
    (``make -j<cores>``), with all compiler output in ``bdir.log``."""
    with open(bdir.log, "ab") as log:
        proc = subprocess.run(["make", f"-j{os.cpu_count() or 1}"], cwd=str(bdir.path),
                              stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise BackendFailed(backend_name, f"compilation failed (make exit {proc.returncode})",
                            bdir.log)


def generate_and_compile(net: MaterialisedNetwork, options: BackendOptions, bdir: BuildDir,
                         backend_name: str, *, kind: str = "cpp_standalone",
                         extra_prefs: dict | None = None, insert=None, record_all: bool = False) -> tuple[Layout, dict[str, float], dict]:
    """Write the Brian2 project for ``net`` into ``bdir`` and compile it.

    ``insert(model, device, layout) -> (code, info)`` gives the C++ inserted into ``main``
    after ``run(0 ms)`` (default: the resident :func:`serve_loop`) and what the host needs
    to know about the build (array file names, ...). ``record_all`` forces spike monitors.

    Returns the host layout, phase timings (``construct``: Brian2 objects in Python;
    ``codegen``: ``device.build(compile=False)``; ``compile``: ``make``; and their sum
    ``codegen_compile``) and the ``insert`` info. Compiler output goes to ``bdir.log``
    (we run ``make`` ourselves: Brian2's ``compile_source`` sends it to its own temporary
    files); a failing build raises :class:`BackendFailed` naming the log.
    """
    try:
        import brian2 as b2
    except ImportError as err:
        raise BackendUnavailable(backend_name, f"brian2 not importable ({err}); "
                                               "install with: pip install brian2") from None
    if shutil.which("g++") is None and shutil.which("c++") is None:
        raise BackendUnavailable(backend_name, "no C++ compiler (g++) on PATH")
    prefs = base_prefs(net.dtype)
    # One thread is Brian2's own single-threaded build, OpenMP off (openmp_threads = 0, its
    # default): openmp_threads = 1 compiles OpenMP code that runs on one thread, slower on
    # plastic networks (the fair-peers issue measured 1.2-1.4x on an STDP network).
    threads = int(options.threads)
    prefs["devices.cpp_standalone.openmp_threads"] = threads if threads > 1 else 0
    prefs.update(extra_prefs or {})
    record = bool(options.record_spikes or record_all)
    recorded = tuple(p.name for p in net.populations) if record else ()
    if insert is None:
        def insert(model, device, layout):
            update = modulator_code(model, device, float_dtype(net)) if layout.modulated else ""
            return serve_loop(model, device, layout, update), {}
    phases: dict[str, float] = {}
    bdir.clear()
    bdir.log.write_text("")
    src_dir = bdir.path / SRC_SUBDIR
    src_dir.mkdir(exist_ok=True)
    for name in ("spark_host_io.h", "spark_host_io.cpp"):
        shutil.copyfile(CPP_DIR / name, src_dir / name)
    with keep_cwd(), brian2_prefs(prefs), standalone_device(kind) as device:
        t0 = time.perf_counter()
        model = build_model(net, host_input_group(), record=record)
        network = b2.Network(*model.objects(), name=NET_NAME)
        network.run(0 * b2.ms)
        modulated = bool(modulated_pathways(model.plan))
        layout = Layout(n_inputs=net.n_inputs, readouts=tuple(net.spec.readout_names),
                        recorded=recorded, dt_s=float(model.clock.dt_), modulated=modulated)
        device.headers.append('"spark_host_io.h"')
        code, info = insert(model, device, layout)
        device.insert_code("main", code)
        phases["construct"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        try:
            device.build(directory=str(bdir.path), compile=False, run=False, with_output=False)
        except Exception as err:
            raise BackendFailed(backend_name, f"code generation failed: {type(err).__name__}: "
                                              f"{str(err)[:500]}", bdir.log) from err
        phases["codegen"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    run_make(bdir, backend_name)
    phases["compile"] = time.perf_counter() - t2
    phases["codegen_compile"] = phases["codegen"] + phases["compile"]
    return layout, phases, info
