"""Synaptic propagation into a ring buffer of future input, event-driven or dense.

Global numbering: presynaptic rows are the network's neurons (populations concatenated in order,
see :meth:`spark.definition.NetworkDef.bounds`) followed by the input neurons. Targets are *columns*:
column ``j`` is the delta input (``v += w``) of neuron ``j``, column ``N + j`` its
exponential input (``g += w``), present only when some projection is exponential.

The ring buffer has ``D = max_delay + 1`` rows of ``C`` columns, stored flat. At step t row ``t % D``
is read (and cleared) and a spike of step t with delay ``d`` (1 <= d <= D - 1) is added to
row ``(t + d) % D``, which is never ``t % D``: no delay wraps onto the current step.

Both propagators accumulate each buffer entry in ascending presynaptic order (then
projection order, then ascending target), the order a sequential scatter-add produces;
the dense path's matrix product sums in BLAS order, so the two agree to rounding (and on
spikes, as the tests check), not bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import native
from .pytree import static

Array = jax.Array


@dataclass(frozen=True)
class SynapseTable:
    """Host-side flat synapse list in global numbering, sorted by (pre, original order)."""

    pre: np.ndarray  # int64, global presynaptic row
    col: np.ndarray  # int64, target column
    delay: np.ndarray  # int64, >= 1 steps
    weight: np.ndarray  # float64

    @property
    def size(self) -> int:
        return int(self.pre.size)

    def max_out_degree(self, n_pre: int) -> int:
        if self.size == 0:
            return 1
        return max(1, int(np.bincount(self.pre, minlength=n_pre).max()))


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class EventDriven:
    """Padded per-presynaptic rows: ``offsets[p, i] = delay * C + column`` and
    ``weights[p, i]`` for the i-th synapse of row p; padding has offset ``2 * D * C``
    (dropped by the scatter). Row ``n_pre`` is all padding (the fill of the compaction).

    Per step the spiking rows are compacted into ``K`` indices (two-level: 64-wide blocks
    holding a spike, then spikes within them, both ascending), their rows gathered and
    scatter-added into the flattened buffer. More than ``K`` spikes take an exact fallback
    (a ``while_loop`` compacting the next ``K`` spikes, same ascending order)."""

    offsets: Array  # int32 (n_pre + 1, L)
    weights: Array  # float (n_pre + 1, L)
    n_pre: int = static()
    n_cols: int = static()
    ring: int = static()
    k: int = static()
    block: int = static()
    split: bool = static(default=True)

    def propagate(self, flat: Array, spikes: Array, t: Array) -> Array:
        """Add the spikes of step ``t`` (bool ``(n_pre,)``) into the flat buffer ``(D * C,)``
        (kept flat: a reshape here makes XLA copy the buffer around the fallback)."""
        return _event_propagate(self, flat, spikes, t)

    def _scatter(self, flat: Array, idx: Array, t: Array) -> Array:
        """Scatter-add the rows ``idx`` (ascending, padded with ``n_pre``) of step t."""
        size = self.ring * self.n_cols
        off = self.offsets[idx] + (t % self.ring) * self.n_cols
        off = jnp.where(off >= size, off - size, off)
        return flat.at[off.reshape(-1)].add(self.weights[idx].reshape(-1), mode="drop")

    def _fast(self, flat: Array, spikes: Array, t: Array) -> tuple[Array, Array, Array]:
        """The first ``K`` spikes; returns the buffer, the spike count and their indices.
        The second half of the K slots is scattered only when used (padding rows cost as
        much as real ones)."""
        idx = self._compact_first(spikes)
        count = jnp.sum(spikes, dtype=jnp.int32)
        if not self.split:
            return self._scatter(flat, idx, t), count, idx
        half = self.k // 2
        flat = self._scatter(flat, idx[:half], t)
        flat = lax.cond(count > half, lambda f: self._scatter(f, idx[half:], t), lambda f: f, flat)
        return flat, count, idx

    def _windows(self, flat: Array, spikes: Array, t: Array, count: Array, first: Array) -> Array:
        """Exact fallback: clear the K spikes already done and compact the next K, until
        all are done (ascending order throughout), reusing the cheap two-level compaction
        instead of a cumsum over all rows."""
        remaining = spikes.at[first].set(False, mode="drop")

        def cond(carry):
            return carry[0] < count

        def body(carry):
            done, remaining, flat = carry
            idx = self._compact_first(remaining)
            return (done + self.k, remaining.at[idx].set(False, mode="drop"),
                    self._scatter(flat, idx, t))

        return lax.while_loop(cond, body, (jnp.int32(self.k), remaining, flat))[2]

    def _compact_first(self, spikes: Array) -> Array:
        """Ascending indices of the first ``K`` spiking rows, padded with ``n_pre``. Exact
        whenever at most ``K`` rows spike (then at most ``K`` blocks hold a spike)."""
        b, k = self.block, self.k
        n_blocks = -(-self.n_pre // b)
        padded = jnp.zeros(n_blocks * b + b, bool).at[: self.n_pre].set(spikes)
        blocks = padded.reshape(n_blocks + 1, b)
        active = jnp.any(blocks[:n_blocks], axis=1)
        rank = jnp.cumsum(active, dtype=jnp.int32) - 1
        slot = jnp.where(active, rank, k)
        chosen = jnp.full((k,), n_blocks, jnp.int32).at[slot].set(
            jnp.arange(n_blocks, dtype=jnp.int32), mode="drop")
        sub = blocks[chosen].reshape(-1)
        neuron = (chosen[:, None] * b + jnp.arange(b, dtype=jnp.int32)[None, :]).reshape(-1)
        rank2 = jnp.cumsum(sub, dtype=jnp.int32) - 1
        slot2 = jnp.where(sub, rank2, k)
        return jnp.full((k,), self.n_pre, jnp.int32).at[slot2].set(neuron, mode="drop")


@jax.custom_batching.custom_vmap
def _event_propagate(prop: EventDriven, flat: Array, spikes: Array, t: Array) -> Array:
    flat, count, first = prop._fast(flat, spikes, t)
    # Exact fallback; its predicate is false on nearly every step (count <= K).
    return lax.cond(count > prop.k, lambda f: prop._windows(f, spikes, t, count, first),
                    lambda f: f, flat)


@_event_propagate.def_vmap
def _event_propagate_batched(axis_size: int, in_batched, prop, flat, spikes, t):
    """Batched instances. The fast path becomes *one* scatter with (instance, offset)
    indices (a plain vmap made XLA copy every buffer each step; each instance keeps its own
    update order, so results equal the unbatched ones bit for bit), and the fallback keeps
    *one* scalar predicate (a vmapped ``cond`` would run both branches every step)."""

    def batch(x, batched):
        return x if batched else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))

    prop, flat, spikes = jax.tree_util.tree_map(batch, (prop, flat, spikes), tuple(in_batched[:3]))
    t_axis = 0 if in_batched[3] else None
    size = flat.shape[1]
    first = jax.vmap(EventDriven._compact_first)(prop, spikes)
    count = jnp.sum(spikes, axis=1, dtype=jnp.int32)
    base = jnp.broadcast_to((t % prop.ring) * prop.n_cols, (axis_size,))

    def scatter_all(flat: Array, idx: Array) -> Array:
        off = jax.vmap(lambda o, i: o[i])(prop.offsets, idx) + base[:, None, None]
        off = jnp.where(off >= size, off - size, off)
        rows = jnp.broadcast_to(jnp.arange(axis_size, dtype=jnp.int32)[:, None, None], off.shape)
        w = jax.vmap(lambda a, i: a[i])(prop.weights, idx)
        return flat.at[rows.reshape(-1), off.reshape(-1)].add(w.reshape(-1), mode="drop")

    if prop.split:
        half = prop.k // 2
        flat = scatter_all(flat, first[:, :half])
        flat = lax.cond(jnp.any(count > half), lambda f: scatter_all(f, first[:, half:]),
                        lambda f: f, flat)
    else:
        flat = scatter_all(flat, first)

    def windows(f):
        return jax.vmap(EventDriven._windows, in_axes=(0, 0, 0, t_axis, 0, 0))(
            prop, f, spikes, t, count, first)

    return lax.cond(jnp.any(count > prop.k), windows, lambda f: f, flat), True


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Dense:
    """Dense ``(n_pre, (D - 1) * C)`` matrix, one block of columns per delay 1..D-1; a
    step is one vector-matrix product added to buffer rows ``(t + d) % D``."""

    matrix: Array
    n_pre: int = static()
    n_cols: int = static()
    ring: int = static()

    def propagate(self, buf: Array, spikes: Array, t: Array) -> Array:
        contrib = (spikes.astype(self.matrix.dtype) @ self.matrix).reshape(self.ring - 1, self.n_cols)
        rows = (t + jnp.arange(1, self.ring, dtype=jnp.int32)) % self.ring
        return buf.reshape(self.ring, self.n_cols).at[rows].add(contrib, unique_indices=True).reshape(-1)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class NativeEvent:
    """Compressed rows (CSR) for the native kernel (:mod:`spark.native`): row p's synapses
    are ``[row_ptr[p], row_ptr[p + 1])`` with ``offsets = delay * C + column``, in the same
    order as :class:`EventDriven`'s rows, so both accumulate identically. Arrays past
    ``row_ptr[-1]`` are padding (batched instances share one length)."""

    row_ptr: Array  # int32 (n_pre + 1,)
    offsets: Array  # int32 (nnz,)
    weights: Array  # float (nnz,)
    n_pre: int = static()
    n_cols: int = static()
    ring: int = static()

    def propagate(self, flat: Array, spikes: Array, t: Array) -> Array:
        return native.propagate(flat, spikes, t, self.row_ptr, self.offsets, self.weights,
                                ring=self.ring, n_cols=self.n_cols)


Propagator = EventDriven | Dense | NativeEvent


def default_k(n_pre: int, dt: float, rate_hz: float = 10.0) -> int:
    """Static spike bound K of the fast path: mean spikes per step at ``rate_hz`` plus two
    standard deviations, rounded up to a multiple of 4 (the fallback is exact, so K only
    trades padding against fallback frequency; on paper8 K = 12..24 are equally fast)."""
    mean = n_pre * rate_hz * dt * 1e-3
    return int(max(8, 4 * np.ceil((mean + 2.0 * np.sqrt(mean)) / 4.0)))


def dense_cost(n_pre: int, ring: int, n_cols: int) -> float:
    """Estimated microseconds per step of the dense path (fit on the 2-core EPYC: ~1 us
    fixed, ~45 ps per multiply-add)."""
    return 1.0 + n_pre * (ring - 1) * n_cols * 4.5e-5


def event_cost(n_pre: int, k: int, row_len: int) -> float:
    """Estimated microseconds per step of the event path (~3.5 us fixed for compaction and
    control flow, ~4.5 ns per padded scatter-add entry, compaction linear in n_pre)."""
    return 3.5 + k * row_len * 4.5e-3 + n_pre * 1e-4


def choose(table: SynapseTable, n_pre: int, ring: int, n_cols: int, k: int,
           method: str = "auto") -> str:
    """``"dense"``, ``"event"`` or ``"native"`` (as asked); auto picks the smaller estimate
    of :func:`dense_cost` and :func:`event_cost` (measured crossover: a few 10^4 multiply-adds per step)."""
    if method in ("dense", "event", "native"):
        return method
    if method != "auto":
        raise ValueError("connectivity method must be 'auto', 'dense', 'event' or 'native', "
                         f"not {method!r}")
    row_len = table.max_out_degree(n_pre)
    return "dense" if dense_cost(n_pre, ring, n_cols) <= event_cost(n_pre, k, row_len) else "event"


def build_event(table: SynapseTable, n_pre: int, ring: int, n_cols: int, k: int, row_len: int,
                dtype: np.dtype, block: int = 64) -> EventDriven:
    """Padded rows (length ``row_len`` >= max out-degree, so batched instances can share it)."""
    pad = 2 * ring * n_cols
    if pad >= 2**31:
        raise ValueError("ring buffer too large for int32 offsets; reduce delays or network size")
    offsets = np.full((n_pre + 1, row_len), pad, dtype=np.int64)
    weights = np.zeros((n_pre + 1, row_len), dtype=np.float64)
    if table.size:
        counts = np.bincount(table.pre, minlength=n_pre)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        position = np.arange(table.size) - starts[table.pre]
        offsets[table.pre, position] = table.delay * n_cols + table.col
        weights[table.pre, position] = table.weight
    return EventDriven(offsets=jnp.asarray(offsets.astype(np.int32)),
                       weights=jnp.asarray(weights.astype(dtype)), n_pre=n_pre, n_cols=n_cols,
                       ring=ring, k=k, block=block)


def build_native(table: SynapseTable, n_pre: int, ring: int, n_cols: int, nnz: int,
                 dtype: np.dtype) -> NativeEvent:
    """CSR rows padded to ``nnz`` (>= the table's size) synapses."""
    if ring * n_cols >= 2**31 or nnz >= 2**31:
        raise ValueError("ring buffer or synapse count too large for int32 offsets")
    counts = np.bincount(table.pre, minlength=n_pre) if table.size else np.zeros(n_pre, np.int64)
    row_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    offsets = np.zeros(max(nnz, 1), np.int32)
    weights = np.zeros(max(nnz, 1), np.float64)
    offsets[:table.size] = table.delay * n_cols + table.col
    weights[:table.size] = table.weight
    return NativeEvent(row_ptr=jnp.asarray(row_ptr), offsets=jnp.asarray(offsets),
                       weights=jnp.asarray(weights.astype(dtype)), n_pre=n_pre, n_cols=n_cols,
                       ring=ring)


def build_dense(table: SynapseTable, n_pre: int, ring: int, n_cols: int, dtype: np.dtype) -> Dense:
    matrix = np.zeros((n_pre, ring - 1, n_cols), dtype=np.float64)
    # Summed in float64 first (duplicate synapses), then cast once.
    np.add.at(matrix, (table.pre, table.delay - 1, table.col), table.weight)
    return Dense(matrix=jnp.asarray(matrix.reshape(n_pre, -1).astype(dtype)), n_pre=n_pre,
                 n_cols=n_cols, ring=ring)
