"""``brian2-runtime`` (Cython) and ``brian2-numpy``: Brian2's runtime device, true closed loop.

Each chunk is one ``Network.run(k*dt)``; the chunk's input spikes are handed in before it
with ``SpikeGeneratorGroup.set_spikes`` at absolute times. What is measured is Brian2 as
shipped, per call: ``Network.run`` calls ``gc.collect()`` every time (tens of ms in a big
process), re-creates its code objects (Cython modules come from the cache after the first
build) and runs the steps. We do not patch that out (no monkey-patching of Brian2): the
label measures Brian2 as a user gets it. With ``gc.collect()`` removed the same call is
roughly 3x cheaper (see NOTES.md); a variant doing that would need its own label.

Cython cache: ``codegen.runtime.cython.cache_dir`` points into
``options.cache_dir/brian2/cython`` (``cold=True``: a fresh empty directory, and Brian2's
in-process module cache is emptied so the compile is really redone). ``codegen_compile``
is ``Network.run(0 ms)`` plus one step (together they generate and compile every code
object), after which the network is restored to its stored initial state. Object
construction (``construct``) also compiles: ``Synapses.connect`` and array assignments
run generated code.
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
    """Shared body of the two runtime targets (abstract: subclasses set the target)."""

    target: str = ""

    def __init__(self) -> None:
        self._model: BrianModel | None = None
        self._net = None

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

        def make_input(n, clock):
            return b2.SpikeGeneratorGroup(n, np.zeros(0, np.int32), np.zeros(0) * b2.ms,
                                          clock=clock, name="input")

        self._model = build_model(net, make_input, record=options.record_spikes)
        self._net = b2.Network(*self._model.objects(), name="spark_net")
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
        self._last_n = self._counts_now()

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        import brian2 as b2

        steps, idx = np.nonzero(chunk.spikes)
        self._model.input_group.set_spikes(
            idx.astype(np.int32), (steps + self._step).astype(np.float64) * self._dt_ms * b2.ms)
        apply_prefs(self._pref_values)
        self._net.run(chunk.k * self._dt_ms * b2.ms)
        apply_modulator(self._model, chunk.modulator, self._dtype)
        self._step += chunk.k
        now = self._counts_now()
        out = now - self._last_n
        self._last_n = now
        return out

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
    """Brian2 runtime device with the Cython target: ``Network.run(k*dt)`` per chunk."""

    name = "brian2-runtime"
    capabilities = CAPS
    target = "cython"


class Brian2NumpyBackend(_RuntimeBackend):
    """Brian2 runtime device with the numpy target (pure Python/numpy per step)."""

    name = "brian2-numpy"
    capabilities = CAPS
    target = "numpy"
