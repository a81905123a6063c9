"""brian2cuda (``cuda_standalone``) backends: ``brian2-cuda`` and ``brian2-cuda-uninterrupted``.

Both projects are generated and compiled in a subprocess (:mod:`.cuda_build`): importing
brian2cuda registers a device and preferences in Brian2's global state, and one
``cuda_standalone`` build must not leak into the process's other Brian2 builds.
``codegen_compile`` is code generation + nvcc/make.

``brian2-cuda-uninterrupted`` (open loop; build flavour ``cuda-open``)
    The project a brian2cuda user writes: the input spikes of
    :meth:`InputStream.open_loop` baked into a ``SpikeGeneratorGroup``, one
    ``run(n_steps*dt)``. :meth:`run_uninterrupted` launches the binary once (its own
    results directory under ``<build>/runs/``), waits for it (timeout), and reads the
    readout counts (each count monitor's ``N``) and the recorded spikes (each spike
    monitor's ``i``/``t``) from the result files it wrote; their names and dtypes were
    recorded at build time in ``spark_cuda_layout.json``. The spikes given must be the
    baked ones (checked by digest). The wall time of a call covers process start, CUDA
    context, loading the arrays, the run and writing the results; Brian2's own run timer
    (``last_run_info.txt``: ``Network::_last_run_time``, measured with ``std::clock``,
    i.e. CPU time of the host thread, which spins while it waits for the GPU) is the loop
    alone. Both are kept after every call (:meth:`last_run_timings`); the harness records
    the timer in each open-loop row's ``simulator_loop_s`` (:meth:`simulator_loop_seconds`).

``brian2-cuda`` (closed loop; flavour ``cuda-resident``)
    The resident-binary protocol of ``brian2-cpp`` (:mod:`.cpp_resident`, same bytes on the
    pipes): one binary stays running; per chunk it reads the input events from stdin,
    copies the dense (k, n_inputs) rows to the device, where the input group's threshold
    (``spark_device_input``, :file:`cpp/spark_cuda_io.h`) reads them, runs
    ``spark_net.run(k*dt)``, and writes the readout counts and the new recorded spikes
    (copied back from the monitors' device vectors) to the result pipe. The host side never
    blocks without a deadline: every read and write waits at most
    ``SPARK_BENCH_CUDA_CHUNK_TIMEOUT_S`` (start: ``SPARK_BENCH_CUDA_START_TIMEOUT_S``),
    then kills the binary and raises :class:`BackendFailed` with the tail of its stderr
    (CUDA errors are printed there: "spark: CUDA error in ...").

Without a GPU both build (compile only) and then raise :class:`BackendUnavailable`
("no GPU on this machine ...") from ``reset``/``run_chunk``/``run_uninterrupted``.

GPU check: ``python -m benchmarks.scripts.brian2cuda_smoke`` builds and runs both on a built-in network (default ``tiny``) and
compares their spikes with ``brian2-cpp-uninterrupted``.

Install (works with Brian2 2.9; brian2cuda 1.0b1 fails to import there)::

    pip install --no-deps brian2cuda==1.0a7
    pip install nvidia-curand          # CUDA 13 ships without cuRAND
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid
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
    sorted_spikes,
)
from ..hardware import gpu_present
from ..spec.materialise import MaterialisedNetwork
from .builds import build_dir, build_key, locked
from .cpp_resident import encode_chunk, read_answer
from .cuda_support import NVCC_FLAGS, curand_dirs, input_digest
from .translate import CUDA_FEATURES

INSTALL = "pip install --no-deps brian2cuda==1.0a7 && pip install nvidia-curand"
CUDA_BUILD = 2
"""Version of the brian2cuda project layout (2: open-loop result files + resident loop);
part of the build key."""
HELLO = 0x5350524B
NO_GPU = "no GPU on this machine (project generated and compiled with nvcc only)"
LAYOUT = "spark_cuda_layout.json"


def _env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def start_timeout_s() -> float:
    return _env_seconds("SPARK_BENCH_CUDA_START_TIMEOUT_S", 300.0)


def chunk_timeout_s() -> float:
    return _env_seconds("SPARK_BENCH_CUDA_CHUNK_TIMEOUT_S", 300.0)


@functools.cache
def compute_capability() -> float:
    """The compute capability to compile for: ``$SPARK_BENCH_CUDA_COMPUTE_CAPABILITY``, else
    GPU 0's (``nvidia-smi``), else 9.0 (H100/H200; what CI compiles for)."""
    env = os.environ.get("SPARK_BENCH_CUDA_COMPUTE_CAPABILITY")
    candidates = [env] if env else []
    if not env and gpu_present() and shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader",
                                  "-i", "0"], capture_output=True, text=True, timeout=20)
            candidates.append(out.stdout.strip().splitlines()[0] if out.returncode == 0 else "")
        except (OSError, subprocess.SubprocessError, IndexError):
            pass
    for value in candidates:
        try:
            cc = float(value)
        except (TypeError, ValueError):
            continue
        if 3.5 <= cc < 20:
            return round(cc, 1)
    return 9.0


def _tail(path: Path, start: int = 0, limit: int = 1500) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read()
    except OSError:
        return ""
    text = data[-limit:].decode("utf-8", "replace").strip()
    return " | ".join(line for line in text.splitlines() if line.strip())


class _Brian2CudaBase(Backend):
    """Shared build logic (abstract: not registered)."""

    FLAVOUR = ""
    MODE = ""

    def __init__(self) -> None:
        self._reason: str | None = "not prepared"
        self._layout: dict | None = None
        self._recording = False

    def prepare(self, net: MaterialisedNetwork, options: BackendOptions) -> BuildReport:
        check_supported(type(self), net)
        self.close()
        if importlib.util.find_spec("brian2cuda") is None:
            raise BackendUnavailable(self.name, f"brian2cuda is not installed; install with: {INSTALL}")
        if importlib.util.find_spec("nvidia") is None or not curand_dirs():
            raise BackendUnavailable(self.name, f"cuRAND not found; install with: {INSTALL}")
        if shutil.which("nvcc") is None:
            raise BackendUnavailable(self.name, "nvcc not on PATH (CUDA toolkit needed to compile)")
        cc = compute_capability()
        bdir = build_dir(net, self.FLAVOUR, options)
        key = build_key(net, self.FLAVOUR, options, cuda_build=CUDA_BUILD, nvcc=list(NVCC_FLAGS),
                        compute_capability=cc)
        with locked(bdir):
            if bdir.is_built(key) and (bdir.path / LAYOUT).exists():
                phases, cache_hit = {"construct": 0.0, "codegen_compile": 0.0}, True
            else:
                phases = self._build(net, options, bdir, cc)
                bdir.mark_built(key)
                cache_hit = False
        self._bdir = bdir
        self._layout = json.loads((bdir.path / LAYOUT).read_text())
        self._recording = bool(self._layout["recorded"])
        self._reason = None if gpu_present() else NO_GPU
        if self._reason is None:
            t0 = time.perf_counter()
            self.reset()
            if self.MODE == "resident":
                phases["start_binary"] = time.perf_counter() - t0
        notes = f"build dir {bdir.path}; compute capability {cc}"
        if self._reason:
            notes += f"; {self._reason}"
        return BuildReport(phases=phases, cache_hit=cache_hit, log_path=bdir.log, notes=notes)

    def _build(self, net: MaterialisedNetwork, options: BackendOptions, bdir, cc: float) -> dict[str, float]:
        bdir.clear()
        job = bdir.path / "spark_cuda_job.pkl"
        with open(job, "wb") as fh:
            pickle.dump({"net": net, "threads": options.threads, "mode": self.MODE,
                         "record": options.record_spikes, "compute_capability": cc}, fh)
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
            raise BackendFailed(self.name, f"brian2cuda build failed (exit {proc.returncode}): "
                                           f"{_tail(bdir.log, limit=600)}", bdir.log)
        phases = json.loads(result.read_text())
        phases["subprocess_total"] = wall
        return phases

    def _check_runnable(self) -> None:
        if self._reason is not None:
            raise BackendUnavailable(self.name, self._reason)

    def recorded_spikes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if not self._recording:
            raise NotImplementedError(f"{self.name}: built without record_spikes=True")
        self._check_runnable()
        return {name: sorted_spikes(steps, idx) for name, (steps, idx) in self._recorded.items()}


# --------------------------------------------------------------------------- open loop


class Brian2CudaUninterruptedBackend(_Brian2CudaBase):
    """brian2cuda's own open-loop project, launched once per :meth:`run_uninterrupted`."""

    name = "brian2-cuda-uninterrupted"
    device = "gpu"
    capabilities = Capabilities(closed_loop=False, open_loop=True, needs_gpu=True, **CUDA_FEATURES)
    FLAVOUR = "cuda-open"
    MODE = "open"

    def __init__(self) -> None:
        super().__init__()
        self._recorded: dict[str, tuple[list, list]] = {}
        self._timings: dict[str, float] = {}

    def reset(self) -> None:
        self._check_runnable()
        self._recorded = {p: ([], []) for p in self._layout["recorded"]}
        self._timings = {}

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        self._check_runnable()
        raise NotImplementedError(f"{self.name} is open loop only: use run_uninterrupted")

    def simulator_loop_seconds(self) -> float | None:
        """Brian2's run timer of the last run (the loop alone; the harness's wall clock
        also covers process start, CUDA context and loading)."""
        value = self._timings.get("brian2_run_s")
        return None if value is None else float(value)

    def last_run_timings(self) -> dict[str, float]:
        """Figures of the last :meth:`run_uninterrupted`: ``wall_s`` (the whole launch, as
        the harness times it), ``brian2_run_s`` (Brian2's run timer, the loop alone) and
        ``completed_fraction``."""
        return dict(self._timings)

    def run_uninterrupted(self, spikes: np.ndarray) -> np.ndarray:
        self._check_runnable()
        layout = self._layout
        if input_digest(spikes) != layout["input_digest"]:
            raise BackendFailed(self.name, "these input spikes are not the spec's open-loop "
                                           "stream the project was built with (they are baked "
                                           "into its SpikeGeneratorGroup)")
        bdir = self._bdir.path
        runs = bdir / "runs"
        runs.mkdir(exist_ok=True)
        rel = f"runs/{uuid.uuid4().hex}"
        out = bdir / rel
        out.mkdir()
        log = bdir / "spark_run.log"
        start = log.stat().st_size if log.exists() else 0
        timeout = chunk_timeout_s() + start_timeout_s()
        try:
            t0 = time.perf_counter()
            with open(log, "ab") as fh:
                try:
                    proc = subprocess.run([str(bdir / "main"), "--results_dir", rel + "/"],
                                          cwd=str(bdir), stdin=subprocess.DEVNULL, stdout=fh,
                                          stderr=subprocess.STDOUT, timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise BackendFailed(self.name, f"binary did not finish within {timeout:g} s "
                                                   f"(killed): {_tail(log, start)}", log) from None
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise BackendFailed(self.name, f"binary exited with code {proc.returncode}: "
                                               f"{_tail(log, start)}", log)
            counts, recorded, info = self._read_results(out, log)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        self._timings = {"wall_s": wall, **info}
        for name, (steps, idx) in recorded.items():
            self._recorded.setdefault(name, ([], []))
            self._recorded[name][0].append(steps)
            self._recorded[name][1].append(idx)
        return counts

    def _read_results(self, out: Path, log: Path):
        layout = self._layout

        def load(entry: dict) -> np.ndarray:
            path = out / entry["file"]
            if not path.exists():
                raise BackendFailed(self.name, f"the binary wrote no {entry['file']}", log)
            return np.fromfile(path, dtype=np.dtype(entry["dtype"]))

        counts = []
        for r in layout["readouts"]:
            n = load(layout["counts"][r])
            if n.size != 1:
                raise BackendFailed(self.name, f"{layout['counts'][r]['file']}: {n.size} values", log)
            counts.append(int(n[0]))
        recorded = {}
        for p in layout["recorded"]:
            idx = load(layout["spikes"][p]["i"]).astype(np.int64)
            t = load(layout["spikes"][p]["t"]).astype(np.float64)
            if idx.size != t.size:
                raise BackendFailed(self.name, f"population {p}: {idx.size} indices, {t.size} times", log)
            recorded[p] = (np.rint(t / layout["dt_s"]).astype(np.int64), idx)
        info = {}
        try:
            fields = (out / "last_run_info.txt").read_text().split()
            info = {"brian2_run_s": float(fields[0]), "completed_fraction": float(fields[1])}
        except (OSError, ValueError, IndexError):
            pass
        return np.asarray(counts, dtype=np.int64), recorded, info

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- closed loop


class CudaResidentProcess:
    """One running brian2cuda binary and its two pipes; every wait has a deadline."""

    def __init__(self, directory: Path, layout: dict, name: str, timeout_s: float):
        self.layout = layout
        self.name = name
        self.stderr_path = directory / "spark_resident.stderr"
        self._stderr = open(self.stderr_path, "ab")
        self._stderr_start = self._stderr.tell()
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, SPARK_RESULT_FD=str(write_fd))
        try:
            self.proc = subprocess.Popen([str(directory / "main")], cwd=str(directory),
                                         stdin=subprocess.PIPE, stdout=self._stderr,
                                         stderr=self._stderr, pass_fds=(write_fd,), env=env)
        except OSError:
            os.close(read_fd)
            self._stderr.close()
            raise
        finally:
            os.close(write_fd)
        self._rfd = read_fd
        self._wfd = self.proc.stdin.fileno()
        os.set_blocking(self._wfd, False)
        hello = self._read_i64(2, time.monotonic() + timeout_s, "starting (hello)", timeout_s)
        if hello[0] != HELLO or hello[1] != len(layout["readouts"]):
            self.stop()
            raise BackendFailed(name, f"resident binary said {hello.tolist()}", self.stderr_path)

    def _failed(self, what: str) -> BackendFailed:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        self.stop()
        return BackendFailed(self.name, f"resident binary exited (code {code}) while {what}: "
                                        f"{_tail(self.stderr_path, self._stderr_start)}",
                             self.stderr_path)

    def _wait(self, fd: int, event: int, deadline: float, what: str, timeout_s: float) -> None:
        poller = select.poll()
        poller.register(fd, event | select.POLLHUP | select.POLLERR)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise BackendFailed(self.name, f"resident binary did not answer within "
                                               f"{timeout_s:g} s while {what} (killed): "
                                               f"{_tail(self.stderr_path, self._stderr_start)}",
                                    self.stderr_path)
            if poller.poll(int(min(left, 1.0) * 1000) + 1):
                return

    def _read_exact(self, n: int, deadline: float, what: str, timeout_s: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            self._wait(self._rfd, select.POLLIN, deadline, what, timeout_s)
            data = os.read(self._rfd, n - len(buf))
            if not data:
                raise self._failed(what)
            buf += data
        return bytes(buf)

    def _read_i64(self, n: int, deadline: float, what: str, timeout_s: float) -> np.ndarray:
        return np.frombuffer(self._read_exact(8 * n, deadline, what, timeout_s), dtype="<i8")

    def _write_all(self, data: bytes, deadline: float, what: str, timeout_s: float) -> None:
        view = memoryview(data)
        while view:
            self._wait(self._wfd, select.POLLOUT, deadline, what, timeout_s)
            try:
                n = os.write(self._wfd, view)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise self._failed(what) from None
            view = view[n:]

    def run(self, spikes: np.ndarray, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        self._write_all(encode_chunk(spikes), deadline, "reading a chunk's input", timeout_s)
        what = f"running a chunk of {int(spikes.shape[0])} steps"
        return read_answer(lambda n: self._read_i64(n, deadline, what, timeout_s),
                           len(self.layout["readouts"]), len(self.layout["recorded"]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        for close in (self.proc.stdin.close, lambda: os.close(self._rfd), self._stderr.close):
            try:
                close()
            except OSError:
                pass
        self._rfd = -1


class Brian2CudaBackend(_Brian2CudaBase):
    """A resident brian2cuda binary fed chunk by chunk through a pipe (closed loop)."""

    name = "brian2-cuda"
    device = "gpu"
    capabilities = Capabilities(closed_loop=True, open_loop=True, needs_gpu=True, **CUDA_FEATURES)
    FLAVOUR = "cuda-resident"
    MODE = "resident"

    def __init__(self) -> None:
        super().__init__()
        self._proc: CudaResidentProcess | None = None
        self._recorded: dict[str, tuple[list, list]] = {}

    def reset(self) -> None:
        self._check_runnable()
        self.close()
        self._proc = CudaResidentProcess(self._bdir.path, self._layout, self.name,
                                         start_timeout_s())
        self._recorded = {p: ([], []) for p in self._layout["recorded"]}

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        self._check_runnable()
        if self._proc is None:
            raise BackendFailed(self.name, "no running binary (an earlier chunk failed; reset)")
        try:
            counts, recorded = self._proc.run(chunk.spikes, chunk_timeout_s())
        except BackendFailed:
            self._proc = None
            raise
        for name, (steps, idx) in zip(self._layout["recorded"], recorded):
            self._recorded[name][0].append(steps)
            self._recorded[name][1].append(idx)
        return counts

    def close(self) -> None:
        if getattr(self, "_proc", None) is not None:
            self._proc.stop()
            self._proc = None
