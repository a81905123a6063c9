"""Brian2's runtime device (Cython or numpy target), in closed loop two ways.

* ``brian2-runtime`` and ``brian2-numpy`` run a closed-loop pass the way Brian2's own
  documentation couples a network to the outside world: **one** ``Network.run`` for the whole
  pass, with a ``network_operation`` that hands each chunk's counts to the controller and
  takes its next input every k steps (Brian2 user guide, "Running a simulation" / "Arbitrary
  Python code (network operations)"). The input group is a ``NeuronGroup`` whose boolean
  ``fire`` the same operation sets every step from the chunk's input rows: the spec pins
  host-given input spikes per step, and ``SpikeGeneratorGroup.set_spikes`` may only be
  called between runs. That per-step Python call is the one thing our pinned semantics add
  to what a Brian2 user would write (see ``NOTES.md`` for its measured cost).
* ``brian2-runtime-run-per-chunk`` is the Spark paper's baseline: ``Network.run(k*dt)`` per
  chunk, with the chunk's input spikes handed in before it with
  ``SpikeGeneratorGroup.set_spikes`` at absolute times. Each call pays what ``Network.run``
  does every time: ``gc.collect()`` (tens of ms in a big process), re-created code objects
  (Cython modules come from the cache after the first build), then the steps. It is kept,
  labelled for what it measures, because published comparisons used it.

Both give the same spikes (a test, float64). ``run_chunk`` on any of them runs one chunk with
its own ``Network.run`` (the cartpole loop and the gate call it chunk by chunk).

Cython cache: ``codegen.runtime.cython.cache_dir`` points into
``options.cache_dir/brian2/cython`` (``cold=True``: a fresh empty directory, and Brian2's
in-process module cache is emptied so the compile is really redone). Brian2 names each
module by a hash of its code and locks it while compiling, so processes may share the
directory. ``codegen_compile`` is ``Network.run(0 ms)`` plus one step (together they
generate and compile every code object), after which the network is restored to its
stored initial state. Object construction (``construct``) also compiles:
``Synapses.connect`` and array assignments run generated code.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np

from ..base import (
    sorted_spikes,
    Backend,
    BackendOptions,
    BackendUnavailable,
    BuildReport,
    Capabilities,
    ChunkInput,
    Controller,
    check_supported,
)
from ..spec.materialise import MaterialisedNetwork
from .device_context import apply_prefs, base_prefs
from .translate import PLASTIC_FEATURES, BrianModel, apply_modulator, build_model, float_dtype

CAPS = Capabilities(closed_loop=True, open_loop=True, **PLASTIC_FEATURES)  # single-threaded


def import_brian2(name: str):
    try:
        import brian2
    except ImportError as err:
        raise BackendUnavailable(name, f"brian2 not importable ({err}); install with: "
                                       "pip install brian2") from None
    return brian2


class _RuntimeBackend(Backend):
    """Shared body of the runtime labels (abstract: subclasses set the target and whether
    a closed-loop pass is one ``run()`` with a network operation, ``one_run``)."""

    target: str = ""
    one_run: bool = True

    def __init__(self) -> None:
        self._model: BrianModel | None = None
        self._net = None
        self._chunk: ChunkInput | None = None  # the chunk whose rows the input is fed from
        self._row = 0  # the next row of ``_chunk`` to feed
        self._controller: Controller | None = None  # set during run_closed_loop only
        self._fire: np.ndarray | None = None  # one_run: a view of the input group's ``fire``

    def _prefs(self, net: MaterialisedNetwork, options: BackendOptions) -> dict:
        prefs = base_prefs(net.dtype)
        prefs["codegen.target"] = self.target
        return prefs

    def prepare(self, net: MaterialisedNetwork, options: BackendOptions) -> BuildReport:
        check_supported(type(self), net)
        b2 = import_brian2(self.name)
        from brian2.devices.device import get_device

        if get_device().__class__.__name__ != "RuntimeDevice":
            raise RuntimeError("Brian2's current device is not the runtime device")
        self.close()
        self._spec = net
        self._dt_ms = net.dt
        self._dtype = float_dtype(net)
        self._pref_values = self._prefs(net, options)
        notes = ""
        if self.target == "cython":
            cache = Path(options.cache_dir).resolve() / "brian2" / "cython"
            if options.cold:
                cache = cache.with_name(f"cython-cold-{uuid.uuid4().hex[:8]}")
                from brian2.codegen.runtime.cython_rt.extension_manager import (
                    cython_extension_manager,
                )

                cython_extension_manager._code_cache.clear()
            cache.mkdir(parents=True, exist_ok=True)
            self._pref_values["codegen.runtime.cython.cache_dir"] = str(cache)
            notes = f"cython cache {cache}"
        apply_prefs(self._pref_values)
        t0 = time.perf_counter()

        def generator_input(n, clock):
            return b2.SpikeGeneratorGroup(n, np.zeros(0, np.int32), np.zeros(0) * b2.ms,
                                          clock=clock, name="input")

        def fed_input(n, clock):
            return b2.NeuronGroup(n, "fire : boolean", threshold="fire", reset="",
                                  clock=clock, name="input")

        self._model = build_model(net, fed_input if self.one_run else generator_input,
                                  record=options.record_spikes)
        objects = self._model.objects()
        if self.one_run:
            self._fire = self._model.input_group.variables["fire"].get_value()  # a view
            # The input's row for each step first; the chunk boundary last, after every
            # monitor, so that a controller's None stops the run before another step.
            objects.append(b2.NetworkOperation(self._feed, clock=self._model.clock,
                                               when="start", name="host_input"))
            objects.append(b2.NetworkOperation(self._boundary, clock=self._model.clock,
                                               when="end", order=1000, name="host_boundary"))
        self._net = b2.Network(*objects, name="spark_net")
        t1 = time.perf_counter()
        self._net.store("initial")
        # Code generation and compilation: run(0) builds most code objects, one real step
        # the rest (e.g. the spike generator's); then back to the stored initial state.
        self._net.run(0 * b2.ms)
        self._net.run(net.dt * b2.ms)
        t2 = time.perf_counter()
        self._net.restore("initial")
        self._step = 0
        self._last_n = self._counts_now()
        return BuildReport(phases={"construct": t1 - t0, "codegen_compile": t2 - t1},
                           cache_hit=None, notes=notes)

    def _counts_now(self) -> np.ndarray:
        return np.array([int(m.variables["N"].get_value().item())
                         for m in self._model.count_monitors.values()], dtype=np.int64)

    def reset(self) -> None:
        apply_prefs(self._pref_values)
        self._net.restore("initial")
        self._step = 0
        self._chunk, self._row = None, 0
        self._last_n = self._counts_now()

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        import brian2 as b2

        if self.one_run:
            self._chunk, self._row = chunk, 0
        else:
            steps, idx = np.nonzero(chunk.spikes)
            self._model.input_group.set_spikes(
                idx.astype(np.int32),
                (steps + self._step).astype(np.float64) * self._dt_ms * b2.ms)
        apply_prefs(self._pref_values)
        self._net.run(chunk.k * self._dt_ms * b2.ms)
        return self._end_chunk(chunk)

    def _end_chunk(self, chunk: ChunkInput) -> np.ndarray:
        """After a chunk's k steps: its modulator applied, its readout counts."""
        apply_modulator(self._model, chunk.modulator, self._dtype)
        self._step += chunk.k
        now = self._counts_now()
        out = now - self._last_n
        self._last_n = now
        return out

    def run_closed_loop(self, controller: Controller, n_chunks: int) -> None:
        """One ``Network.run`` of ``n_chunks`` chunks; a network operation at the end of
        each chunk's last step hands its counts to the controller and takes the next chunk
        (None: the run stops there, no further step is simulated)."""
        if not self.one_run:
            return super().run_closed_loop(controller, n_chunks)
        import brian2 as b2

        first = controller(None)
        if first is None:
            return
        self._chunk, self._row, self._controller = first, 0, controller
        apply_prefs(self._pref_values)
        try:
            self._net.run(n_chunks * first.k * self._dt_ms * b2.ms)
            if self._chunk is not None:
                raise RuntimeError(f"{self.name}: the controller asked for more than the "
                                   f"{n_chunks} chunks the run was started for")
        finally:
            self._controller = None

    def _feed(self) -> None:
        """Every step, before anything else in it: the input's spikes for this step."""
        if self._chunk is None or self._row >= self._chunk.k:
            self._fire[:] = False  # prepare's test step
            return
        self._fire[:] = self._chunk.spikes[self._row]
        self._row += 1

    def _boundary(self) -> None:
        """Every step, after everything else in it: at the end of a chunk in
        :meth:`run_closed_loop`, the controller (the chunk's counts out, the next chunk in;
        None stops the run before the next step)."""
        if self._controller is None or self._chunk is None or self._row < self._chunk.k:
            return
        chunk = self._controller(self._end_chunk(self._chunk))
        if chunk is None:
            self._chunk = None
            self._net.stop()
            return
        if chunk.k != self._chunk.k:
            k, self._chunk = self._chunk.k, None
            raise ValueError(f"{self.name}: one run() takes chunks of one k; got "
                             f"{chunk.k} after {k}")
        self._chunk, self._row = chunk, 0

    def recorded_spikes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if not self._model.spike_monitors:
            raise NotImplementedError(f"{self.name}: built without record_spikes=True")
        out = {}
        for name, mon in self._model.spike_monitors.items():
            steps = np.asarray(mon.variables["t"].get_value()) / (self._dt_ms * 1e-3)
            steps = np.rint(steps).astype(np.int64)
            idx = np.asarray(mon.variables["i"].get_value())
            out[name] = sorted_spikes(steps, idx)
        return out

    def close(self) -> None:
        self._net = None
        self._model = None


class Brian2RuntimeBackend(_RuntimeBackend):
    """Brian2 runtime device, Cython target: one ``run()`` per pass, a network operation
    every k steps (Brian2's documented closed loop)."""

    name = "brian2-runtime"
    capabilities = CAPS
    target = "cython"


class Brian2NumpyBackend(_RuntimeBackend):
    """Brian2 runtime device, numpy target (pure Python/numpy per step), one ``run()``."""

    name = "brian2-numpy"
    capabilities = CAPS
    target = "numpy"


class Brian2RuntimeRunPerChunkBackend(_RuntimeBackend):
    """Brian2 runtime device, Cython target, ``Network.run(k*dt)`` per chunk: the Spark
    paper's baseline, kept under a name that says what it does."""

    name = "brian2-runtime-run-per-chunk"
    capabilities = CAPS
    target = "cython"
    one_run = False
