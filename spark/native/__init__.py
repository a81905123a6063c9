"""Native kernels for the Spark engine, called from jitted code through ``jax.ffi``.

Why: on XLA:CPU every operation of the event-driven step costs microseconds of fixed
overhead (on paper8 compacting spike indices alone takes ~8 us per step, propagation ~27 us:
benchmarks/scripts/engine_profile.py), while the real work (~8 spikes x ~410 targets) is a few
microseconds. One C++ call per step does that work
directly, in the same order and with the same roundings as the pure-JAX path, which stays
the reference (tests check the two agree bit for bit) and the fallback. On a GPU, pure JAX
pays kernel launches and loop round trips every step (~56 us per paper8 step on an H200);
``kernels_cuda.cu`` runs a whole chunk as one launch, one thread block per instance.

* :func:`available` / :func:`unavailable_reason`: whether the kernels could be built and
  loaded for the platform JAX computes on now (the default device's: ``cpu`` or ``gpu``;
  built on first use, see :mod:`spark.native.builder`).
* :func:`propagate`, :func:`lif_step`, :func:`lif_chunk`, :func:`plastic_step` and
  :func:`plastic_chunk`: the FFI calls (compose with
  ``jit``, ``lax.scan`` and ``vmap``; batched instances are looped over natively on the CPU
  and are the grid of blocks on the GPU). Each target is registered for both platforms with
  the same operands; XLA picks the handler of the platform it compiles for.
* :func:`emulating_cuda`: with ``SPARK_NATIVE_EMULATE_CUDA=1`` in the environment, the CPU
  runs the GPU kernels' code (``kernels_cuda.cu`` compiled for the CPU over
  ``cuda_emulation.h``) in place of ``kernels.cc``, so that the CUDA kernels are tested bit
  for bit on a machine without a GPU (``tests/spark/test_native_gpu.py`` runs that way in
  CI). Slow: every block's 1024 threads are fibers on one core. Not for benchmarks.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

import jax
import numpy as np

from .builder import BuildError, build, build_cuda, build_cuda_emulation

_lock = threading.Lock()
_state: dict[str, dict[str, object]] = {}
TARGETS = {"spark_propagate": "SparkPropagate", "spark_lif_step": "SparkLifStep",
           "spark_lif_chunk": "SparkLifChunk", "spark_plastic_step": "SparkPlasticStep",
           "spark_plastic_chunk": "SparkPlasticChunk"}
CUDA_SUFFIX = "Cuda"
"""The GPU handlers are the same symbols with this suffix (kernels_cuda.cu)."""


class NativeUnavailable(RuntimeError):
    """The native kernels cannot be used here (reason in the message)."""


def platform() -> str:
    """The platform jitted code is compiled for now: the default device's (``jax.default_device``
    scopes it, as the Spark backends do), else JAX's default backend. ``"cpu"`` or ``"gpu"``."""
    device = jax.config.jax_default_device
    if device is None:
        return jax.default_backend()
    return device.platform if hasattr(device, "platform") else str(device)


def emulating_cuda() -> bool:
    """Whether this process runs the CUDA kernels' code on the CPU (``SPARK_NATIVE_EMULATE_CUDA=1``
    when the kernels are first loaded) in place of the CPU kernels."""
    return os.environ.get("SPARK_NATIVE_EMULATE_CUDA") == "1"


def _load(where: str) -> dict[str, object]:
    """Build (cached on disk) and register the kernels of one platform, once per process."""
    with _lock:
        if where in _state:
            return _state[where]
        try:
            if where == "cpu" and emulating_cuda():
                path, suffix, xla_platform = build_cuda_emulation(), CUDA_SUFFIX, "cpu"
            elif where == "cpu":
                path, suffix, xla_platform = build(), "", "cpu"
            elif where == "gpu":
                path, suffix, xla_platform = build_cuda(), CUDA_SUFFIX, "CUDA"
            else:
                raise BuildError(f"no native kernels for the {where!r} platform")
            lib = ctypes.cdll.LoadLibrary(str(path))
            for target, symbol in TARGETS.items():
                jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol + suffix)),
                                            platform=xla_platform)
        except (BuildError, OSError, AttributeError) as err:
            _state[where] = dict(ok=False, reason=str(err).splitlines()[0], detail=str(err))
        else:
            _state[where] = dict(ok=True, lib=lib, path=path, reason="", detail="")
        return _state[where]


def available() -> bool:
    """Build (once, cached on disk) and load the kernels for the current :func:`platform`;
    False when that fails."""
    return bool(_load(platform())["ok"])


def unavailable_reason() -> str:
    return str(_load(platform())["reason"])


def _loaded(where: str) -> dict[str, object]:
    """The kernels of one platform, loaded; NativeUnavailable (with the compiler's
    message) when they cannot be built."""
    state = _load(where)
    if not state["ok"]:
        raise NativeUnavailable(f"spark native kernels unavailable ({where}): {state['detail']}")
    return state


def require() -> None:
    """Raise NativeUnavailable (with the compiler's message) unless the kernels load."""
    _loaded(platform())


def cpu_library() -> ctypes.CDLL:
    """The CPU kernel library (built and loaded once), for :mod:`spark.direct`'s ctypes
    entry; NativeUnavailable with the compiler's message when it cannot be built. While
    :func:`emulating_cuda`, loaded without registering its XLA targets (the emulated CUDA
    kernels hold those names)."""
    if not emulating_cuda():
        return _loaded("cpu")["lib"]
    with _lock:
        if "cpu-direct" not in _state:
            try:
                _state["cpu-direct"] = dict(ok=True, lib=ctypes.cdll.LoadLibrary(str(build())))
            except (BuildError, OSError) as err:
                _state["cpu-direct"] = dict(ok=False, detail=str(err))
        state = _state["cpu-direct"]
    if not state["ok"]:
        raise NativeUnavailable(f"spark native kernels unavailable (cpu): {state['detail']}")
    return state["lib"]


_noticed: set[bool] = set()


def notice_fallback() -> None:
    """The one-line notice printed (once per process) when the engine falls back."""
    if not _noticed:
        _noticed.add(True)
        print(f"spark: native kernels unavailable ({unavailable_reason()}); "
              "using the pure-JAX path", file=sys.stderr)


def propagate(buffer: jax.Array, spikes: jax.Array, t: jax.Array, row_ptr: jax.Array,
              offsets: jax.Array, weights: jax.Array, *, ring: int, n_cols: int) -> jax.Array:
    """Add the spikes of step ``t`` into the flat ring buffer (updated in place)."""
    require()
    call = jax.ffi.ffi_call("spark_propagate", jax.ShapeDtypeStruct(buffer.shape, buffer.dtype),
                            vmap_method="expand_dims", input_output_aliases={0: 0})
    return call(buffer, spikes, t, row_ptr, offsets, weights, ring=np.int64(ring),
                n_cols=np.int64(n_cols))


STATE_ALIASES = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4}
"""Operands v, g, aux, lastspike, buffer (1-5) are updated in place as results 0-4."""


def _state_shapes(v, g, aux, lastspike, buffer) -> tuple[jax.ShapeDtypeStruct, ...]:
    return tuple(jax.ShapeDtypeStruct(x.shape, x.dtype) for x in (v, g, aux, lastspike, buffer))


FLOAT_PARAMS = ("decay", "v_inf", "v_thresh", "theta_decay", "beta", "v_reset")
"""The first columns of the float parameter table of :func:`lif_step`; then ``syn_coef``
of each of the ``max(R, 1)`` receptor columns, then ``g_decay`` of each (as in kernels.cc)."""
EULER_PARAMS = ("dt", "i_offset", "a", "b", "tau_m", "v_rest", "v_t", "delta_t", "tau_w")
"""AdEx/Izhikevich columns appended to every row of the float table when the network has
such a population (Izhikevich uses ``dt, i_offset, a, b``; ``v_peak`` is in ``v_thresh``,
the jump ``b``/``d`` in ``beta``)."""
INT_PARAMS = ("start", "stop", "ref_steps", "has_syn", "kind")
"""Columns of the int32 parameter table of :func:`lif_step` (as in kernels.cc); ``kind``:
0 LIF, 1 ALIF, 2 AdEx, 3 Izhikevich (kernels_cuda.cu's ``Kind`` enum reads the same four)."""

MAX_RECEPTORS = 4
"""The fused kernels handle up to this many exponential receptors per neuron."""


def lif_step(t, v, g, aux, lastspike, buffer, input_spikes, float_params, int_params, row_ptr,
             offsets, weights, drive_counts, drive_cols, drive_weights, *, ring: int,
             n_cols: int):
    """One fused LIF/ALIF/AdEx/Izhikevich step; returns ``(v, g, aux, lastspike, buffer,
    spiked)``, the state updated in place. ``float_params`` ``(S, 6 + 2 max(R, 1))`` (plus
    :data:`EULER_PARAMS` columns with AdEx/Izhikevich) and ``int_params`` ``(S, 5)`` int32
    hold one row per population (columns :data:`FLOAT_PARAMS` + receptor columns,
    :data:`INT_PARAMS`); ``drive_counts`` (uint16 ``(steps, M)``), ``drive_cols``
    and ``drive_weights`` (``(M,)``) are the drives (M = 0: none)."""
    require()
    out = (*_state_shapes(v, g, aux, lastspike, buffer), jax.ShapeDtypeStruct(v.shape, np.bool_))
    call = jax.ffi.ffi_call("spark_lif_step", out, vmap_method="expand_dims",
                            input_output_aliases=STATE_ALIASES)
    return call(t, v, g, aux, lastspike, buffer, input_spikes, float_params, int_params, row_ptr,
                offsets, weights, drive_counts, drive_cols, drive_weights, ring=np.int64(ring),
                n_cols=np.int64(n_cols))


def lif_chunk(t, v, g, aux, lastspike, buffer, input_spikes, float_params, int_params, row_ptr,
              offsets, weights, drive_counts, drive_cols, drive_weights, *, ring: int,
              n_cols: int, record: bool, threads: int = 1):
    """``k = input_spikes.shape[0]`` fused steps in one call; returns ``(v, g, aux, lastspike,
    buffer, counts, spikes)``: the state updated in place, int32 spike counts per population
    (row of ``int_params``) and the bool ``(k, N)`` spikes (``(0, N)`` unless ``record``).
    ``t`` is the first step's index; the caller advances it by k. Batched (vmapped)
    instances are spread over ``threads`` threads."""
    require()
    k, n = input_spikes.shape[0], v.shape[0]
    out = (*_state_shapes(v, g, aux, lastspike, buffer),
           jax.ShapeDtypeStruct((int_params.shape[0],), np.int32),
           jax.ShapeDtypeStruct((k if record else 0, n), np.bool_))
    call = jax.ffi.ffi_call("spark_lif_chunk", out, vmap_method="expand_dims",
                            input_output_aliases=STATE_ALIASES)
    return call(t, v, g, aux, lastspike, buffer, input_spikes, float_params, int_params, row_ptr,
                offsets, weights, drive_counts, drive_cols, drive_weights, ring=np.int64(ring),
                n_cols=np.int64(n_cols), threads=np.int64(threads))


BLOCK_INTS = ("start", "n_pre", "n_post", "pre", "post", "col", "delay", "reward")
"""Columns of :func:`plastic_step`'s int32 block table (as ``BlockInt`` in kernels.cc)."""
BLOCK_FLOATS = ("a_plus", "a_minus", "w_min", "w_max", "pre_decay", "post_decay", "elig_decay",
                "lr")
"""Columns of its float block table (as ``BlockFloat``)."""


def plastic_step(weight, x_pre, x_post, elig, history, spikes, t, current, block_ints,
                 block_floats):
    """The plastic phase of one step for a block table: returns ``(weight, x_pre,
    x_post, elig, current)``, updated in place, ``current`` (this step's ring row) plus the
    deliveries. ``block_ints`` ``(blocks, 8)`` int32 and ``block_floats`` ``(blocks, 8)``
    hold one row per block (columns :data:`BLOCK_INTS`, :data:`BLOCK_FLOATS`)."""
    require()
    out = tuple(jax.ShapeDtypeStruct(x.shape, x.dtype)
                for x in (weight, x_pre, x_post, elig, current))
    call = jax.ffi.ffi_call("spark_plastic_step", out, vmap_method="expand_dims",
                            input_output_aliases={0: 0, 1: 1, 2: 2, 3: 3, 7: 4})
    return call(weight, x_pre, x_post, elig, history, spikes, t, current, block_ints,
                block_floats)


PLASTIC_CHUNK_ALIASES = {**STATE_ALIASES, 15: 7, 16: 8, 17: 9, 18: 10, 19: 11, 22: 12}
""":func:`plastic_chunk`: weight, x_pre, x_post, elig, history (15-19) and the trace (22)
are updated in place as results 7-12 (after counts and spikes, 5 and 6)."""


def plastic_chunk(t, v, g, aux, lastspike, buffer, input_spikes, float_params, int_params,
                  row_ptr, offsets, weights, drive_counts, drive_cols, drive_weights, weight,
                  x_pre, x_post, elig, history, block_ints, block_floats, trace, readout_decay,
                  modulator, *, ring: int, n_cols: int, record: bool, modulate: bool,
                  threads: int = 1):
    """:func:`lif_chunk` for a network with a plastic block table: the plastic
    phase of every step (as :func:`plastic_step`), the spike ``history`` ``(ring, N +
    n_inputs)`` the delays read, and the readout ``trace`` (``(N,)``, or ``(0,)`` for none;
    ``trace * readout_decay + spiked`` per step) run inside the chunk loop; with ``modulate``
    the chunk ends with the three-factor update by ``modulator`` (as
    ``PlasticSynapses.apply_modulator``). Returns ``(v, g,
    aux, lastspike, buffer, counts, spikes, weight, x_pre, x_post, elig, history, trace)``."""
    require()
    k, n = input_spikes.shape[0], v.shape[0]
    out = (*_state_shapes(v, g, aux, lastspike, buffer),
           jax.ShapeDtypeStruct((int_params.shape[0],), np.int32),
           jax.ShapeDtypeStruct((k if record else 0, n), np.bool_),
           *(jax.ShapeDtypeStruct(x.shape, x.dtype)
             for x in (weight, x_pre, x_post, elig, history, trace)))
    call = jax.ffi.ffi_call("spark_plastic_chunk", out, vmap_method="expand_dims",
                            input_output_aliases=PLASTIC_CHUNK_ALIASES)
    return call(t, v, g, aux, lastspike, buffer, input_spikes, float_params, int_params, row_ptr,
                offsets, weights, drive_counts, drive_cols, drive_weights, weight, x_pre, x_post,
                elig, history, block_ints, block_floats, trace, readout_decay, modulator,
                ring=np.int64(ring), n_cols=np.int64(n_cols), threads=np.int64(threads),
                modulate=np.int64(modulate))
