"""The fused native chunk driven straight from Python: no XLA program, no dispatch.

Why: in a closed loop at k = 1 the network is interrupted every step, and the cost of a
chunk is mostly what surrounds the kernel. On paper8 (float32, one core of the 2-core
EPYC) a jitted spark-native chunk spends ~10-15 us in the C++ step and ~25 us in XLA's
executable dispatch (argument signatures, buffer bookkeeping, seven result arrays): JAX's
fixed cost per call, which no change to the program removes (spark/native/NOTES.md,
"k = 1"). :class:`DirectSimulator` calls the same C++ chunk function
(``spark_lif_chunk_direct`` in kernels.cc: the loop of the ``spark_lif_chunk`` handler,
the same checks) through ctypes on state arrays it owns in host memory, so a chunk costs
the step plus ~1-2 us of Python. Results are bit-identical to :class:`Simulator` with
``method="native"`` (tested: spikes and every state array).

What it covers is what the fused kernel covers: current-based LIF, ALIF, AdEx and
Izhikevich populations with up to four exponential receptors, drives, plastic synapses in
complete all-to-all blocks (the cartpole agent's; ``spark_plastic_chunk``'s loop with the
end-of-chunk modulator), no readout trace, one instance, the CPU. Anything else is refused
with the reason (:class:`DirectUnavailable`); :class:`Simulator` runs it.
"""

from __future__ import annotations

import ctypes
import time
from pathlib import Path

import jax
import numpy as np

from . import native
from . import network as netmod
from .definition import NetworkDef
from .engine import ChunkResult, CompileRecord, Simulator, spike_events
from .network import NetworkState
from .neurons import ALIFCells, LIFCells
from .plasticity import PlasticState


class DirectUnavailable(ValueError):
    """This network (or this machine) cannot run on the direct path; the reason says why."""


_PLASTIC = ("weight", "x_pre", "x_post", "elig")
"""A plastic block table's state (with the spike ``history``, state too)."""


class _Chunk(ctypes.Structure):
    """``SparkDirectChunk`` of kernels.cc, field for field."""

    _fields_ = [("is_double", ctypes.c_int64), ("ring", ctypes.c_int64),
                ("n_cols", ctypes.c_int64), ("n_inputs", ctypes.c_int64),
                ("t", ctypes.c_void_p)] + [
        (f"{name}{suffix}", kind)
        for name in ("v", "g", "aux", "lastspike", "buffer", "fparams", "iparams", "row_ptr",
                     "offsets", "weights", "drive_counts", "drive_cols", "drive_weights",
                     "counts", *_PLASTIC, "history", "block_ints", "block_floats", "modulator")
        for suffix, kind in (("", ctypes.c_void_p), ("_size", ctypes.c_int64))]


_ERROR_SIZE = 512
_STATE = ("v", "g", "aux", "lastspike", "buffer")


def _entry() -> ctypes._CFuncPtr:
    """The C entry point, typed (the kernels built and loaded for the CPU)."""
    lib = native.cpu_library()  # NativeUnavailable when it cannot be built
    size = lib.spark_direct_chunk_size
    size.argtypes, size.restype = [], ctypes.c_int64
    if size() != ctypes.sizeof(_Chunk):
        raise native.NativeUnavailable(
            f"SparkDirectChunk is {size()} bytes in the kernel library but "
            f"{ctypes.sizeof(_Chunk)} in spark/direct.py: the binding and kernels.cc disagree")
    fn = lib.spark_lif_chunk_direct
    fn.argtypes = [ctypes.POINTER(_Chunk), ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                   ctypes.c_char_p, ctypes.c_int64]
    fn.restype = ctypes.c_int64
    return fn


def refusal(sim: Simulator) -> str | None:
    """Why ``sim``'s network cannot run on the direct path, or None."""
    params = sim.params
    if sim.layout.method != "native":
        return "the native kernels are not in use"
    if params.plastic is not None and not params.plastic.native:
        return ("plastic synapses outside complete all-to-all blocks (spark-native runs them, "
                "with the plastic update in XLA)")
    if params.readout_decay is not None:
        return "a readout trace is computed in XLA (no fused native step)"
    if params.fused is not None:
        return None
    covers = (f"the fused native step covers current-based {netmod.FUSED_MODELS} "
              f"populations with up to {native.MAX_RECEPTORS} receptors")
    if any(isinstance(c, (LIFCells, ALIFCells)) and c.conductance for c in params.cells):
        return f"{covers}; this network has conductance receptors"
    if not netmod.drive_columns_distinct(params.drive):
        return f"{covers} and drives on distinct columns; two drives here share a column"
    return f"{covers}; this network has {params.n_cols // params.n_neurons - 1} receptors"


class DirectSimulator:
    """One network instance on the fused native chunk, called directly (see the module).

    The interface of :class:`Simulator` that a closed loop needs: ``reset``,
    ``run_chunk``, ``recorded``, ``state``; ``compile`` has nothing to compile."""

    def __init__(self, net: NetworkDef, *, record_spikes: bool = False,
                 cache_dir: Path | str | None = None):
        try:
            self._fn = _entry()
        except native.NativeUnavailable as err:
            raise DirectUnavailable(str(err)) from None
        # The engine builds the layout, the parameter tables and the initial state on the
        # CPU (no program is compiled: nothing here calls one).
        with jax.default_device(jax.devices("cpu")[0]):
            self._sim = Simulator(net, method="native", record_spikes=record_spikes,
                                  cache_dir=cache_dir)
        why = refusal(self._sim)
        if why is not None:
            raise DirectUnavailable(f"{net.name}: no direct native path: {why}")
        self.net = net
        plastic = self._sim.params.plastic is not None
        self._state_names = _STATE + ((*_PLASTIC, "history") if plastic else ())
        self.record = self._sim.record
        self.layout = self._sim.layout
        self._readout = np.asarray(net.readout_indices(), dtype=np.int64)
        self._error = ctypes.create_string_buffer(_ERROR_SIZE)
        self._recorded: list[tuple[int, np.ndarray]] = []
        self._hold, self._chunk = self._bind(self._sim)
        self._inputs: dict[int, tuple[np.ndarray, int]] = {}  # k -> buffer, its address
        self.reset()

    def _bind(self, sim: Simulator) -> tuple[dict[str, np.ndarray], _Chunk]:
        """Host arrays for the state (owned, writable copies) and the parameters
        (read-only views of the engine's CPU arrays, which ``self._sim`` keeps alive: no
        second copy of the synapses), and the struct of their addresses; none of them
        moves afterwards."""
        p = sim.params
        dtype = np.dtype(sim.net.dtype)
        if p.drive is None:
            drive = (np.zeros((0, 0), np.uint16), np.zeros(0, np.int32), np.zeros(0, dtype))
        else:
            drive = (p.drive.counts, p.drive.cols, p.drive.weight)
        host = {
            "fparams": p.fused.float_params, "iparams": p.fused.int_params,
            "row_ptr": p.propagator.row_ptr, "offsets": p.propagator.offsets,
            "weights": p.propagator.weights, "drive_counts": drive[0],
            "drive_cols": drive[1], "drive_weights": drive[2],
        }
        initial = sim._initial._asdict()  # noqa: SLF001  (the engine's initial state, read once)
        if p.plastic is not None:
            host["block_ints"], host["block_floats"] = p.plastic.block_tables()
            initial.update(initial["plastic"]._asdict())
        hold = {name: np.ascontiguousarray(np.asarray(x)) for name, x in host.items()}
        hold["initial"] = {name: np.array(initial[name], copy=True) for name in self._state_names}
        for name in self._state_names:
            hold[name] = hold["initial"][name].copy()
        hold["t"] = np.zeros(1, np.int32)
        hold["counts"] = np.zeros(hold["iparams"].shape[0], np.int32)
        hold["modulator"] = np.zeros(1 if p.plastic is not None else 0, dtype)
        chunk = _Chunk(is_double=int(dtype == np.float64), ring=sim.params.ring,
                       n_cols=sim.params.n_cols, n_inputs=sim.layout.n_inputs,
                       t=hold["t"].ctypes.data)
        for name in (*self._state_names, *host, "counts", "modulator"):
            setattr(chunk, name, hold[name].ctypes.data)
            setattr(chunk, f"{name}_size", hold[name].size)
        return hold, chunk

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.net.dtype)

    @property
    def notes(self) -> str:
        return f"{self._sim.notes}; called directly (ctypes, no XLA dispatch)"

    def is_compiled(self, k: int) -> bool:
        return True

    def compile(self, k: int) -> CompileRecord:
        """Nothing to compile (the kernel library is built once per machine)."""
        start = time.perf_counter()
        self._input_buffer(k)
        return CompileRecord(seconds=time.perf_counter() - start, cache_hit=None)

    def reset(self) -> None:
        """Back to the initial state."""
        for name in self._state_names:
            np.copyto(self._hold[name], self._hold["initial"][name])
        self._hold["t"][0] = 0
        self._recorded = []

    @property
    def state(self) -> NetworkState:
        """The current state (copies, as numpy arrays)."""
        s = {name: self._hold[name].copy() for name in _STATE}
        plastic = history = None
        if "history" in self._state_names:
            history = self._hold["history"].copy()
            plastic = PlasticState(**{name: self._hold[name].copy() for name in _PLASTIC})
        return NetworkState(t=np.int32(self._hold["t"][0]), history=history, plastic=plastic,
                            trace=None, **s)

    def weights(self) -> np.ndarray | None:
        """Current plastic weights (flat, in plastic-table order), or None."""
        return self._hold["weight"].copy() if "weight" in self._state_names else None

    def _input_buffer(self, k: int) -> tuple[np.ndarray, int]:
        """A host buffer for k steps of input spikes and its address (made once per k:
        the input is copied in, ~0.3 us for paper8's 1,024 inputs, cheaper than asking
        numpy for the address of each new array)."""
        entry = self._inputs.get(k)
        if entry is None:
            buf = np.zeros((k, self.layout.n_inputs), dtype=bool)
            entry = self._inputs[k] = (buf, buf.ctypes.data)
        return entry

    def run_chunk(self, spikes: np.ndarray, modulator: float = 0.0) -> ChunkResult:
        """Run ``len(spikes)`` steps with the given input spikes ``(k, n_inputs)``; a
        plastic network's chunk ends with the three-factor update by ``modulator``."""
        spikes = np.asarray(spikes)
        if spikes.ndim != 2 or spikes.shape[1] != self.layout.n_inputs:
            raise ValueError(f"input spikes must have shape (k, {self.layout.n_inputs}), "
                             f"got {spikes.shape}")
        k = spikes.shape[0]
        inputs, address = self._input_buffer(k)
        np.copyto(inputs, spikes, casting="unsafe")  # to bool: nonzero is a spike
        if self._hold["modulator"].size:
            self._hold["modulator"][0] = modulator
        t0 = int(self._hold["t"][0]) if self.record else 0
        recorded = np.zeros((k, self.layout.n_neurons), bool) if self.record else None
        if self._fn(self._chunk, address, k,
                    None if recorded is None else recorded.ctypes.data,
                    self._error, _ERROR_SIZE):
            raise ValueError(self._error.value.decode())
        if recorded is not None:
            self._recorded.append((t0, recorded))
        counts = self._hold["counts"].astype(np.int64)
        return ChunkResult(counts, counts[self._readout], None, recorded)

    def recorded(self) -> tuple[np.ndarray, np.ndarray]:
        """Global ``(steps, neuron indices)`` of every spike since the last reset, sorted."""
        return spike_events(self._recorded)
