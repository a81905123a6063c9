"""The one backend registry: name -> capabilities and a loader, in the default sweep order.

Importable without any simulator installed: capabilities are built here from each
family's translation tables (pure modules) and each mode's loop flags, so the sweep
refuses unsupported cells *before* a worker starts; the backend class (and its
simulator) is imported only by :func:`load_backend`. A test checks that every entry's
capabilities equal its class's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .base import Backend, BackendUnavailable, Capabilities
from .brainpy.plan import FEATURES as BRAINPY
from .brian2.translate import CUDA_FEATURES as BRIAN2_CUDA
from .brian2.translate import PLASTIC_FEATURES as BRIAN2
from .brian2.translate import RELAUNCH_FEATURES as BRIAN2_RELAUNCH
from .nest.native import FEATURES as NEST_NATIVE
from .nest.translate import FEATURES as NEST
from .spark.backend import DIRECT_FEATURES as SPARK_DIRECT
from .spark.backend import FEATURES as SPARK


@dataclass(frozen=True)
class BackendEntry:
    """One backend label: what it can do and how to get its class."""

    name: str
    capabilities: Capabilities
    load: Callable[[], type[Backend]]
    summary: str
    comparison: str = "exact"  # the comparison class (Backend.comparison)
    packages: tuple[str, ...] = ()
    """The distributions whose versions can change what this backend measures: provenance
    records them and a resumed sweep must match them (benchmarks.provenance)."""


def _spark_direct() -> type[Backend]:
    from .spark.backend import SparkNativeDirectBackend

    return SparkNativeDirectBackend


def _spark(native: bool, gpu: bool = False) -> type[Backend]:
    from .spark.backend import (SparkBackend, SparkGpuBackend, SparkNativeBackend,
                                SparkNativeGpuBackend)

    if gpu:
        return SparkNativeGpuBackend if native else SparkGpuBackend
    return SparkNativeBackend if native else SparkBackend


def _brian2_runtime(target: str, one_run: bool = True) -> type[Backend]:
    from .brian2.runtime import (Brian2NumpyBackend, Brian2RuntimeBackend,
                                 Brian2RuntimeRunPerChunkBackend)

    if target == "numpy":
        return Brian2NumpyBackend
    return Brian2RuntimeBackend if one_run else Brian2RuntimeRunPerChunkBackend


def _brian2_resident(closed: bool) -> type[Backend]:
    from .brian2.cpp_resident import Brian2CppResidentBackend, Brian2CppUninterruptedBackend

    return Brian2CppResidentBackend if closed else Brian2CppUninterruptedBackend


def _brian2_relaunch() -> type[Backend]:
    from .brian2.cpp_relaunch import Brian2CppRelaunchBackend

    return Brian2CppRelaunchBackend


def _brian2_cuda(closed: bool) -> type[Backend]:
    from .brian2.cuda import Brian2CudaBackend, Brian2CudaUninterruptedBackend

    return Brian2CudaBackend if closed else Brian2CudaUninterruptedBackend


def _nest(closed: bool) -> type[Backend]:
    from .nest.backends import NestClosedLoop, NestUninterrupted

    return NestClosedLoop if closed else NestUninterrupted


def _nest_native() -> type[Backend]:
    from .nest.backends import NestNative

    return NestNative


def _brainpy(gpu: bool) -> type[Backend]:
    from .brainpy.backend import BrainPyBackend, BrainPyGpuBackend

    return BrainPyGpuBackend if gpu else BrainPyBackend


SPARK_PACKAGES = ("jax", "jaxlib")
BRIAN2_PACKAGES = ("brian2", "cython")
BRIAN2CUDA_PACKAGES = ("brian2", "brian2cuda", "nvidia-curand")
NEST_PACKAGES = ("nest-simulator",)
BRAINPY_PACKAGES = ("brainpy", "brainstate", "brainevent", "numba", "jax", "jaxlib")


def _entry(name: str, summary: str, load: Callable[[], type[Backend]],
           comparison: str = "exact", packages: tuple[str, ...] = (), **caps) -> BackendEntry:
    if not packages:
        family = name.split("-", 1)[0]
        packages = {"spark": SPARK_PACKAGES, "brian2": BRIAN2_PACKAGES, "nest": NEST_PACKAGES,
                    "brainpy": BRAINPY_PACKAGES}[family]
    return BackendEntry(name=name, capabilities=Capabilities(**caps), load=load, summary=summary,
                        comparison=comparison, packages=packages)


_ENTRIES = (
    # Order matters: it is the default sweep order, and fidelity references come first.
    _entry("brian2-cpp-uninterrupted", "Brian2 C++ standalone, whole run in one call (open loop)",
           lambda: _brian2_resident(False), closed_loop=False, open_loop=True, threads=True,
           **BRIAN2),
    _entry("spark", "Spark, pure JAX", lambda: _spark(False), closed_loop=True, open_loop=True,
           **SPARK),
    _entry("spark-native", "Spark with its C++ kernels (jax.ffi)", lambda: _spark(True),
           closed_loop=True, open_loop=True, **SPARK),
    _entry("spark-native-direct", "Spark's fused C++ chunk called directly (ctypes, no XLA "
           "dispatch)", _spark_direct, closed_loop=True, open_loop=True, **SPARK_DIRECT),
    _entry("spark-gpu", "Spark, pure JAX on the GPU", lambda: _spark(False, gpu=True),
           closed_loop=True, open_loop=True, needs_gpu=True, **SPARK),
    _entry("spark-native-gpu", "Spark with its CUDA kernels (jax.ffi), a chunk per launch",
           lambda: _spark(True, gpu=True), closed_loop=True, open_loop=True, needs_gpu=True,
           **SPARK),
    _entry("brian2-cpp", "Brian2 C++ standalone, one resident binary fed through a pipe",
           lambda: _brian2_resident(True), closed_loop=True, open_loop=True, threads=True,
           **BRIAN2),
    _entry("brian2-runtime", "Brian2 runtime device, Cython, one run() with a network "
           "operation every k steps", lambda: _brian2_runtime("cython"), closed_loop=True,
           open_loop=True, **BRIAN2),
    _entry("brian2-runtime-run-per-chunk", "Brian2 runtime device, Cython, Network.run per "
           "chunk (the Spark paper's baseline)", lambda: _brian2_runtime("cython", False),
           closed_loop=True, open_loop=True, **BRIAN2),
    _entry("brian2-numpy", "Brian2 runtime device, numpy target, one run() with a network "
           "operation", lambda: _brian2_runtime("numpy"), closed_loop=True, open_loop=True,
           **BRIAN2),
    _entry("brian2-cpp-relaunch", "Brian2 C++ standalone relaunched per chunk, state carried",
           _brian2_relaunch, closed_loop=True, open_loop=True, **BRIAN2_RELAUNCH),
    _entry("brian2-cuda", "brian2cuda, one resident binary fed through a pipe (needs a GPU)",
           lambda: _brian2_cuda(True), packages=BRIAN2CUDA_PACKAGES, closed_loop=True,
           open_loop=True, needs_gpu=True,
           **BRIAN2_CUDA),
    _entry("brian2-cuda-uninterrupted", "brian2cuda standalone project, whole run in one launch "
           "(open loop, needs a GPU)", lambda: _brian2_cuda(False),
           packages=BRIAN2CUDA_PACKAGES, closed_loop=False,
           open_loop=True, needs_gpu=True, **BRIAN2_CUDA),
    _entry("nest", "NEST 3, Prepare once and Run per chunk", lambda: _nest(True),
           closed_loop=True, open_loop=True, threads=True, **NEST),
    _entry("nest-uninterrupted", "NEST 3, one Simulate (open loop)", lambda: _nest(False),
           closed_loop=False, open_loop=True, threads=True, **NEST),
    _entry("nest-native", "NEST 3 as its users write the model: standard models, "
           "poisson_generator drives, NEST's integrators (native class)", _nest_native,
           comparison="native", closed_loop=True, open_loop=True, threads=True, **NEST_NATIVE),
    _entry("brainpy", "BrainPy 2.8 as its users write the model: LifRef, Expon + CUBA/COBA, "
           "event-driven CSR, PoissonInput, a jitted for_loop per chunk (native class)",
           lambda: _brainpy(False), comparison="native", closed_loop=True, open_loop=True,
           **BRAINPY),
    _entry("brainpy-gpu", "BrainPy 2.8 on the GPU, as brainpy (native class, needs a GPU)",
           lambda: _brainpy(True), comparison="native", closed_loop=True, open_loop=True,
           needs_gpu=True, **BRAINPY),
)

BACKENDS: dict[str, BackendEntry] = {e.name: e for e in _ENTRIES}

DEFAULT_BACKENDS = ("brian2-cpp-uninterrupted", "spark", "spark-native", "spark-native-direct",
                    "spark-gpu",
                    "spark-native-gpu", "brian2-cpp",
                    "brian2-runtime", "brian2-runtime-run-per-chunk", "brian2-cpp-relaunch",
                    "brian2-cuda",
                    "brian2-cuda-uninterrupted", "nest", "nest-uninterrupted")
"""What ``spark-bench run`` sweeps when ``--backends`` is not given."""

QUICK_BACKENDS = ("brian2-cpp-uninterrupted", "spark", "spark-native", "spark-native-direct",
                  "brian2-cpp",
                  "brian2-runtime", "nest")
"""The quick profile (NEST is float64-only: in a float32 sweep it is listed as skipped)."""

NATIVE_BACKENDS = tuple(e.name for e in _ENTRIES if e.comparison == "native")
"""What ``spark-bench run --comparison native`` sweeps: the native-class labels."""

FIDELITY_REFERENCE = "brian2-cpp-uninterrupted"
"""Every backend's spikes are compared with this one's when it is in the sweep."""


def entry(name: str) -> BackendEntry:
    if name not in BACKENDS:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    return BACKENDS[name]


def load_backend(name: str) -> type[Backend]:
    """The backend class for ``name``; BackendUnavailable when its simulator is missing."""
    try:
        return entry(name).load()
    except ImportError as err:
        raise BackendUnavailable(name, f"cannot import its simulator ({err})") from None
