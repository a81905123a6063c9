"""Measure one source tree's noise-free figures: ``python measure.py --tree DIR --out FILE``.

Run by path, not as a module: the gate measures the commit under test *and its parent*
with this same script, and the parent may predate the gate. So this file imports only the
standard library at the top, then the *tree's own* ``spark``, ``adapters`` and
``benchmarks`` (the tree goes first on ``sys.path``, ahead of the editable install).

Figures (all repeatable on a shared, noisy machine):

* ``spikes/NETWORK/BACKEND``: a digest of every spike a backend emits on ``tiny`` and on a
  reduced paper network (8 x 128 neurons, 50 ms), float64, driven in closed loop at k = 10
  (open-loop backends: the whole run at once); the spike arrays go to ``--spikes`` so that a
  difference can be shown, not only detected.
* ``cache/...``: whether a second build of the same network hits the compile cache, and how
  many XLA programs Spark compiles for a first pass and for a repeated one (must be 0).
* ``instructions/...``: instructions executed, counted by valgrind's callgrind, inside the
  native kernels' entry points (``SparkLifChunk``, ``SparkLifStep``, ``SparkPropagate``) and
  inside Brian2's ``Network::run`` for a fixed closed-loop workload on the reduced network;
  ``instructions/native-plastic`` inside ``SparkPlasticChunk`` for the cartpole agent
  (:data:`PLASTIC_CHUNKS`). The native figures are counted in one valgrind process, one
  named dump each (:file:`callgrind_marks.c`): a backend's ``prepare`` (tracing, XLA
  compile, a first chunk) is not part of them.

Each figure is stored with its kind (``digest``, ``exact``, ``count``) so the comparison
knows how to judge it. A figure that cannot be measured here (no NEST, no valgrind) is
stored as ``{"skipped": reason}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIGEST_NETWORKS = ("tiny", "reduced")
DIGEST_K = 10
DIGEST_BACKENDS = ("spark", "spark-native", "brian2-cpp", "brian2-cpp-uninterrupted",
                   "brian2-cpp-relaunch", "brian2-runtime", "brian2-runtime-run-per-chunk",
                   "brian2-numpy", "nest", "nest-uninterrupted", "nest-native")
"""A label the measured tree's registry lacks (a parent older than the label) is recorded
as skipped there, so the head's figure shows as new."""
SLOW_ON_REDUCED = ("brian2-runtime", "brian2-runtime-run-per-chunk", "brian2-numpy")
"""Brian2's runtime device on the reduced network: a cold Cython build of a new network
costs minutes on 2 cores and numpy runs a chunk in ~0.1 s; ``tiny`` covers both."""
CYTHON_NOT_DIGESTED = {
    "brian2-runtime": "Cython target: the gate digests Brian2's runtime device through "
                      "brian2-numpy (the same generated code, numpy target); Cython's spikes "
                      "are tested bit for bit against it in the slow tier",
    "brian2-runtime-run-per-chunk": "Cython target, a Network.run per chunk: tested bit for "
                                    "bit against brian2-cpp and brian2-runtime in the slow tier",
}
"""Recorded as skipped, with the reason, on both trees: their cold Cython build of tiny
(~115 s on 2 cores, then ~40 s of runs per chunk) was a quarter of the gate's time, and
what it would catch, the slow tier's bit-identity tests of the same labels catch
(``test_runtime_cython_tiny_matches_reference``, ``test_runtime_equals_cpp_closed_loop``)."""

NATIVE_SYMBOLS = ("SparkLifChunk", "SparkLifStep", "SparkPropagate")
PLASTIC_SYMBOLS = ("*::plastic_chunk(",)
"""The plastic chunk's handler body: callgrind misses the exported ``SparkPlasticChunk``
thunk's callees (it counted 244 instructions in all), so the toggle is the handler."""
PLASTIC_CHUNKS, PLASTIC_K = 60, 20
"""The plastic workload: the cartpole agent on spark-native, 60 chunks of 20 steps with
dense random input (30 % per step) and a random modulator per chunk (fixed seeds)."""
BRIAN2_RUN_SYMBOL = "Network::run"
COUNT_CHUNKS = {1: 100, 100: 5}
"""The fixed instruction-count workload: 100 chunks at k = 1, then 5 at k = 100."""


def _use_tree(tree: Path) -> None:
    sys.path.insert(0, str(tree))
    os.chdir(tree)


def _network(name: str, dtype: str = "float64"):
    from adapters.spec import load_spec, materialise
    from adapters.spec.networks import pools_network

    # p = 0.4: paper8's in-degree (~51 synapses from the input and from each pool) at 1/8 of
    # its pool size; with paper8's p = 0.05 this network never spikes, and a digest of no
    # spikes detects nothing.
    spec = pools_network("gate8x128", 8, 128, p=0.4, duration=50.0) if name == "reduced" \
        else load_spec(name)
    return materialise(spec).with_dtype(dtype)


def _digest(spikes: dict, counts: list) -> str:
    h = hashlib.sha256()
    for pop in sorted(spikes):
        steps, idx = spikes[pop]
        h.update(pop.encode() + b"\0")
        h.update(_i64(steps).tobytes() + b"|" + _i64(idx).tobytes() + b";")
    for c in counts:
        h.update(_i64(c).tobytes())
    return h.hexdigest()


def _i64(a):
    import numpy as np

    return np.ascontiguousarray(np.asarray(a, dtype="<i8"))


def _closed_loop(backend, net, k: int) -> list:
    """Drive ``backend`` (already reset) through the whole run in chunks of ``k`` with the
    feedback controller; the readout counts of every chunk."""
    from adapters.base import ChunkInput
    from adapters.spec.inputs import InputStream

    stream, last, out = InputStream(net.spec), None, []
    for _ in range(net.n_steps // k):
        last = backend.run_chunk(ChunkInput(spikes=stream.next_chunk(k, last)))
        out.append(last)
    return out


def spike_figures(cache: Path, arrays: dict) -> dict:
    """Digest of every backend's spikes per network (recorded in closed loop at k = 10)."""
    from adapters.base import BackendOptions, BackendUnavailable, UnsupportedSpec
    from adapters.registry import entry, load_backend
    from adapters.spec.inputs import InputStream

    figures = {}
    for network in DIGEST_NETWORKS:
        net = _network(network)
        for name in DIGEST_BACKENDS:
            key = f"spikes/{network}/{name}"
            if network == "reduced" and name in SLOW_ON_REDUCED:
                continue
            if name in CYTHON_NOT_DIGESTED:
                figures[key] = {"skipped": CYTHON_NOT_DIGESTED[name]}
                continue
            _progress(key)
            try:
                cls = load_backend(name)
                backend = cls()
            except BackendUnavailable as err:
                figures[key] = {"skipped": err.reason}
                continue
            except KeyError:
                figures[key] = {"skipped": "not a backend of this tree"}
                continue
            try:
                backend.prepare(net, BackendOptions(cache_dir=cache, record_spikes=True))
                backend.reset()
                if entry(name).capabilities.closed_loop:
                    counts = _closed_loop(backend, net, DIGEST_K)
                else:
                    counts = [backend.run_uninterrupted(InputStream(net.spec).open_loop())]
                spikes = backend.recorded_spikes()
            except (BackendUnavailable, UnsupportedSpec) as err:
                figures[key] = {"skipped": str(err)}
                continue
            finally:
                backend.close()
            n = sum(int(len(s)) for s, _ in spikes.values())
            figures[key] = {"kind": "digest", "value": _digest(spikes, counts), "spikes": n}
            for pop, (steps, idx) in spikes.items():
                arrays[f"{key}/{pop}/steps"] = _i64(steps)
                arrays[f"{key}/{pop}/indices"] = _i64(idx)
    return figures


def cache_figures(cache: Path) -> dict:
    """A warm build must hit the cache; Spark's compiled-program counts (first pass, and a
    repeated pass that must compile nothing)."""
    import jax
    from jax._src import monitoring

    from adapters.base import BackendOptions, BackendUnavailable
    from adapters.registry import load_backend

    compiles = []
    monitoring.register_event_duration_secs_listener(
        lambda event, _secs, **_: compiles.append(event)
        if event == "/jax/core/compile/backend_compile_duration" else None)
    figures = {}
    net = _network("reduced", "float32")
    for name in ("brian2-cpp", "brian2-cpp-relaunch"):
        _progress(f"cache/{name}")
        try:
            cls = load_backend(name)
        except BackendUnavailable as err:
            figures[f"cache/{name}/warm_build_hits"] = {"skipped": err.reason}
            continue
        hits = []
        for _ in range(2):
            backend = cls()
            try:
                hits.append(backend.prepare(net, BackendOptions(cache_dir=cache)).cache_hit)
            finally:
                backend.close()
        figures[f"cache/{name}/warm_build_hits"] = {"kind": "exact", "value": bool(hits[1])}
    for name in ("spark", "spark-native"):
        for k in (1, 100):
            _progress(f"cache/{name}/k{k}")
            backend = load_backend(name)()
            try:
                start = len(compiles)
                backend.prepare(net, BackendOptions(cache_dir=cache))
                backend.reset()
                _closed_loop(backend, net, k)
                first = len(compiles) - start
                backend.reset()
                _closed_loop(backend, net, k)
                again = len(compiles) - start - first
            finally:
                backend.close()
            figures[f"cache/{name}/k{k}/programs_first_pass"] = {"kind": "exact", "value": first}
            figures[f"cache/{name}/k{k}/programs_repeated_pass"] = {"kind": "exact",
                                                                    "value": again}
    del jax
    return figures


# ------------------------------------------------------------------ instruction counts


def _callgrind(argv: list[str], symbols: tuple[str, ...], out: Path) -> list[str]:
    """The valgrind command that counts instructions inside ``symbols`` only."""
    toggles = [f"--toggle-collect={s}*" for s in symbols]
    return ["valgrind", "--tool=callgrind", "--collect-atstart=no", *toggles,
            f"--callgrind-out-file={out}", "--dump-instr=no", *argv]


def _total(out: Path) -> int:
    """Instructions counted in one callgrind file (inside the toggled functions only): its
    ``summary``, the counts of this dump alone (``totals`` adds every earlier dump's)."""
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary in callgrind output {out}")


COUNTED = ("native/float32", "native/float64", "native-plastic/float32")
"""The workloads one valgrind process counts, in order, one callgrind dump each."""


class _Marks:
    """The callgrind client requests of :file:`callgrind_marks.c`, through ctypes."""

    def __init__(self, library: Path):
        import ctypes

        self._lib = ctypes.CDLL(str(library))
        self._lib.gate_dump.argtypes = [ctypes.c_char_p]

    def counted(self, name: str, run) -> None:
        """Count what ``run()`` executes (counters zeroed before it), dumped as ``name``."""
        self._lib.gate_zero()
        run()
        self._lib.gate_dump(name.encode())


def counted_workloads(marks_library: Path) -> None:
    """Every counted workload, in one process under callgrind.

    Each backend is prepared (JAX traced, XLA compiled), the counters are zeroed, its
    chunks run and the counts inside the toggled kernel symbols are dumped under the
    workload's name. The native figures: spark-native on the reduced network,
    :data:`COUNT_CHUNKS`. The plastic figure: the cartpole agent, :data:`PLASTIC_CHUNKS`
    chunks of :data:`PLASTIC_K` steps with dense random input (30 % per step) and a random
    modulator per chunk (fixed seeds)."""
    import numpy as np

    from adapters.base import BackendOptions, ChunkInput
    from adapters.registry import load_backend
    from adapters.spec import materialise
    from adapters.spec.networks import cartpole_agent

    marks = _Marks(marks_library)
    options = BackendOptions(cache_dir=Path(os.environ["GATE_CACHE"]))
    for dtype in ("float32", "float64"):
        net = _network("reduced", dtype)
        backend = load_backend("spark-native")()
        backend.prepare(net, options)

        def closed_loop(backend=backend, net=net) -> None:
            for k, chunks in COUNT_CHUNKS.items():
                backend.reset()
                _closed_loop_n(backend, net, k, chunks)

        marks.counted(f"native/{dtype}", closed_loop)
        backend.close()
    net = materialise(cartpole_agent(), 0).with_dtype("float32")
    backend = load_backend("spark-native")()
    backend.prepare(net, options)
    rng = np.random.default_rng(0)
    chunks = [(rng.random((PLASTIC_K, net.spec.input.size)) < 0.3, float(rng.normal(0.0, 0.5)))
              for _ in range(PLASTIC_CHUNKS)]

    def plastic() -> None:
        for spikes, modulator in chunks:
            backend.run_chunk(ChunkInput(spikes=spikes, modulator=modulator))

    marks.counted("native-plastic/float32", plastic)
    backend.close()


def _closed_loop_n(backend, net, k: int, chunks: int) -> None:
    from adapters.base import ChunkInput
    from adapters.spec.inputs import InputStream

    stream, last = InputStream(net.spec), None
    for _ in range(chunks):
        last = backend.run_chunk(ChunkInput(spikes=stream.next_chunk(k, last)))


def _build_marks(work: Path) -> Path:
    """Compile :file:`callgrind_marks.c` (needs gcc and valgrind's headers)."""
    source = Path(__file__).resolve().with_name("callgrind_marks.c")
    library = work / "libgate_marks.so"
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise RuntimeError("no C compiler (gcc) to build the callgrind marks")
    proc = subprocess.run([compiler, "-shared", "-fPIC", "-O1", str(source), "-o", str(library)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building {source.name} failed (valgrind's headers, "
                           f"valgrind/callgrind.h, missing?):\n{proc.stderr.strip()}")
    return library


def _dumps(out: Path) -> dict[str, int]:
    """The named dumps of one callgrind run: ``{name: instructions}``, from the
    ``desc: Trigger: Client Request: NAME`` header of each ``out.N`` file."""
    counts = {}
    for path in sorted(out.parent.glob(out.name + ".*")):
        name = None
        for line in path.read_text().splitlines():
            if line.startswith("desc: Trigger: Client Request: "):
                name = line.split(": ", 3)[-1].strip()
                break
        if name is not None:
            counts[name] = _total(path)
    return counts


def instruction_figures(tree: Path, cache: Path, work: Path) -> dict:
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        reason = "valgrind is not installed (apt-get install valgrind)"
        return {"instructions/native": {"skipped": reason},
                "instructions/brian2-cpp": {"skipped": reason}}
    _progress("instructions/native/float32, float64 and native-plastic/float32 "
              "(one process under valgrind, one dump each)")
    out = work / "native.callgrind"
    cmd = _callgrind([sys.executable, str(Path(__file__).resolve()), "--tree", str(tree),
                      "--counted-workloads", str(_build_marks(work))],
                     NATIVE_SYMBOLS + PLASTIC_SYMBOLS, out)
    subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ,
                   GATE_CACHE=str(cache)))
    counts = _dumps(out)
    missing = [name for name in COUNTED if name not in counts]
    if missing:
        raise RuntimeError(f"callgrind wrote no dump for {missing} in {work}")
    figures = {f"instructions/{name}": {"kind": "count", "value": counts[name]}
               for name in COUNTED}
    _progress("instructions/brian2-cpp (binary under valgrind)")
    figures.update(_brian2_instructions(cache, work))
    return figures


def _brian2_instructions(cache: Path, work: Path) -> dict:
    """Brian2 C++'s resident binary under callgrind, driven through the tree's own backend.

    The gate swaps the binary in its private cache for a shell launcher that runs it under
    valgrind *as a child* (no ``exec``): the backend's ``SIGKILL`` on reset then ends only
    the launcher, the binary sees its input pipe close, leaves its loop and exits normally,
    which is when callgrind writes its counts (one file per process, ``%p``)."""
    from adapters.base import BackendOptions, BackendUnavailable
    from adapters.brian2.builds import build_dir
    from adapters.registry import load_backend

    net = _network("reduced", "float64")
    # A build of its own, for a fixed ISA: Brian2 compiles with -march=native, and on a CPU
    # with AVX-512 valgrind (3.19) stops the binary at the first AVX-512 instruction
    # (SIGILL). x86-64-v3 (AVX2, FMA) is what valgrind runs, on every machine alike.
    options = BackendOptions(cache_dir=cache / "callgrind")
    flags = _portable_brian2_flags()
    try:
        backend = load_backend("brian2-cpp")()
        backend.prepare(net, options)
    except BackendUnavailable as err:
        _restore(flags)
        return {"instructions/brian2-cpp/Network::run": {"skipped": err.reason}}
    except BaseException:
        _restore(flags)
        raise
    backend.close()
    directory = build_dir(net, "cpp-resident", options).path
    binary, real = directory / "main", directory / "main.gate-real"
    binary.rename(real)
    try:
        cmd = _callgrind([str(real)], (BRIAN2_RUN_SYMBOL,), work / "brian2.callgrind.%p")
        binary.write_text("#!/bin/sh\n" + " ".join(f"'{c}'" for c in cmd) + ' "$@"\n')
        binary.chmod(0o755)
        backend = load_backend("brian2-cpp")()
        try:
            backend.prepare(net, options)
            for k, n in COUNT_CHUNKS.items():
                backend.reset()
                _closed_loop_n(backend, net, k, n)
        finally:
            backend.close()
        _wait_for_exit(str(real))
    finally:
        binary.unlink(missing_ok=True)
        real.rename(binary)
        _restore(flags)
    total = sum(_total(path) for path in work.glob("brian2.callgrind.*"))
    return {"instructions/brian2-cpp/Network::run": {"kind": "count", "value": total}}


def _portable_brian2_flags() -> tuple[list, list] | None:
    """Swap ``-march=native`` for ``-march=x86-64-v3`` in the tree's Brian2 compile flags
    (in place; returns what :func:`_restore` needs), on x86-64 trees that have the list."""
    import platform

    try:
        from adapters.brian2 import device_context
    except ImportError:
        return None
    flags = getattr(device_context, "STRICT_FLAGS", None)
    if not isinstance(flags, list) or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    saved = list(flags)
    flags[:] = ["-march=x86-64-v3" if f == "-march=native" else f for f in flags]
    return flags, saved


def _restore(patched: tuple[list, list] | None) -> None:
    if patched is not None:
        patched[0][:] = patched[1]


def _wait_for_exit(command: str, timeout_s: float = 300.0) -> None:
    """Wait until no process runs ``command`` (the orphaned, counted binaries)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if subprocess.run(["pgrep", "-f", command], capture_output=True).returncode != 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the counted binary {command} did not exit within {timeout_s:.0f} s")


_STARTED = time.monotonic()


def _progress(what: str) -> None:
    """One log line per figure, with the seconds since start (the gate's cost breakdown)."""
    print(f"gate: [{time.monotonic() - _STARTED:6.0f} s] measuring {what}", file=sys.stderr,
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--spikes", type=Path)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--only", choices=("spikes", "cache", "instructions"), action="append")
    parser.add_argument("--counted-workloads", type=Path, metavar="MARKS_LIBRARY",
                        help="(internal) run the counted workloads, under valgrind")
    args = parser.parse_args(argv)
    tree = args.tree.resolve()
    _use_tree(tree)
    if args.counted_workloads:
        counted_workloads(args.counted_workloads)
        return 0
    cache = (args.cache or tree / ".cache" / "gate").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    parts = args.only or ["spikes", "cache", "instructions"]
    arrays: dict = {}
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="gate-") as tmp:
        if "spikes" in parts:
            figures.update(spike_figures(cache, arrays))
        if "cache" in parts:
            figures.update(cache_figures(cache))
        if "instructions" in parts:
            figures.update(instruction_figures(tree, cache, Path(tmp)))
    if args.spikes:
        import numpy as np

        np.savez_compressed(args.spikes, **arrays)
    text = json.dumps({"tree": str(tree), "figures": figures}, indent=1, sort_keys=True)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
