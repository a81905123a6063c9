"""A whole network as one pytree, its state, and the pure step / chunk functions.

Step order (Brian2's default schedule, the order the benchmark's specification pins), for
step t:

1. state update of every neuron with synaptic currents from *before* this step's
   deliveries; refractory neurons (``t - lastspike < R``) keep ``v``; ``g`` decays exactly;
2. threshold (strict ``>``), blocked while refractory;
3. synaptic propagation: read and clear ring-buffer row ``t % D`` (plus plastic
   deliveries and this step's drive counts), ``v += delta input`` except where
   refractory, ``g += exponential input``;
   then this step's neuron and input spikes are scattered into future rows;
4. reset ``v = v_reset`` (and the model's jump) for the neurons that spiked; their
   refractory clock starts at t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import connectivity as conn
from . import native
from .definition import NetworkDef
from .neurons import ALIFCells, AbstractCells, AdExCells, IzhikevichCells, LIFCells
from .plasticity import (Block, PlasticRecord, PlasticState, PlasticSynapses, build_plastic,
                         rectangles)
from .pytree import static

Array = jax.Array
NEVER = -(2**30)
"""``lastspike`` of a neuron that never spiked (int32-safe, never refractory)."""


class NetworkState(NamedTuple):
    """Everything that evolves. ``history`` (spikes of the last D steps) only with
    plasticity; ``trace`` (exponential readout trace per neuron) only when asked for."""

    t: Array  # int32 scalar, the next step's index
    v: Array
    g: Array
    aux: Array
    lastspike: Array  # int32
    buffer: Array  # flat (D * C,): row r is [r * C, (r + 1) * C)
    history: Array | None
    plastic: PlasticState | None
    trace: Array | None


class ChunkOutput(NamedTuple):
    counts: Array  # int32 (n_populations,), spikes of the chunk per population
    trace: Array | None  # (N,) exponential readout trace at the chunk's end
    spikes: Array | None  # bool (k, N) per-step spikes, only when recording


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class FusedLIF:
    """Per-population parameter tables of the native fused step (:func:`spark.native.lif_step`),
    for networks of current-based LIF, ALIF, AdEx and Izhikevich neurons. LIF rows get
    ``theta_decay = beta = 0`` and kind 0; the kernel then skips the threshold term, as the
    LIF cells do. AdEx/Izhikevich rows keep ``v_peak`` in ``v_thresh``, their jump
    (``b``/``d``) in ``beta``, and their own parameters in :data:`spark.native.EULER_PARAMS`
    columns appended to every row (only when the network has such a population)."""

    float_params: Array  # (populations, 6 + 2 max(R, 1) [+ 9]): FLOAT_PARAMS, syn_coef_r,
    #                      g_decay_r [, EULER_PARAMS]
    int_params: Array  # int32 (populations, 5), columns spark.native.INT_PARAMS


KINDS = {LIFCells: 0, ALIFCells: 1, AdExCells: 2, IzhikevichCells: 3}
"""The ``kind`` column of the fused tables (as ``Kind`` in kernels.cc)."""
FUSED_MODELS = "LIF/ALIF/AdEx/Izhikevich"


def fuse_cells(cells: tuple[AbstractCells, ...], bounds: tuple[tuple[int, int], ...],
               v_reset: np.ndarray, ref_steps: np.ndarray, g_decay: np.ndarray,
               ) -> FusedLIF | None:
    """The tables read off the built cells (one row per population: every parameter is
    per population in the spec), or None unless every segment is current-based LIF,
    ALIF, AdEx or Izhikevich with at most :data:`spark.native.MAX_RECEPTORS` receptors
    (the CPU and the CUDA kernels take all four)."""
    if not cells or not all(
            (isinstance(c, (LIFCells, ALIFCells)) and not c.conductance)
            or isinstance(c, (AdExCells, IzhikevichCells)) for c in cells):
        return None
    n = bounds[-1][1]
    receptor_cols = g_decay.shape[0] // n
    if receptor_cols > native.MAX_RECEPTORS:
        return None
    euler = any(isinstance(c, (AdExCells, IzhikevichCells)) for c in cells)
    dtype = np.asarray(v_reset).dtype
    floats, ints = [], []
    for start, stop in bounds:
        c = next(c for c in cells if c.start <= start < c.stop)
        i = start - c.start

        def at(x, i=i):
            x = np.asarray(x)
            return x if x.ndim == 0 else x[i]

        decays = [g_decay[r * n + start] for r in range(receptor_cols)]
        extra = [0.0] * len(native.EULER_PARAMS) if euler else []
        if isinstance(c, (LIFCells, ALIFCells)):
            adaptive = isinstance(c, ALIFCells)
            syn = np.asarray(c.syn_coef).reshape(receptor_cols, -1)[:, i]
            row = [at(c.decay), at(c.v_inf), at(c.v_thresh),
                   at(c.theta_decay) if adaptive else 0.0, at(c.beta) if adaptive else 0.0,
                   v_reset[start], *syn, *decays, *extra]
            has_syn = int(c.has_syn)
        else:
            adex = isinstance(c, AdExCells)
            jump = c.b if adex else c.d
            row = [0.0, 0.0, at(c.v_peak), 0.0, at(jump), v_reset[start],
                   *([0.0] * receptor_cols), *decays]
            if adex:
                row += [at(c.dt), at(c.i_offset), at(c.a), 0.0, at(c.tau_m), at(c.v_rest),
                        at(c.v_t), at(c.delta_t), at(c.tau_w)]
            else:
                row += [at(c.dt), at(c.i_offset), at(c.a), at(c.b)] + [0.0] * 5
            has_syn = 1
        floats.append(row)
        ints.append([start, stop, ref_steps[start], has_syn, KINDS[type(c)]])
    return FusedLIF(float_params=jnp.asarray(np.array(floats, dtype=dtype)),
                    int_params=jnp.asarray(np.array(ints, dtype=np.int32)))


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class DriveTable:
    """Every drive of the network as one table: ``counts[t]`` (unsigned, one column per
    driven neuron, drives concatenated) arrive at step t at target columns ``cols``, each
    count adding ``weight``."""

    counts: Array  # (steps, M) unsigned
    cols: Array  # int32 (M,)
    weight: Array  # (M,)

    def current(self, t: Array, n_cols: int) -> Array:
        """What arrives at step t, as a vector over the target columns (zeros past the
        last row)."""
        steps = self.counts.shape[0]
        row = lax.dynamic_index_in_dim(self.counts, jnp.minimum(t, steps - 1), keepdims=False)
        row = jnp.where(t < steps, row, jnp.zeros_like(row))
        return jnp.zeros(n_cols, self.weight.dtype).at[self.cols].add(
            self.weight * row.astype(self.weight.dtype))


def drive_table(net: NetworkDef, dtype: np.dtype) -> DriveTable | None:
    """The drives as one table (counts as uint16, what the native kernels read), or None."""
    if not net.drives:
        return None
    n = net.n_neurons
    steps = max(np.shape(d.counts)[0] for d in net.drives)
    counts = np.zeros((steps, sum(np.shape(d.counts)[1] for d in net.drives)), np.uint16)
    cols, weights, at = [], [], 0
    for d in net.drives:
        size = np.shape(d.counts)[1]
        counts[:np.shape(d.counts)[0], at:at + size] = d.counts
        at += size
        block = 0 if d.receptor_index is None else 1 + d.receptor_index
        cols.append(np.arange(size) + net.offsets[d.target] + n * block)
        weights.append(np.full(size, float(d.weight)))
    return DriveTable(counts=jnp.asarray(counts), cols=jnp.asarray(np.concatenate(cols), jnp.int32),
                      weight=jnp.asarray(np.concatenate(weights).astype(dtype)))


def drive_columns_distinct(drive: DriveTable | None) -> bool:
    """Whether no two drive columns coincide: the native kernels add each drive's arrivals
    straight into the ring row, which equals DriveTable.current's scatter only then."""
    if drive is None:
        return True
    cols = np.asarray(drive.cols)
    return np.unique(cols).size == cols.size


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Network:
    """Parameters of a network (array leaves) and its shape config (static). With the
    native kernels, ``fused`` replaces ``cells`` (empty then) when the step can be fused."""

    cells: tuple[AbstractCells, ...]
    v_reset: Array
    ref_steps: Array  # int32
    g_decay: Array
    propagator: conn.Propagator | None
    plastic: PlasticSynapses | None
    readout_decay: Array | None
    fused: FusedLIF | None
    drive: DriveTable | None
    n_neurons: int = static()
    n_inputs: int = static()
    n_cols: int = static()
    ring: int = static()
    dt: float = static()
    population_bounds: tuple[tuple[int, int], ...] = static()
    threads: int = static(default=1)  # native chunk kernel: threads over batched instances


@dataclass(frozen=True)
class Layout:
    """Static shapes shared by every instance built with it (batched instances need one
    layout: the largest row length, ring and plastic table over the instances)."""

    n_neurons: int
    n_inputs: int
    n_cols: int
    ring: int
    k: int
    row_len: int
    plastic_size: int
    method: str  # "event" | "dense" | "native" | "none"
    nnz: int  # static synapses of the largest instance (native rows share this length)
    plastic_blocks: tuple[Block, ...] | None = None  # the plastic table as rectangles

    @property
    def n_pre(self) -> int:
        return self.n_neurons + self.n_inputs


def receptor_block(syn) -> int:
    """Which block of N target columns a synapse adds to: 0 is ``v`` (delta), ``1 + r`` is
    receptor r's ``g``."""
    index = syn.receptor_index
    return 0 if index is None else 1 + index


def synapse_tables(net: NetworkDef) -> tuple[conn.SynapseTable, list[PlasticRecord]]:
    """Static synapses in global numbering, sorted stably by presynaptic row (so rows keep
    synapse-list order, then ascending target), and the plastic synapse lists apart."""
    n = net.n_neurons
    parts: list[tuple[np.ndarray, ...]] = []
    plastic: list[PlasticRecord] = []
    for syn in net.synapses:
        src = n if syn.source == net.input_name else net.offsets[syn.source]
        pre = np.asarray(syn.pre).astype(np.int64) + src
        post = np.asarray(syn.post).astype(np.int64) + net.offsets[syn.target]
        col = post + n * receptor_block(syn)
        delay = np.asarray(syn.delay_steps).astype(np.int64)
        weight = np.asarray(syn.weight, dtype=np.float64)
        if syn.plasticity is not None:
            plastic.append(PlasticRecord(rule=syn.plasticity, pre=pre, col=col, post=post,
                                         delay=delay, weight=weight))
        else:
            parts.append((pre, col, delay, weight))
    if parts:
        pre, col, delay, weight = (np.concatenate(a) for a in zip(*parts))
    else:
        pre = col = delay = np.zeros(0, np.int64)
        weight = np.zeros(0)
    order = np.argsort(pre, kind="stable")
    return conn.SynapseTable(pre=pre[order], col=col[order], delay=delay[order],
                             weight=weight[order]), plastic


def n_columns(net: NetworkDef) -> int:
    return net.n_neurons * (1 + net.n_receptors)


def make_layout(nets: list[NetworkDef], method: str = "auto", k: int | None = None,
                ) -> Layout:
    """One layout covering every instance in ``nets`` (same structure, any seeds). ``"native"``
    falls back to ``"auto"`` (with a one-line notice) when the kernels cannot be built."""
    if method == "native" and not native.available():
        native.notice_fallback()
        method = "auto"
    first = nets[0]
    n, n_in = first.n_neurons, first.n_inputs
    n_pre = n + n_in
    n_cols = n_columns(first)
    ring = max(net.max_delay_steps for net in nets) + 1
    tables = [synapse_tables(net) for net in nets]
    row_len = max(t.max_out_degree(n_pre) for t, _ in tables)
    plastic_size = max(sum(r.pre.size for r in p) for _, p in tables)
    k = conn.default_k(n_pre, first.dt) if k is None else int(k)
    if k < 1:
        raise ValueError(f"spike bound k must be >= 1, got {k}")
    if all(t.size == 0 for t, _ in tables) and method != "native":
        chosen = "none"
    else:
        chosen = conn.choose(tables[0][0], n_pre, ring, n_cols, k, method)
    blocks = [rectangles(p) for _, p in tables]
    shared_blocks = blocks[0] if all(b == blocks[0] for b in blocks) else None
    return Layout(n_neurons=n, n_inputs=n_in, n_cols=n_cols, ring=ring, k=k, row_len=row_len,
                  plastic_size=plastic_size, method=chosen,
                  nnz=max(t.size for t, _ in tables), plastic_blocks=shared_blocks)


def native_plastic(layout: Layout) -> bool:
    """Whether the plastic table is walked by the native kernel: a block table, with the
    native layout (CPU and CUDA kernels alike)."""
    return layout.method == "native" and layout.plastic_blocks is not None


def build(net: NetworkDef, layout: Layout | None = None, *,
          readout_tau: float | None = None, threads: int = 1) -> tuple[Network, NetworkState]:
    """Parameters and initial state of one instance (arrays in the network's dtype; a
    float64 network must be built and run under ``jax.enable_x64(True)``, which
    :class:`spark.Simulator` does for you). ``threads``: how many threads the native chunk
    kernel spreads batched instances over."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    layout = make_layout([net]) if layout is None else layout
    dtype = np.dtype(net.dtype)
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        raise RuntimeError("a float64 network needs 64-bit JAX: build it inside "
                           "`with jax.enable_x64(True):` (spark.Simulator does)")
    dt = net.dt
    cells = []
    for run in net.segments:
        pops = [net.populations[i] for i in run]
        model_type = type(pops[0].model)
        cells.append(model_type.segment_cells([p.model for p in pops], [p.size for p in pops],
                                              net.offsets[pops[0].name], dt,
                                              [p.receptors for p in pops], net.n_receptors,
                                              dtype, reversals=[p.reversals for p in pops]))

    def per_neuron(fn) -> np.ndarray:
        return np.concatenate([np.full(p.size, fn(p)) for p in net.populations])

    v_reset = per_neuron(lambda p: p.model.reset_value).astype(dtype)
    ref_steps = per_neuron(lambda p: p.refractory_steps).astype(np.int32)
    g_decay = np.concatenate([
        per_neuron(lambda p, r=r: np.exp(-dt / p.receptors[r]) if r < len(p.receptors) else 0.0)
        for r in range(max(net.n_receptors, 1))])
    table, plastic_records = synapse_tables(net)
    n_pre = layout.n_pre
    if layout.method == "event":
        propagator = conn.build_event(table, n_pre, layout.ring, layout.n_cols, layout.k,
                                      layout.row_len, dtype)
    elif layout.method == "dense":
        propagator = conn.build_dense(table, n_pre, layout.ring, layout.n_cols, dtype)
    elif layout.method == "native":
        propagator = conn.build_native(table, n_pre, layout.ring, layout.n_cols, layout.nnz,
                                       dtype)
    else:
        propagator = None
    plastic = None
    if layout.plastic_size:
        plastic = build_plastic(plastic_records, layout.plastic_size, layout.n_cols, layout.ring,
                                dt, dtype, blocks=layout.plastic_blocks,
                                native=native_plastic(layout))
    readout_decay = None
    if readout_tau is not None:
        readout_decay = jnp.asarray(np.asarray(np.exp(-dt / readout_tau), dtype=dtype))
    bounds = net.bounds()
    fused = None
    drive = drive_table(net, dtype)
    fusable_plastic = not layout.plastic_size or native_plastic(layout)
    if layout.method == "native" and fusable_plastic and drive_columns_distinct(drive):
        fused = fuse_cells(tuple(cells), bounds, v_reset, ref_steps, g_decay.astype(dtype))
    params = Network(
        cells=() if fused is not None else tuple(cells), v_reset=jnp.asarray(v_reset),
        ref_steps=jnp.asarray(ref_steps),
        g_decay=jnp.asarray(g_decay.astype(dtype)), propagator=propagator, plastic=plastic,
        readout_decay=readout_decay, fused=fused, drive=drive,
        n_neurons=layout.n_neurons, n_inputs=layout.n_inputs,
        n_cols=layout.n_cols, ring=layout.ring, dt=dt,
        population_bounds=bounds, threads=int(threads))
    return params, initial_state(net, params)


def initial_state(net: NetworkDef, params: Network) -> NetworkState:
    """The given initial state, t = 0, empty queues. ``aux`` holds each model's second
    state variable (zeros for LIF)."""
    dtype = np.dtype(net.dtype)
    v = np.concatenate([np.asarray(p.initial["v"], np.float64) for p in net.populations])
    aux = np.concatenate([
        np.asarray(p.initial[p.model.state_variables[1]], np.float64)
        if len(p.model.state_variables) > 1 else np.zeros(p.size)
        for p in net.populations])
    n = params.n_neurons
    g = np.zeros((max(net.n_receptors, 1), n))
    for pop in net.populations:  # receptors given initial values ("g0", "g1", ...)
        start = net.offsets[pop.name]
        for r in range(len(pop.receptors)):
            if f"g{r}" in pop.initial:
                g[r, start:start + pop.size] = np.asarray(pop.initial[f"g{r}"], np.float64)
    history = None
    if params.plastic is not None:
        history = jnp.zeros((params.ring, n + params.n_inputs), bool)
    return NetworkState(
        t=jnp.asarray(0, jnp.int32), v=jnp.asarray(v.astype(dtype)),
        g=jnp.asarray(g.reshape(-1).astype(dtype)),
        aux=jnp.asarray(aux.astype(dtype)),
        lastspike=jnp.full(n, NEVER, jnp.int32),
        buffer=jnp.zeros(params.ring * params.n_cols, dtype), history=history,
        plastic=None if params.plastic is None else params.plastic.init(),
        trace=None if params.readout_decay is None else jnp.zeros(n, dtype))


def _by_segment(cells: tuple[AbstractCells, ...], fn) -> tuple[Array, ...]:
    """Apply ``fn(cells, slice)`` per segment and concatenate each output."""
    outs = [fn(c, slice(c.start, c.stop)) for c in cells]
    if len(outs) == 1:
        return outs[0]
    return tuple(jnp.concatenate(parts) for parts in zip(*outs))


def step(net: Network, state: NetworkState, input_spikes: Array) -> tuple[NetworkState, Array]:
    """One time step; returns the new state and this step's spikes (bool ``(N,)``)."""
    if net.fused is not None:
        return _fused_step(net, state, input_spikes)
    t = state.t
    n = net.n_neurons
    refractory = (t - state.lastspike) < net.ref_steps
    rows = state.g.shape[0] // n
    g_rows = state.g if rows == 1 else state.g.reshape(rows, n)
    v_int, aux = _by_segment(
        net.cells, lambda c, s: c.integrate(state.v[s], g_rows[..., s], state.aux[s]))
    v = jnp.where(refractory, state.v, v_int)
    g = state.g * net.g_decay
    (crossed,) = _by_segment(net.cells, lambda c, s: (c.threshold(v[s], aux[s]),))
    spiked = crossed & ~refractory

    slot = t % net.ring
    current = lax.dynamic_slice(state.buffer, (slot * net.n_cols,), (net.n_cols,))
    buffer = lax.dynamic_update_slice(state.buffer, jnp.zeros_like(current), (slot * net.n_cols,))
    all_spikes = jnp.concatenate([spiked, input_spikes.astype(bool)])
    history, plastic = state.history, state.plastic
    if net.plastic is not None:
        plastic, current = net.plastic.step(plastic, history, spiked, t, current)
        history = lax.dynamic_update_index_in_dim(history, all_spikes, slot, 0)
    if net.drive is not None:
        current = current + net.drive.current(t, net.n_cols)
    v = jnp.where(refractory, v, v + current[:n])
    if net.n_cols > n:
        g = g + current[n:]
    if net.propagator is not None:
        buffer = net.propagator.propagate(buffer, all_spikes, t)

    v = jnp.where(spiked, net.v_reset, v)
    (aux,) = _by_segment(net.cells, lambda c, s: (c.on_spike(aux[s], spiked[s]),))
    lastspike = jnp.where(spiked, t, state.lastspike)
    return NetworkState(t=t + 1, v=v, g=g, aux=aux, lastspike=lastspike, buffer=buffer,
                        history=history, plastic=plastic,
                        trace=_trace(net, state.trace, spiked)), spiked


def _trace(net: Network, trace: Array | None, spiked: Array) -> Array | None:
    if net.readout_decay is None:
        return trace
    return trace * net.readout_decay + spiked.astype(trace.dtype)


def _native_operands(net: Network, state: NetworkState, input_spikes: Array) -> tuple:
    """The positional operands of :func:`spark.native.lif_step` / ``lif_chunk``."""
    rows = net.propagator
    if net.drive is None:
        drive = (jnp.zeros((0, 0), jnp.uint16), jnp.zeros(0, jnp.int32),
                 jnp.zeros(0, state.v.dtype))
    else:
        drive = (net.drive.counts, net.drive.cols, net.drive.weight)
    return (state.t, state.v, state.g, state.aux, state.lastspike, state.buffer,
            input_spikes.astype(bool), net.fused.float_params, net.fused.int_params,
            rows.row_ptr, rows.offsets, rows.weights, *drive)


def _fused_step(net: Network, state: NetworkState, input_spikes: Array,
                ) -> tuple[NetworkState, Array]:
    """The same step as :func:`step`, as one native call (state updated in place)."""
    if net.plastic is not None:  # a chunk of one step, which has the plastic phase
        state, counts, spikes = _plastic_chunk(net, state, input_spikes[None], record=True)
        return state, spikes[0]
    v, g, aux, lastspike, buffer, spiked = native.lif_step(
        *_native_operands(net, state, input_spikes), ring=net.ring, n_cols=net.n_cols)
    return state._replace(t=state.t + 1, v=v, g=g, aux=aux, lastspike=lastspike, buffer=buffer,
                          trace=_trace(net, state.trace, spiked)), spiked


def _finish(net: Network, state: NetworkState, counts: Array, modulator: Array,
            recorded: Array | None) -> tuple[NetworkState, ChunkOutput]:
    if net.plastic is not None:
        state = state._replace(plastic=net.plastic.apply_modulator(state.plastic, modulator))
    per_pop = jnp.stack([jnp.sum(counts[a:b]) for a, b in net.population_bounds])
    return state, ChunkOutput(counts=per_pop, trace=state.trace, spikes=recorded)


def run_chunk(net: Network, state: NetworkState, input_spikes: Array, modulator: Array,
              record: bool = False) -> tuple[NetworkState, ChunkOutput]:
    """``k = input_spikes.shape[0]`` steps with host-given input spikes ``(k, n_inputs)``,
    then the three-factor update with ``modulator``. The engine jits this with ``record``
    static and the state donated."""

    def body(carry, x):
        state, counts = carry
        state, spiked = step(net, state, x)
        return (state, counts + spiked.astype(jnp.int32)), (spiked if record else None)

    if net.fused is not None and net.plastic is not None:
        state, counts, spikes = _plastic_chunk(net, state, input_spikes, record, modulator)
        return state, ChunkOutput(counts=counts, trace=state.trace,
                                  spikes=spikes if record else None)
    if net.fused is not None and net.readout_decay is None:
        return _fused_chunk(net, state, input_spikes, record)
    zeros = jnp.zeros(net.n_neurons, jnp.int32)
    (state, counts), recorded = lax.scan(body, (state, zeros), input_spikes)
    return _finish(net, state, counts, modulator, recorded)


def _fused_chunk(net: Network, state: NetworkState, input_spikes: Array, record: bool,
                 ) -> tuple[NetworkState, ChunkOutput]:
    """The whole chunk as one native call (no plasticity, no trace: nothing else to do),
    which keeps the program a single operation (XLA:CPU hands independent operations to
    its thread pool, ~30 us per hand-off on 2 cores, more than a paper8 step)."""
    v, g, aux, lastspike, buffer, counts, spikes = native.lif_chunk(
        *_native_operands(net, state, input_spikes), ring=net.ring, n_cols=net.n_cols,
        record=record, threads=net.threads)
    state = state._replace(t=state.t + input_spikes.shape[0], v=v, g=g, aux=aux,
                           lastspike=lastspike, buffer=buffer)
    return state, ChunkOutput(counts=counts, trace=None, spikes=spikes if record else None)


def _plastic_chunk(net: Network, state: NetworkState, input_spikes: Array, record: bool,
                   modulator: Array | None = None) -> tuple[NetworkState, Array, Array]:
    """The steps of a chunk with a native plastic block table (and the readout trace, if
    any), ending with the three-factor update by ``modulator`` unless it is None, as one
    native call: the chunk program is then that call alone (XLA:CPU hands independent
    operations to its thread pool, tens of microseconds each on 2 cores). Returns the
    state, the spike counts per population and the recorded spikes."""
    dtype = state.v.dtype
    # No trace: an empty slice of v (batched like v, so its in-place alias stays valid).
    trace = state.v[:0] if state.trace is None else state.trace
    decay = jnp.zeros((), dtype) if net.readout_decay is None else net.readout_decay
    p = state.plastic
    (v, g, aux, lastspike, buffer, counts, spikes, weight, x_pre, x_post, elig, history,
     trace) = native.plastic_chunk(
        *_native_operands(net, state, input_spikes), p.weight, p.x_pre, p.x_post, p.elig,
        state.history, *net.plastic.block_tables(), trace, decay,
        jnp.zeros((), dtype) if modulator is None else jnp.asarray(modulator, dtype),
        ring=net.ring, n_cols=net.n_cols, record=record, modulate=modulator is not None,
        threads=net.threads)
    state = state._replace(
        t=state.t + input_spikes.shape[0], v=v, g=g, aux=aux, lastspike=lastspike,
        buffer=buffer, history=history,
        plastic=p._replace(weight=weight, x_pre=x_pre, x_post=x_post, elig=elig),
        trace=None if state.trace is None else trace)
    return state, counts, spikes


def run_chunk_poisson(net: Network, state: NetworkState, probability: Array, key: Array,
                      modulator: Array, k: int, record: bool = False,
                      ) -> tuple[NetworkState, ChunkOutput]:
    """``k`` steps with on-device Poisson input: input i spikes at step t when a uniform
    draw keyed by ``fold_in(key, t)`` is below ``probability[i]`` (= rate * dt), so the
    spikes depend on the global step, not on how the run is chunked."""

    def body(carry, _):
        state, counts = carry
        u = jax.random.uniform(jax.random.fold_in(key, state.t), (net.n_inputs,),
                               dtype=probability.dtype)
        state, spiked = step(net, state, u < probability)
        return (state, counts + spiked.astype(jnp.int32)), (spiked if record else None)

    zeros = jnp.zeros(net.n_neurons, jnp.int32)
    (state, counts), recorded = lax.scan(body, (state, zeros), None, length=k)
    return _finish(net, state, counts, modulator, recorded)
