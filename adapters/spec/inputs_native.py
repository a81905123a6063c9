"""The closed-loop input stream's per-chunk work compiled (``inputs_native.cc``), one call.

Why: at k = 1 the controller and the input draw run once per chunk inside every backend's
timed loop. Written with numpy (``inputs.py``) they are ~12 ufunc calls on 8-element
arrays, ~9.5 us per chunk on paper8 in the loop (2-core EPYC): a third of what Spark's
whole k = 1 chunk costs. One C call does the same arithmetic in ~2-3 us. Every backend
draws its input through the same stream, so the comparison stays fair; a researcher's
controller would be compiled code too.

Bit-identical to the numpy formulas (tested: spikes and per-channel probabilities, clipping
and NaN included): the same IEEE operations in numpy's order, no contraction.

The library builds on first use into the native cache (``$SPARK_BENCH_NATIVE_CACHE``, else
``$XDG_CACHE_HOME/spark-bench/native``) under a name hashing the source, the compiler's
version and the flags, by an atomic rename, with a digest of the built bytes checked before
every load - as ``spark.native.builder`` builds Spark's kernels. It has its own few lines
of that because importing anything in ``spark`` imports JAX, and the Brian2 and NEST
workers must not carry JAX's heap (Brian2's per-run garbage collection walks it). Without
a compiler the stream stays on numpy (:func:`unavailable_reason` says why).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).with_name("inputs_native.cc")
FLAGS = ("-O3", "-std=c++17", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math")


class _Stream(ctypes.Structure):
    """``SparkInputStream`` of inputs_native.cc, field for field."""

    _fields_ = [("n_channels", ctypes.c_int64), ("n_inputs", ctypes.c_int64),
                ("n_steps", ctypes.c_int64), ("rate", ctypes.c_double),
                ("gain", ctypes.c_double), ("max_rate", ctypes.c_double),
                ("p_per_hz", ctypes.c_double)] + [
        (name, ctypes.c_void_p) for name in ("sizes", "uniforms", "counts", "channel_p",
                                             "input_p", "per_neuron", "spikes")]


def _cache_root() -> Path:
    explicit = os.environ.get("SPARK_BENCH_NATIVE_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spark-bench" / "native"


def _compiler() -> tuple[str, str]:
    """The C++ compiler and its version line; OSError when there is none that runs."""
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not compiler:
        raise OSError("no C++ compiler found (set CXX or install g++)")
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                             check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise OSError(f"C++ compiler {compiler!r} does not run: {err}") from None
    return compiler, (out.splitlines() or ["?"])[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build() -> Path:
    """The compiled library, built when it is not in the cache (or not intact)."""
    compiler, version = _compiler()
    key = hashlib.sha256(b"\0".join([SOURCE.read_bytes(), version.encode(),
                                     " ".join(FLAGS).encode()])).hexdigest()[:16]
    target = _cache_root() / f"libspark_inputs-{key}.so"
    sidecar = target.with_name(target.name + ".sha256")
    try:
        if sidecar.read_text().strip() == _digest(target):
            return target
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.stem + "-", suffix=".so.tmp", dir=target.parent)
    os.close(fd)
    try:
        cmd = [compiler, *FLAGS, str(SOURCE), "-o", tmp]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise OSError(f"{' '.join(cmd)} failed (exit {result.returncode}): "
                          f"{result.stderr[-2000:]}")
        digest = _digest(Path(tmp))
        os.chmod(tmp, 0o755 & ~_umask())
        os.replace(tmp, target)
        sidecar_tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
        sidecar_tmp.write_text(digest + "\n")
        os.replace(sidecar_tmp, sidecar)
    except subprocess.TimeoutExpired:
        raise OSError(f"compiling {SOURCE.name} did not finish in 300 s") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_lock = threading.Lock()
_loaded: dict[str, object] = {}


def _entry() -> ctypes._CFuncPtr:
    """``spark_input_chunk``, typed; OSError (with the reason) when it cannot be built."""
    with _lock:
        if "fn" not in _loaded and "error" not in _loaded:
            try:
                lib = ctypes.CDLL(str(build()))
                size = lib.spark_input_stream_size
                size.argtypes, size.restype = [], ctypes.c_int64
                if size() != ctypes.sizeof(_Stream):
                    raise OSError(f"SparkInputStream is {size()} bytes in the library but "
                                  f"{ctypes.sizeof(_Stream)} in inputs_native.py")
                fn = lib.spark_input_chunk
                fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]
                fn.restype = ctypes.c_int64
                _loaded["fn"] = fn
            except (OSError, AttributeError) as err:
                _loaded["error"] = str(err).splitlines()[0]
        if "fn" not in _loaded:
            raise OSError(str(_loaded["error"]))
        return _loaded["fn"]


def available() -> bool:
    """Whether the compiled stream can be used here (built once per machine, loaded once
    per process)."""
    try:
        _entry()
    except OSError:
        return False
    return True


def unavailable_reason() -> str:
    """Why the compiled stream is not used ('' when it is)."""
    return "" if available() else str(_loaded["error"])


class CompiledChunks:
    """The compiled per-chunk draw for one stream's fixed arrays. It writes each chunk's
    spikes into one ``(n_steps, n_inputs)`` bool array it owns (touched once here, so no
    page is first written inside a timed loop); ``chunk`` returns the rows as a view."""

    def __init__(self, uniforms: np.ndarray, readout_sizes: np.ndarray, rate: float,
                 gain: float, max_rate: float, p_per_hz: float):
        self._fn = _entry()
        n_steps, n_inputs = uniforms.shape
        n_channels = len(readout_sizes)
        if n_channels < 1:
            raise ValueError("the compiled input stream needs at least one readout channel")
        self._arrays = {  # kept alive: the structure holds their addresses
            "uniforms": np.ascontiguousarray(uniforms, dtype=np.float64),
            "sizes": np.ascontiguousarray(readout_sizes, dtype=np.float64),
            "counts": np.zeros(n_channels), "channel_p": np.zeros(n_channels),
            "input_p": np.zeros(n_inputs), "per_neuron": np.zeros(n_channels),
            # np.ones writes every page now, outside any clock (np.zeros would leave them
            # to be first touched inside the timed loop)
            "spikes": np.ones((n_steps, n_inputs), dtype=bool),
        }
        self._counts = self._arrays["counts"]
        self._spikes = self._arrays["spikes"]
        self._struct = _Stream(n_channels=n_channels, n_inputs=n_inputs, n_steps=n_steps,
                               rate=float(rate), gain=float(gain), max_rate=float(max_rate),
                               p_per_hz=float(p_per_hz),
                               **{name: a.ctypes.data for name, a in self._arrays.items()})
        self._address = ctypes.addressof(self._struct)

    @property
    def channel_probabilities(self) -> np.ndarray:
        """The last chunk's spike probability per channel (a copy)."""
        return self._arrays["channel_p"].copy()

    def chunk(self, position: int, k: int, last_counts: np.ndarray | None) -> np.ndarray:
        """Rows ``[position, position + k)``: valid until those steps are drawn again."""
        if last_counts is None:
            status = self._fn(self._address, 0, position, k)
        else:
            self._counts[:] = last_counts  # to float64, as numpy's division converts them
            status = self._fn(self._address, 1, position, k)
        if status:
            raise ValueError(f"chunk of {k} steps at {position} is outside the stream's "
                             f"{self._spikes.shape[0]} steps")
        return self._spikes[position:position + k]
