"""Compile the native kernels on first use, into a content-addressed cache directory.

Why compile on first use rather than at ``pip install``: the project installs in editable
mode with two commands and no build step of its own; a C++ compiler is the only extra
requirement, and a missing one must leave the pure-JAX engine working (with a one-line
notice), not break installation.

The library name hashes everything that changes the machine code: the source, the compiler
and its version, the flags and the XLA FFI headers' jaxlib version. Building writes to a
temporary file in the cache directory and renames it into place (atomic), so concurrent
builds (pytest-xdist, two sweeps) never load a half-written library.

Flags: ``-O3 -ffp-contract=off`` (no implicit contraction: the kernel writes its fused
multiply-adds explicitly, to match XLA:CPU bit for bit), ``-fno-trapping-math`` (assume FP
traps are off, as XLA does; results are unchanged, but the branch-free neuron loop may then
vectorise) and ``-DSPARK_USE_FMA`` only where XLA
contracts (x86-64 with FMA, aarch64), and ``-mavx2``/``-mfma`` only when this CPU has them.
Never ``-march=native``: the flags must be explicit to be part of the library's hash.

The GPU kernels (``kernels_cuda.cu``, :func:`build_cuda`) build the same way with ``nvcc``:
``-fmad=false`` (no implicit contraction) and ``-DSPARK_USE_FMA`` (explicit ``fma`` where
XLA:CPU contracts, so the GPU agrees bit for bit with the CPU reference), machine code for
Hopper (``sm_90``) plus PTX that newer GPUs compile at load time. ``nvcc`` is found on PATH
or under ``$CUDA_HOME/bin``; without it the GPU path is unavailable with that reason.

:func:`build_cuda_emulation` compiles the same ``kernels_cuda.cu`` as C++ for the CPU with
``-DSPARK_CUDA_EMULATION`` (``cuda_emulation.h`` stands in for the CUDA runtime): the GPU
kernels' logic, run and tested bit for bit on a machine without a GPU. The CPU flags of
:func:`toolchain` apply (the same contraction rule as the CPU kernels). A library's name
also hashes the headers beside the sources (``*.h``), which they include.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("kernels.cc")
CUDA_SOURCE = Path(__file__).with_name("kernels_cuda.cu")
EMULATION_FLAGS = ("-DSPARK_CUDA_EMULATION", "-x", "c++")
CUDA_FLAGS = ("-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC", "-fmad=false",
              "-DSPARK_USE_FMA", "-gencode", "arch=compute_90,code=sm_90",
              "-gencode", "arch=compute_90,code=compute_90", "-w")
BASE_FLAGS = ("-O3", "-std=c++17", "-fPIC", "-shared", "-ffp-contract=off",
              "-fno-fast-math", "-fno-trapping-math", "-pthread")


class BuildError(RuntimeError):
    """The kernel library could not be built (no compiler, or it failed: log attached)."""


@dataclass(frozen=True)
class Toolchain:
    compiler: str
    version: str
    flags: tuple[str, ...]
    include_dir: str
    jaxlib_version: str


def cache_root() -> Path:
    """``$SPARK_BENCH_NATIVE_CACHE``, else ``$XDG_CACHE_HOME/spark-bench/native``."""
    explicit = os.environ.get("SPARK_BENCH_NATIVE_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "spark-bench" / "native"


def _x86_flags() -> set[str]:
    """The CPU feature flags of this x86-64 machine (empty elsewhere or when unknown)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _umask() -> int:
    """This process's umask, read without changing it where Linux offers that."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def cpu_has_fma() -> bool:
    """Whether XLA:CPU will contract multiply-adds here (x86-64 with FMA; aarch64 always)."""
    if platform.machine().lower() in ("aarch64", "arm64"):
        return True
    return "fma" in _x86_flags()


def toolchain() -> Toolchain:
    """The compiler and flags this machine uses; BuildError when there is no compiler."""
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not compiler:
        raise BuildError("no C++ compiler found (set CXX or install g++)")
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                                 check=True, timeout=30).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError) as err:
        raise BuildError(f"C++ compiler {compiler!r} does not run: {err}") from None
    import jax.ffi
    import jaxlib

    flags = list(BASE_FLAGS)
    if cpu_has_fma():
        flags.append("-DSPARK_USE_FMA")
    x86 = _x86_flags()
    # Explicit ISA extensions this CPU has (never -march=native); they are part of the
    # library's hash, so a cache shared with a CPU lacking them is never loaded there.
    flags += [f"-m{ext}" for ext in ("avx2", "fma") if ext in x86]
    return Toolchain(compiler=compiler, version=version, flags=tuple(flags),
                     include_dir=jax.ffi.include_dir(), jaxlib_version=jaxlib.__version__)


def cuda_toolchain() -> Toolchain:
    """nvcc and the GPU flags; BuildError when there is no nvcc."""
    nvcc = shutil.which("nvcc")
    if nvcc is None and os.environ.get("CUDA_HOME"):
        candidate = Path(os.environ["CUDA_HOME"]) / "bin" / "nvcc"
        nvcc = str(candidate) if candidate.exists() else None
    if nvcc is None:
        raise BuildError("nvcc not found (put the CUDA toolkit's bin on PATH or set CUDA_HOME)")
    try:
        lines = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True,
                               timeout=30).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError) as err:
        raise BuildError(f"nvcc {nvcc!r} does not run: {err}") from None
    import jax.ffi
    import jaxlib

    return Toolchain(compiler=nvcc, version=lines[-1] if lines else "?", flags=CUDA_FLAGS,
                     include_dir=jax.ffi.include_dir(), jaxlib_version=jaxlib.__version__)


def library_path(tc: Toolchain, source: Path = SOURCE) -> Path:
    digest = hashlib.sha256()
    headers = sorted(source.parent.glob("*.h"))
    for part in (source.read_bytes(), *(h.read_bytes() for h in headers), tc.version.encode(),
                 " ".join(tc.flags).encode(), tc.jaxlib_version.encode()):
        digest.update(part)
        digest.update(b"\0")
    if source.suffix != ".cu":
        stem = "libspark_native"
    elif "-DSPARK_CUDA_EMULATION" in tc.flags:
        stem = "libspark_native_cuda_emulated"
    else:
        stem = "libspark_native_cuda"
    return cache_root() / f"{stem}-{digest.hexdigest()[:16]}.so"


def _content_file(library: Path) -> Path:
    return library.with_name(library.name + ".sha256")


def _content_digest(library: Path) -> str:
    return hashlib.sha256(library.read_bytes()).hexdigest()


def is_intact(library: Path) -> bool:
    """Whether a cached library holds the bytes its build recorded (its name hashes what
    went *into* the build; this checks what came out, so a truncated or altered file in the
    user cache is rebuilt, never loaded)."""
    try:
        return _content_file(library).read_text().strip() == _content_digest(library)
    except OSError:
        return False


def build_cuda(tc: Toolchain | None = None) -> Path:
    """The compiled GPU library (``kernels_cuda.cu``), built on first use like :func:`build`."""
    return build(cuda_toolchain() if tc is None else tc, source=CUDA_SOURCE)


def build_cuda_emulation(tc: Toolchain | None = None) -> Path:
    """``kernels_cuda.cu`` compiled for the CPU, its CUDA runtime emulated (cuda_emulation.h);
    built on first use like :func:`build`, with the host compiler and CPU flags."""
    tc = toolchain() if tc is None else tc
    emulated = Toolchain(compiler=tc.compiler, version=tc.version,
                         flags=(*tc.flags, *EMULATION_FLAGS), include_dir=tc.include_dir,
                         jaxlib_version=tc.jaxlib_version)
    return build(emulated, source=CUDA_SOURCE)


def build(tc: Toolchain | None = None, source: Path = SOURCE) -> Path:
    """The compiled library, building it when it is not cached yet (or not intact)."""
    tc = toolchain() if tc is None else tc
    target = library_path(tc, source)
    if target.exists() and is_intact(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.stem + "-", suffix=".so.tmp", dir=target.parent)
    os.close(fd)
    cmd = [tc.compiler, *tc.flags, f"-I{tc.include_dir}", f"-I{source.parent}", str(source),
           "-o", tmp]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise BuildError(f"{' '.join(cmd)} failed (exit {result.returncode}):\n"
                             f"{result.stderr[-4000:]}")
        digest = _content_digest(Path(tmp))
        os.chmod(tmp, 0o755 & ~_umask())
        os.replace(tmp, target)
        sidecar = _content_file(target)
        sidecar_tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
        sidecar_tmp.write_text(digest + "\n")
        os.replace(sidecar_tmp, sidecar)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{' '.join(cmd)} did not finish in 600 s") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
