"""The engine: compiles one chunk program per (shapes, k, dtype) and runs it from the host.

``Simulator`` owns the state and the compiled programs; each ``run_chunk`` is one call of a
jitted ``lax.scan`` over k steps with the state donated, and its outputs are synchronised
(copied to numpy) before it returns, so a wall clock around it covers all device work.

Nothing here changes process-wide JAX settings for longer than a call: a float64 network
builds, compiles and runs inside ``jax.enable_x64(True)`` (float32 networks never need
it), and a persistent compilation cache directory given as ``cache_dir`` is set only
around the compilation (:func:`compilation_cache_dir`), then the previous setting is
restored. Compile seconds and whether that cache was hit (JAX's own monitoring events)
are recorded per k.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.compilation_cache import compilation_cache

from . import network as netmod
from .definition import NetworkDef
from .network import ChunkOutput, Layout, Network, NetworkState

# ---------------------------------------------------------------- precision and caches


def precision(dtype: str | np.dtype) -> contextlib.AbstractContextManager:
    """The JAX setting a network of ``dtype`` runs under: 64-bit types for float64, the
    caller's setting otherwise."""
    return jax.enable_x64(True) if np.dtype(dtype) == np.float64 else contextlib.nullcontext()


_cache_lock = threading.Lock()
_cache_events = {"misses": 0}


def _on_event(event: str, **_: object) -> None:
    """Counts programs the persistent cache could not serve (JAX's monitoring event)."""
    if event == "/jax/compilation_cache/cache_misses":
        _cache_events["misses"] += 1


jax.monitoring.register_event_listener(_on_event)

_CACHE_SETTINGS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
                   "jax_persistent_cache_min_entry_size_bytes")


@contextlib.contextmanager
def compilation_cache_dir(path: Path | str | None) -> Iterator[None]:
    """Compile into (and load from) JAX's persistent cache at ``path`` for the duration of
    the block, caching every program however small or quick; the previous settings are
    restored afterwards. ``None``: leave the caller's settings alone."""
    if path is None:
        yield
        return
    with _cache_lock:
        new = str(Path(path).resolve())
        Path(new).mkdir(parents=True, exist_ok=True)
        before = {name: getattr(jax.config, name) for name in _CACHE_SETTINGS}
        jax.config.update("jax_compilation_cache_dir", new)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        compilation_cache.reset_cache()
        try:
            yield
        finally:
            for name, value in before.items():
                jax.config.update(name, value)
            compilation_cache.reset_cache()


@dataclass(frozen=True)
class CompileRecord:
    """Seconds to get a compiled program, and whether it was compiled afresh
    (``cache_hit`` False), loaded from the persistent cache or reused from this process's
    in-memory cache (True; :func:`jax.clear_caches` first to measure a fresh process), or
    None without a persistent cache."""

    seconds: float
    cache_hit: bool | None


def _compile(lowering, cache_dir: Path | str | None) -> tuple[jax.stages.Compiled, CompileRecord]:
    """Compile a lowered program (through the persistent cache at ``cache_dir``), timed."""
    with compilation_cache_dir(cache_dir):
        misses_before = _cache_events["misses"]
        start = time.perf_counter()
        program = lowering().compile()
        seconds = time.perf_counter() - start
        misses = _cache_events["misses"] - misses_before
    # No miss: loaded from the persistent cache, or reused from this process's own
    # in-memory cache (no compilation either way).
    hit = None if cache_dir is None else misses == 0
    return program, CompileRecord(seconds=seconds, cache_hit=hit)


# ---------------------------------------------------------------- the jitted chunk functions


def _chunk(net: Network, state: NetworkState, spikes: jax.Array, modulator: jax.Array,
           record: bool = False) -> tuple[NetworkState, ChunkOutput]:
    return netmod.run_chunk(net, state, spikes, modulator, record)


def _poisson(net: Network, state: NetworkState, probability: jax.Array, key: jax.Array,
             modulator: jax.Array, k: int, record: bool = False) -> tuple[NetworkState, ChunkOutput]:
    return netmod.run_chunk_poisson(net, state, probability, key, modulator, k, record)


COMPILER_OPTIONS = {"xla_cpu_copy_insertion_use_region_analysis": True}
"""Without region analysis XLA:CPU copies the whole ring buffer twice per step (it is read
and updated in place in one loop iteration): ~20 us of a ~40 us step on paper8."""

chunk_fn = jax.jit(_chunk, static_argnames=("record",), donate_argnums=(1,),
                   compiler_options=COMPILER_OPTIONS)
"""``chunk_fn(net, state, spikes (k, n_in) bool, modulator, record=False)``."""

poisson_fn = jax.jit(_poisson, static_argnames=("k", "record"), donate_argnums=(1,),
                     compiler_options=COMPILER_OPTIONS)
"""``poisson_fn(net, state, probability (n_in,), key, modulator, k=..., record=False)``."""

_STATE_AXES = NetworkState(*([0] * len(NetworkState._fields)))._replace(t=None)
"""Batched state: every leaf has a leading instance axis except the shared step counter
(a batched ``t`` would turn the ring-buffer row read/clear into gathers and scatters)."""


def _batched(net: Network, state: NetworkState, spikes: jax.Array, modulator: jax.Array,
             record: bool = False) -> tuple[NetworkState, ChunkOutput]:
    return jax.vmap(functools.partial(_chunk, record=record), in_axes=(0, _STATE_AXES, 0, 0),
                    out_axes=(_STATE_AXES, 0))(net, state, spikes, modulator)


batched_chunk_fn = jax.jit(_batched, static_argnames=("record",), donate_argnums=(1,),
                           compiler_options=COMPILER_OPTIONS)
"""B instances in one program: every leaf of ``net``/``state`` (but ``state.t``) and the
spikes ``(B, k, n_in)`` and modulators ``(B,)`` carry a leading batch axis."""


def batched_program(net_axes: Network):
    """Like :data:`batched_chunk_fn`, with ``net_axes`` (a ``Network`` of 0 / None) saying
    which parameter leaves carry the batch axis (None: one copy shared by every instance).
    Why: a plastic synapse table whose indices are the same in every instance (an
    all-to-all plastic projection) is gathered and scattered faster with shared indices
    than with per-instance (batched) ones: 25 cartpole agents, k = 50, float32, 2-core
    EPYC, one process alternating 5 times: 1.47x (1.18-1.85) per chunk, same counts."""

    def run(net: Network, state: NetworkState, spikes: jax.Array, modulator: jax.Array):
        return jax.vmap(_chunk, in_axes=(net_axes, _STATE_AXES, 0, 0),
                        out_axes=(_STATE_AXES, 0))(net, state, spikes, modulator)

    return jax.jit(run, donate_argnums=(1,), compiler_options=COMPILER_OPTIONS)


def stack_instances(params: list[Network]) -> tuple[Network, Network]:
    """Instances' parameters with a leading batch axis, and the matching vmap axes: every
    leaf is stacked (axis 0) except the plastic table's leaves that are equal in every
    instance, which are kept once (axis None). Bit-identical results either way: the same
    gathers and scatters, in the same order, per instance."""
    stack = functools.partial(jax.tree_util.tree_map, lambda *xs: jnp.stack(xs))
    stacked = stack(*params)
    axes = jax.tree_util.tree_map(lambda _: 0, stacked)
    if params[0].plastic is None:
        return stacked, axes
    leaves = [jax.tree_util.tree_leaves(p.plastic) for p in params]
    treedef = jax.tree_util.tree_structure(params[0].plastic)
    kept, kept_axes = [], []
    for column in zip(*leaves):
        first = np.asarray(column[0])
        if all(np.array_equal(first, np.asarray(x)) for x in column[1:]):
            kept.append(column[0])
            kept_axes.append(None)
        else:
            kept.append(jnp.stack(column))
            kept_axes.append(0)
    plastic = jax.tree_util.tree_unflatten(treedef, kept)
    plastic_axes = jax.tree_util.tree_unflatten(treedef, kept_axes)
    return (dataclasses.replace(stacked, plastic=plastic),
            dataclasses.replace(axes, plastic=plastic_axes))


@dataclass(frozen=True)
class ChunkResult:
    """Host-side outputs of one chunk."""

    counts: np.ndarray  # int64 (n_populations,), declaration order
    readout: np.ndarray  # int64, counts of the readout populations in readout order
    trace: np.ndarray | None  # exponential spike trace per neuron (with readout_tau)
    spikes: np.ndarray | None  # bool (k, N)


def spike_events(chunks: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Global ``(steps, neuron indices)``, sorted, of recorded chunks ``(first step, bool
    (k, N) spikes)`` kept in order."""
    steps, idx = [], []
    for t0, spikes in chunks:
        s, i = np.nonzero(spikes)
        steps.append(s.astype(np.int64) + t0)
        idx.append(i.astype(np.int64))
    if not steps:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(steps), np.concatenate(idx)


copy_tree = jax.jit(lambda tree: jax.tree_util.tree_map(jnp.copy, tree))
"""Fresh device copies of a pytree in one call (the initial state must survive donation)."""


class Simulator:
    """One network instance on the default JAX device.

    ``method``: ``"auto"`` (cheaper of dense and event-driven, see
    :func:`spark.connectivity.choose`), ``"event"``, ``"dense"`` or ``"native"`` (the C++
    kernels of :mod:`spark.native`; falls back to ``"auto"`` with a notice when they cannot
    be built). ``k_bound``: static spike bound of the event path (default
    :func:`spark.connectivity.default_k`). ``readout_tau`` (ms): also keep an exponential
    spike trace per neuron. ``cache_dir``: JAX persistent compilation cache used while
    compiling (None: the caller's settings).
    """

    def __init__(self, net: NetworkDef, *, method: str = "auto", k_bound: int | None = None,
                 readout_tau: float | None = None, record_spikes: bool = False,
                 cache_dir: Path | str | None = None):
        self.net = net
        self.record = bool(record_spikes)
        self.cache_dir = cache_dir
        self.compiled: dict[int, CompileRecord] = {}
        self._programs: dict[int, jax.stages.Compiled] = {}
        self._recorded: list[tuple[int, np.ndarray]] = []
        self._readout = np.asarray(net.readout_indices(), dtype=np.int64)
        self._dtype = np.dtype(net.dtype)
        self._x64 = self._dtype == np.float64  # see precision()
        self._no_modulator = np.zeros((), self._dtype)
        with precision(net.dtype):
            self.layout: Layout = netmod.make_layout([net], method, k_bound)
            self.params, self._initial = netmod.build(net, self.layout, readout_tau=readout_tau)
            self.state = copy_tree(self._initial)

    @property
    def notes(self) -> str:
        lay = self.layout
        if lay.method == "native":
            kernel = (f"native fused {netmod.FUSED_MODELS} step" if self.params.fused is not None
                      else "native propagation, neurons in XLA")
            if self.params.plastic is not None and self.params.plastic.native:
                kernel += ", native plastic blocks"
            shape = f"{kernel}, {lay.nnz} synapses, ring={lay.ring}, columns={lay.n_cols}"
        else:
            shape = f"K={lay.k}, row={lay.row_len}, ring={lay.ring}, columns={lay.n_cols}"
        x64 = "x64 scoped to this network" if self.dtype == np.float64 else "x64 not used"
        return (f"connectivity={lay.method} ({shape}); plastic synapses={lay.plastic_size}; "
                f"dtype={self.net.dtype}; {x64}")

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def compile(self, k: int) -> CompileRecord:
        """Compile (or load from the persistent cache) the chunk program for ``k`` steps."""
        if k in self.compiled:
            return self.compiled[k]
        spikes = jax.ShapeDtypeStruct((k, self.layout.n_inputs), jnp.bool_)
        modulator = jax.ShapeDtypeStruct((), self.dtype)
        with precision(self.dtype):
            program, record = _compile(
                lambda: chunk_fn.lower(self.params, self.state, spikes, modulator,
                                       record=self.record), self.cache_dir)
        self.compiled[k] = record
        self._programs[k] = program
        return record

    def reset(self) -> None:
        """Back to the initial state (no recompilation)."""
        with precision(self.dtype):
            self.state = copy_tree(self._initial)
        self._recorded = []

    def is_compiled(self, k: int) -> bool:
        """Whether the program for chunks of ``k`` steps is ready (a call compiles nothing)."""
        return k in self._programs

    def run_chunk(self, spikes: np.ndarray, modulator: float = 0.0) -> ChunkResult:
        """Run ``len(spikes)`` steps with the given input spikes ``(k, n_inputs)``.

        Kept lean on purpose: in closed loop at k = 1 this runs once per step, and every
        microsecond of Python here is latency (see spark/native/NOTES.md, "k = 1")."""
        spikes = np.asarray(spikes, dtype=bool)
        if spikes.ndim != 2 or spikes.shape[1] != self.layout.n_inputs:
            raise ValueError(f"input spikes must have shape (k, {self.layout.n_inputs}), "
                             f"got {spikes.shape}")
        program = self._programs.get(spikes.shape[0])
        if program is None:
            self.compile(spikes.shape[0])
            program = self._programs[spikes.shape[0]]
        t0 = int(self.state.t) if self.record else 0
        mod = self._no_modulator if modulator == 0.0 else np.asarray(modulator, self.dtype)
        if self._x64:
            with jax.enable_x64(True):
                self.state, out = program(self.params, self.state, spikes, mod)
        else:
            self.state, out = program(self.params, self.state, spikes, mod)
        return self._to_host(out, t0)

    def run_poisson(self, rates_hz: np.ndarray, key: jax.Array, k: int,
                    modulator: float = 0.0) -> ChunkResult:
        """Users' mode: ``k`` steps with on-device Poisson input at ``rates_hz`` (per input)."""
        probability = np.asarray(rates_hz, np.float64) * self.net.dt * 1e-3
        t0 = int(self.state.t) if self.record else 0
        with precision(self.dtype):
            self.state, out = poisson_fn(self.params, self.state, probability.astype(self.dtype),
                                         key, np.asarray(modulator, self.dtype), k=int(k),
                                         record=self.record)
            return self._to_host(out, t0)

    def _to_host(self, out: ChunkOutput, t0: int) -> ChunkResult:
        counts = np.asarray(out.counts).astype(np.int64)
        trace = None if out.trace is None else np.asarray(out.trace)
        spikes = None if out.spikes is None else np.asarray(out.spikes)
        if spikes is not None:
            self._recorded.append((t0, spikes))
        return ChunkResult(counts, counts[self._readout], trace, spikes)

    def recorded(self) -> tuple[np.ndarray, np.ndarray]:
        """Global ``(steps, neuron indices)`` of every spike since the last reset, sorted."""
        return spike_events(self._recorded)

    def weights(self) -> np.ndarray | None:
        """Current plastic weights (flat, in plastic-table order), or None."""
        if self.state.plastic is None:
            return None
        return np.asarray(self.state.plastic.weight)


class BatchedSimulator:
    """B instances of one network structure (e.g. different seeds) in one compiled,
    vmapped program. ``threads`` > 1 spreads the instances over threads (native fused
    kernel only)."""

    def __init__(self, nets: list[NetworkDef], *, method: str = "auto",
                 k_bound: int | None = None, cache_dir: Path | str | None = None,
                 threads: int = 1):
        if not nets:
            raise ValueError("BatchedSimulator needs at least one network instance")
        if len({net.name for net in nets}) != 1 or len({net.dtype for net in nets}) != 1:
            raise ValueError("batched instances must share one network (name) and dtype")
        self.nets = nets
        self.dtype = np.dtype(nets[0].dtype)
        self.cache_dir = cache_dir
        self._programs: dict[int, jax.stages.Compiled] = {}
        with precision(self.dtype):
            self.layout = netmod.make_layout(nets, method, k_bound)
            built = [netmod.build(net, self.layout, threads=threads) for net in nets]
            stack = functools.partial(jax.tree_util.tree_map, lambda *xs: jnp.stack(xs))
            self.params, axes = stack_instances([b[0] for b in built])
            self._program = batched_program(axes)
            self._initial = stack(*[b[1] for b in built])._replace(t=built[0][1].t)
            self.state = copy_tree(self._initial)

    @property
    def batch(self) -> int:
        return len(self.nets)

    def reset(self) -> None:
        with precision(self.dtype):
            self.state = copy_tree(self._initial)

    def compile(self, k: int) -> CompileRecord:
        """Compile (or load) the batched program for chunks of ``k`` steps."""
        spikes = jax.ShapeDtypeStruct((self.batch, k, self.layout.n_inputs), jnp.bool_)
        modulator = jax.ShapeDtypeStruct((self.batch,), self.dtype)
        with precision(self.dtype):
            self._programs[k], record = _compile(
                lambda: self._program.lower(self.params, self.state, spikes, modulator),
                self.cache_dir)
        return record

    def run_chunk(self, spikes: np.ndarray, modulator: np.ndarray | None = None) -> np.ndarray:
        """``spikes`` ``(B, k, n_inputs)``; returns int64 counts ``(B, n_populations)``."""
        spikes = np.asarray(spikes, dtype=bool)
        mod = np.zeros(self.batch, self.dtype) if modulator is None else np.asarray(modulator, self.dtype)
        k = spikes.shape[1]
        if k not in self._programs:
            self.compile(k)
        with precision(self.dtype):
            self.state, out = self._programs[k](self.params, self.state, spikes, mod)
            return np.asarray(out.counts).astype(np.int64)
