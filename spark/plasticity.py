"""Pair-based STDP and the reward-modulated three-factor rule, on a flat synapse list.

Plastic synapses are kept apart from the static propagators as one flat table with
per-synapse parameters (so several plastic projections with different constants share one
code path). This is the simple path, not the fastest: every step touches every plastic
synapse. Per step, in the synaptic-propagation phase of step t (pinned order; where the
spec leaves a choice, Brian2's canonical STDP example decides):

1. traces decay exactly: ``x_pre *= exp(-dt/tau_pre)``, ``x_post *= exp(-dt/tau_post)``,
   ``e *= exp(-dt/tau_elig)`` (per synapse);
2. deliveries: a synapse whose presynaptic neuron spiked at step ``t - d`` delivers its
   *current* weight (before this step's update), then ``x_pre += 1`` and the depression
   ``-a_minus * x_post`` is applied (to ``w`` for STDP, to ``e`` for the reward rule);
3. postsynaptic spikes of step t: ``x_post += 1`` and the potentiation ``a_plus * x_pre``
   (``x_pre`` already includes a delivery of this step: pre pathway before post pathway);
4. STDP weights are clipped to ``[w_min, w_max]`` at each update; the reward rule applies
   ``w = clip(w + lr * modulator * e, w_min, w_max)`` once at the end of every chunk.

Where every plastic projection is a complete rectangle (all to all, one delay: the
cartpole agent's input -> pools), the table is walked as ``(n_pre, n_post)`` blocks
(:class:`Block`): the delayed presynaptic spikes and the postsynaptic spikes are one row
each, broadcast over the block, the rule's constants one scalar per block, and the
delivered input is added row by row, where the general table needs per-synapse gathers
and a scatter with index arrays. Same flat state, same element-wise update
(:func:`_update`), so spikes, traces and weights equal the general path's bit for bit;
the membranes to the last bits, because XLA:CPU folds the general path's scatter into
``v + row`` (each delivery then lands on the membrane in turn; the blocks sum onto the
row first), tests/spark/test_plastic_blocks.py. Measured (cartpole agent, float32, k 50,
one core, 3 runs): 12.9 us (12.5-13.7) vs 18.2 us (17.6-19.0) per step for one agent,
152 us (148-153) vs 182 us (181-184) for 25 batched. With the native kernels (CPU) a block
table is walked in C++ instead, with the same order and roundings (``native``: kernels.cc
``spark_plastic_step``, and ``spark_plastic_chunk`` when the neurons are fused too; 3.0 us
per step, tests/spark/test_native_plastic.py).

XLA:CPU contracts a product and the addition that follows (``e + a_plus * x_pre``,
``w + lr * m * e``) into one fused multiply-add, as it does in the neuron updates: Brian2,
C++ and numpy round twice, so traces and weights agree with theirs to the last bit or two
(measured: 219 of 1,600 eligibility traces of the cartpole agent differ after a chunk, by
one ulp), and the spikes agree exactly in the tested episodes (tests/brian2/test_plasticity.py;
in float32 with a modulator every chunk a threshold crossing flips after ~45 chunks). Optimisation
barriers do not stop the contraction (XLA folds them away); ``XLA_FLAGS=--xla_cpu_max_isa=AVX``
(no FMA instructions) does: with it, the cartpole agent's float32 weights and traces equal
brian2-numpy's bit for bit over 75 chunks with a modulator in each, at no measured cost on
that agent but 1.31x on paper8's pure-JAX path (README, cartpole section).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import native
from .models import PlasticityRule
from .pytree import static

Array = jax.Array


class PlasticState(NamedTuple):
    weight: Array
    x_pre: Array
    x_post: Array
    elig: Array


@dataclass(frozen=True)
class Block:
    """One plastic projection laid out as a complete ``(n_pre, n_post)`` rectangle, pre
    major, at table entries ``[start, start + n_pre * n_post)``: presynaptic rows
    ``pre .. pre + n_pre - 1``, postsynaptic neurons ``post ..`` (columns ``col ..``), all
    with one delay. Static structure: plain ints."""

    start: int
    n_pre: int
    n_post: int
    pre: int
    post: int
    col: int
    delay: int

    @property
    def size(self) -> int:
        return self.n_pre * self.n_post


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class PlasticSynapses:
    """Flat plastic synapse list; ``valid`` masks padding (batched instances). With
    ``blocks`` the rule constants (``reward`` .. ``elig_decay``) hold one value per block,
    not per synapse (:meth:`_per_synapse` broadcasts them), and the index arrays are
    unused."""

    pre: Array  # int32 global presynaptic row
    col: Array  # int32 target column (delta or exponential)
    post: Array  # int32 global postsynaptic neuron
    delay: Array  # int32
    valid: Array  # bool
    reward: Array  # bool: update goes to the eligibility trace
    a_plus: Array
    a_minus: Array
    w_min: Array
    w_max: Array
    lr: Array
    pre_decay: Array
    post_decay: Array
    elig_decay: Array
    initial_weight: Array
    n_cols: int = static()
    ring: int = static()
    blocks: tuple[Block, ...] | None = static(default=None)  # see :func:`rectangles`
    native: bool = static(default=False)  # blocks walked by the native kernels (CPU)
    block_ints: Array | None = None  # native: the kernels' block tables (block_tables())
    block_floats: Array | None = None

    def init(self) -> PlasticState:
        zeros = jnp.zeros_like(self.initial_weight)
        return PlasticState(weight=self.initial_weight, x_pre=zeros, x_post=zeros, elig=zeros)

    def step(self, state: PlasticState, history: Array, spikes: Array, t: Array,
             current: Array) -> tuple[PlasticState, Array]:
        """One synaptic phase. ``history`` ``(D, n_pre)`` holds the spikes of steps
        ``t - D + 1 .. t - 1`` at rows ``step % D``; ``spikes`` are this step's neuron spikes;
        ``current`` ``(C,)`` the input already due this step (the ring buffer's row).
        Returns the new state and ``current`` plus the plastic deliveries, added one
        synapse after another in table order."""
        if self.native:
            return self._native_step(state, history, spikes, t, current)
        if self.blocks is None:
            delivered = history[(t - self.delay) % self.ring, self.pre] & self.valid
            post_spiked = spikes[self.post] & self.valid
        else:  # no padding in a block table: every entry is valid
            delivered, post_spiked = self._block_events(history, spikes, t)
        arriving = jnp.where(delivered, state.weight, jnp.zeros_like(state.weight))
        if self.blocks is None:
            current = current.at[self.col].add(arriving)
        else:
            for b in self.blocks:
                rows = arriving[b.start:b.start + b.size].reshape(b.n_pre, b.n_post)
                current = _add_rows(current, rows, b.col)
        rule = self._per_synapse
        return _update(state, delivered, post_spiked, rule(self.reward), rule(self.a_plus),
                       rule(self.a_minus), rule(self.w_min), rule(self.w_max),
                       rule(self.pre_decay), rule(self.post_decay),
                       rule(self.elig_decay)), current

    def _native_step(self, state: PlasticState, history: Array, spikes: Array, t: Array,
                     current: Array) -> tuple[PlasticState, Array]:
        """:meth:`step` as one native call: the same deliveries, order and roundings
        (kernels.cc, ``spark_plastic_step``), without XLA's separate loops over the table."""
        weight, x_pre, x_post, elig, current = native.plastic_step(
            state.weight, state.x_pre, state.x_post, state.elig, history, spikes, t, current,
            *self.block_tables())
        return PlasticState(weight=weight, x_pre=x_pre, x_post=x_post, elig=elig), current

    def block_tables(self) -> tuple[Array, Array]:
        """The native kernels' int32 and float block tables, one row per block (columns
        :data:`spark.native.BLOCK_INTS` and :data:`spark.native.BLOCK_FLOATS`), built with
        the table so that a chunk program does not assemble them on every call."""
        return self.block_ints, self.block_floats

    def _block_events(self, history: Array, spikes: Array, t: Array) -> tuple[Array, Array]:
        """Per table entry: did its presynaptic spike arrive, did its target spike (the
        general path's two gathers, as one row per block broadcast over it)."""
        delivered, post = [], []
        for b in self.blocks:
            row = lax.dynamic_index_in_dim(history, (t - b.delay) % self.ring, keepdims=False)
            shape = (b.n_pre, b.n_post)
            delivered.append(jnp.broadcast_to(row[b.pre:b.pre + b.n_pre, None], shape).reshape(-1))
            post.append(jnp.broadcast_to(spikes[None, b.post:b.post + b.n_post], shape).reshape(-1))
        return jnp.concatenate(delivered), jnp.concatenate(post)

    def apply_modulator(self, state: PlasticState, modulator: Array) -> PlasticState:
        """End-of-chunk three-factor update of the reward-modulated synapses."""
        rule = self._per_synapse
        new = jnp.clip(state.weight + rule(self.lr) * modulator * state.elig, rule(self.w_min),
                       rule(self.w_max))
        return state._replace(weight=jnp.where(rule(self.reward) & self.valid, new, state.weight))

    def _per_synapse(self, value: Array) -> Array:
        """A rule constant per table entry: as stored in the general table; one value per
        block in a block table (broadcast here)."""
        if self.blocks is None:
            return value
        return jnp.concatenate([jnp.broadcast_to(value[i], (b.size,))
                                for i, b in enumerate(self.blocks)])


def _update(state: PlasticState, delivered: Array, post_spiked: Array, reward: Array,
            a_plus: Array, a_minus: Array, w_min: Array, w_max: Array, pre_decay: Array,
            post_decay: Array, elig_decay: Array) -> PlasticState:
    """Steps 1-4 of the module docstring, element-wise (operands broadcast against the
    state): the one formula both table layouts use, so they round alike."""
    w = state.weight
    x_pre = state.x_pre * pre_decay
    x_post = state.x_post * post_decay
    elig = state.elig * elig_decay
    x_pre = jnp.where(delivered, x_pre + 1.0, x_pre)
    depress = -a_minus * x_post
    w = jnp.where(delivered & ~reward, jnp.clip(w + depress, w_min, w_max), w)
    elig = jnp.where(delivered & reward, elig + depress, elig)
    x_post = jnp.where(post_spiked, x_post + 1.0, x_post)
    potentiate = a_plus * x_pre
    w = jnp.where(post_spiked & ~reward, jnp.clip(w + potentiate, w_min, w_max), w)
    elig = jnp.where(post_spiked & reward, elig + potentiate, elig)
    return PlasticState(weight=w, x_pre=x_pre, x_post=x_post, elig=elig)


def _add_rows(current: Array, rows: Array, col: int) -> Array:
    """``current[col:col + n]`` plus every row of ``rows`` ``(n_pre, n)``, one after another
    in presynaptic order: the order in which the general path's scatter, as written, adds
    them (XLA:CPU then folds that scatter into the membrane update; module docstring). Not
    ``sum(axis=0)``: XLA:CPU splits a long reduction into partial sums. Slices and a
    concatenation, not ``.at[].set`` (a scatter, slow once vmapped)."""
    n = rows.shape[1]
    total = current[col:col + n]
    for i in range(rows.shape[0]):  # at most MAX_BLOCK_ROWS, see rectangles()
        total = total + rows[i]
    return jnp.concatenate([current[:col], total, current[col + n:]])


@dataclass(frozen=True)
class PlasticRecord:
    """Host-side list of the synapses of one plastic projection (global numbering)."""

    rule: PlasticityRule
    pre: np.ndarray
    col: np.ndarray
    post: np.ndarray
    delay: np.ndarray
    weight: np.ndarray


MAX_BLOCK_ROWS = 256
"""Largest presynaptic side of a block: its input sum is unrolled row by row (see
:func:`_add_rows`)."""


def _rectangle(record: PlasticRecord, start: int) -> Block | None:
    """``record`` as a :class:`Block` at ``start``, or None when it is not a complete
    pre-major rectangle over contiguous neurons with one delay and at most
    :data:`MAX_BLOCK_ROWS` presynaptic rows."""
    if record.pre.size == 0:
        return None
    pre_ids, post_ids = np.unique(record.pre), np.unique(record.post)
    n_pre, n_post = pre_ids.size, post_ids.size
    if record.pre.size != n_pre * n_post or n_pre > MAX_BLOCK_ROWS:
        return None
    contiguous = (np.array_equal(pre_ids, np.arange(pre_ids[0], pre_ids[0] + n_pre))
                  and np.array_equal(post_ids, np.arange(post_ids[0], post_ids[0] + n_post)))
    if not (contiguous and np.array_equal(record.pre, np.repeat(pre_ids, n_post))
            and np.array_equal(record.post, np.tile(post_ids, n_pre))):
        return None
    col0 = int(record.col[0])
    if not np.array_equal(record.col, np.tile(np.arange(col0, col0 + n_post), n_pre)):
        return None
    if not np.all(record.delay == record.delay[0]):
        return None
    return Block(start=start, n_pre=int(n_pre), n_post=int(n_post), pre=int(pre_ids[0]),
                 post=int(post_ids[0]), col=col0, delay=int(record.delay[0]))


def rectangles(records: list[PlasticRecord]) -> tuple[Block, ...] | None:
    """The plastic table as blocks, when every projection is a complete rectangle with one
    delay (else None: the general path). Batched instances use blocks only when theirs are
    equal (:func:`spark.network.make_layout`)."""
    blocks, start = [], 0
    for record in records:
        block = _rectangle(record, start)
        if block is None:
            return None
        blocks.append(block)
        start += block.size
    return tuple(blocks) if blocks else None


def build_plastic(records: list[PlasticRecord], size: int, n_cols: int, ring: int, dt: float,
                  dtype: np.dtype, blocks: tuple[Block, ...] | None = None,
                  native: bool = False) -> PlasticSynapses:
    """Concatenate plastic projections and pad to ``size`` synapses; ``blocks`` (from
    :func:`rectangles`, and only for a table of exactly their size) selects the block walk,
    ``native`` (with blocks) its native kernel."""
    n = sum(r.pre.size for r in records)
    if size < n:
        raise ValueError(f"plastic table size {size} < {n} synapses")
    if blocks is not None and (sum(b.size for b in blocks) != size or rectangles(records) != blocks):
        raise ValueError("plastic blocks do not describe this table: build it without them")
    if native and blocks is None:
        raise ValueError("the native plastic kernel walks block tables only")

    def cat(get, fill, out_dtype) -> Array:
        """One entry per synapse (a per-projection value is broadcast), then padding."""
        parts = [np.broadcast_to(np.asarray(get(r), dtype=np.float64), r.pre.shape) for r in records]
        parts.append(np.full(size - n, fill, dtype=np.float64))
        return jnp.asarray(np.concatenate(parts).astype(out_dtype))

    def constant(get, fill, out_dtype) -> Array:
        """A rule constant: per synapse (general table) or per block."""
        if blocks is None:
            return cat(get, fill, out_dtype)
        return jnp.asarray(np.array([get(r) for r in records], dtype=np.float64).astype(out_dtype))

    def decay(tau: float) -> float:
        return float(np.exp(-dt / tau))

    tables = {}
    if native:
        geometry = [[b.start, b.n_pre, b.n_post, b.pre, b.post, b.col, b.delay,
                     int(r.rule.modulated)] for b, r in zip(blocks, records)]
        constants = [[r.rule.a_plus, r.rule.a_minus, r.rule.w_min, r.rule.w_max,
                      decay(r.rule.tau_pre), decay(r.rule.tau_post),
                      r.rule.eligibility_decay(dt), r.rule.learning_rate] for r in records]
        tables = dict(block_ints=jnp.asarray(np.array(geometry, dtype=np.int32)),
                      block_floats=jnp.asarray(np.array(constants, dtype=np.float64).astype(dtype)))
    return PlasticSynapses(
        pre=cat(lambda r: r.pre, 0, np.int32),
        col=cat(lambda r: r.col, 0, np.int32),
        post=cat(lambda r: r.post, 0, np.int32),
        delay=cat(lambda r: r.delay, 1, np.int32),
        valid=cat(lambda r: True, False, np.bool_),
        reward=constant(lambda r: r.rule.modulated, False, np.bool_),
        a_plus=constant(lambda r: r.rule.a_plus, 0.0, dtype),
        a_minus=constant(lambda r: r.rule.a_minus, 0.0, dtype),
        w_min=constant(lambda r: r.rule.w_min, 0.0, dtype),
        w_max=constant(lambda r: r.rule.w_max, 0.0, dtype),
        lr=constant(lambda r: r.rule.learning_rate, 0.0, dtype),
        pre_decay=constant(lambda r: decay(r.rule.tau_pre), 0.0, dtype),
        post_decay=constant(lambda r: decay(r.rule.tau_post), 0.0, dtype),
        elig_decay=constant(lambda r: r.rule.eligibility_decay(dt), 0.0, dtype),
        initial_weight=cat(lambda r: r.weight, 0.0, dtype),
        n_cols=n_cols, ring=ring, blocks=blocks, native=native, **tables)
