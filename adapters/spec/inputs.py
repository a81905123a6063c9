"""Host-side input spikes and the closed-loop controller, identical for every backend.

The uniform numbers that decide each input spike are fixed per (step, input neuron) by the
input seed, so the spikes depend only on the rates the controller chose, never on how the
run was cut into chunks or on which backend runs it. The controller is a pure function of
the previous chunk's readout counts (see :class:`~adapters.spec.model.PoissonInput`).

The formulas are written here with numpy; a closed-loop chunk runs them compiled
(:mod:`adapters.spec.inputs_native`, bit-identical, ~3x cheaper in the timed loop) where a
C++ compiler is available.
"""

from __future__ import annotations

import numpy as np

from . import inputs_native
from .model import NetworkSpec, PoissonInput


def channel_of_inputs(n_inputs: int, n_channels: int) -> np.ndarray:
    """Input neuron i listens to readout channel ``i % n_channels``."""
    return np.arange(n_inputs) % max(n_channels, 1)


def feedback_rates(signal: PoissonInput, counts_per_neuron: np.ndarray | None) -> np.ndarray:
    """Rate (Hz) per readout channel for the next chunk, from the last chunk's counts per
    neuron of each readout population (``None`` before the first chunk).

    Written with the bare ufuncs (``add.reduce`` / n is exactly what ``ndarray.mean``
    computes, ``minimum(maximum(..))`` exactly what ``clip`` does to numbers): the same
    values, a third of the time. At k = 1 this runs once per chunk, inside every backend's
    timed loop (measured on paper8: 22.9 us with ``mean``/``clip``, see the input tests)."""
    n_channels = 1 if counts_per_neuron is None else len(counts_per_neuron)
    if counts_per_neuron is None or signal.feedback_gain == 0.0:
        return np.full(n_channels, float(signal.rate))
    c = np.asarray(counts_per_neuron, dtype=np.float64)
    mean = np.add.reduce(c) / c.size
    rates = signal.rate * (1.0 + signal.feedback_gain * (c - mean) / (mean + 1.0))
    return np.minimum(np.maximum(rates, 0.0), signal.max_rate)


class InputStream:
    """Produces the input spikes of successive chunks of one run.

    ``next_chunk(k, last_counts)`` returns a bool array ``(k, n_inputs)`` for steps
    ``[position, position + k)`` and advances. ``last_counts`` are the previous chunk's
    readout spike counts (one integer per readout population); the stream turns them into
    per-neuron rates with the population sizes.
    """

    def __init__(self, spec: NetworkSpec, n_steps: int | None = None,
                 compiled: bool | None = None):
        """``compiled``: draw closed-loop chunks with the compiled stream (True: required,
        False: numpy, None: compiled where it builds). The spikes are the same either way;
        :attr:`method` says which one runs. A compiled chunk is a view of rows the stream
        owns, valid until the same steps are drawn again (after :meth:`reset`)."""
        sim = spec.simulation
        self.signal = spec.input
        self.n_steps = sim.n_steps if n_steps is None else int(n_steps)
        self.p_per_hz = sim.dt * 1e-3  # spike probability per Hz per step
        readouts = spec.readout_names
        self.readout_sizes = np.array([spec.size_of(r) for r in readouts], dtype=np.float64)
        self.channels = channel_of_inputs(spec.input.size, len(readouts))
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([sim.input_seed, 0])))
        # float64 uniforms, one per (step, input neuron): fixed by the input seed alone.
        self.uniforms = rng.random((self.n_steps, spec.input.size))
        self.position = 0
        self._compiled = self._compiled_chunks() if compiled is not False else None
        if compiled and self._compiled is None:
            raise OSError(f"compiled input stream unavailable: "
                          f"{inputs_native.unavailable_reason()}")

    def _compiled_chunks(self) -> inputs_native.CompiledChunks | None:
        if not inputs_native.available():
            return None
        s = self.signal
        return inputs_native.CompiledChunks(self.uniforms, self.readout_sizes, s.rate,
                                            s.feedback_gain, s.max_rate, self.p_per_hz)

    @property
    def method(self) -> str:
        """How closed-loop chunks are drawn: ``"compiled"`` or ``"numpy"``."""
        return "numpy" if self._compiled is None else "compiled"

    def reset(self) -> None:
        self.position = 0

    def rates(self, last_counts: np.ndarray | None) -> np.ndarray:
        """Per input neuron rate (Hz) for the next chunk."""
        return self._per_input(self._channel_rates(last_counts))

    def _channel_rates(self, last_counts: np.ndarray | None) -> np.ndarray:
        per_neuron = None if last_counts is None else np.asarray(last_counts) / self.readout_sizes
        return feedback_rates(self.signal, per_neuron)

    def _per_input(self, per_channel: np.ndarray) -> np.ndarray:
        if per_channel.size == 1:
            return np.full(self.signal.size, per_channel[0])
        return per_channel[self.channels]

    def next_chunk(self, k: int, last_counts: np.ndarray | None = None) -> np.ndarray:
        if self.position + k > self.n_steps:
            raise ValueError(f"chunk of {k} steps runs past the end ({self.position}/{self.n_steps})")
        if self._compiled is not None:
            start = self.position
            self.position = start + k
            return self._compiled.chunk(start, k, last_counts)
        u = self.uniforms[self.position:self.position + k]
        self.position += k
        # Spike probability per channel, then per input: the same products as
        # rates * p per input (elementwise), computed on a handful of channels.
        threshold = self._per_input(self._channel_rates(last_counts) * self.p_per_hz)
        return u < threshold[None, :]

    def open_loop(self) -> np.ndarray:
        """All steps with the chunk-0 rates (the uninterrupted, inputs-known-in-advance case)."""
        return self.uniforms < (self.rates(None) * self.p_per_hz)[None, :]


_DRIVE_STREAM = 1
"""SeedSequence stream of the drives (0 is the input population's uniforms)."""

DRIVE_BLOCK_STEPS = 1000
"""Drive counts are drawn this many steps at a time (bounded temporary memory)."""


def drive_counts(spec: NetworkSpec, index: int, n_steps: int) -> np.ndarray:
    """What drive ``index`` delivers: ``(n_steps, target size)`` counts, row t arriving at
    step t (see :class:`~adapters.spec.model.PoissonDrive`). Row 0 is zero; row t is the
    count emitted at step t - 1, ``Binomial(n_sources, rate * dt)`` per neuron, drawn
    step-major from ``SeedSequence([input_seed, 1, index])`` in blocks of whole steps (the
    stream equals one big draw: numpy fills arrays sequentially). The same for every
    instance, chunking and backend."""
    drive = spec.drives[index]
    size = spec.size_of(drive.target)
    rng = np.random.Generator(np.random.PCG64(
        np.random.SeedSequence([spec.simulation.input_seed, _DRIVE_STREAM, index])))
    p = drive.rate * spec.simulation.dt * 1e-3
    out = np.zeros((n_steps, size), dtype=drive.count_dtype)
    for start in range(1, n_steps, DRIVE_BLOCK_STEPS):
        stop = min(n_steps, start + DRIVE_BLOCK_STEPS)
        out[start:stop] = rng.binomial(drive.n_sources, p, size=(stop - start, size))
    return out


def spikes_to_events(spikes: np.ndarray, step_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, indices)`` int arrays of a bool ``(k, n)`` spike array, sorted by step then
    index (the order a SpikeGeneratorGroup or a pipe wants)."""
    steps, idx = np.nonzero(spikes)
    return steps.astype(np.int64) + step_offset, idx.astype(np.int64)
