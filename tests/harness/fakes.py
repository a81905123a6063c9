"""A deterministic in-process backend for protocol tests (no simulator needed)."""

from __future__ import annotations

import numpy as np

from adapters import registry
from adapters.base import Backend, BackendOptions, BuildReport, Capabilities, ChunkInput
from adapters.spec import MaterialisedNetwork
from adapters.spec.model import NEURON_MODELS, SYNAPSES

EVERY_KIND = dict(neuron_models=frozenset(NEURON_MODELS), synapses=frozenset(SYNAPSES))


def register(monkeypatch, name: str, cls: type[Backend], load=None) -> None:
    """Put a fake backend into the one registry for the duration of a test (its declared
    capabilities are the class's; ``load`` replaces the loader, e.g. to fail an import)."""
    monkeypatch.setitem(registry.BACKENDS, name, registry.BackendEntry(
        name=name, capabilities=cls.capabilities, load=load or (lambda: cls), summary="fake"))


class CountingBackend(Backend):
    """Each readout population 'spikes' once per input spike of its channel: enough state
    (a step counter) to check resets, and outputs that depend on the inputs."""

    name = "fake"
    capabilities = Capabilities(closed_loop=True, open_loop=True, **EVERY_KIND)
    events: list[str] = []  # shared log, for ordering checks

    def prepare(self, net: MaterialisedNetwork, options: BackendOptions) -> BuildReport:
        self.n_readouts = len(net.spec.readout_names)
        self.step = 0
        self.record = options.record_spikes
        self.recorded: list[tuple[int, int]] = []
        return BuildReport(phases={"codegen_compile": 0.5 if options.cold else 0.1,
                                   "construct": 0.01}, cache_hit=not options.cold)

    def reset(self) -> None:
        self.step = 0
        self.recorded = []

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        counts = np.zeros(self.n_readouts, dtype=np.int64)
        for t, i in zip(*np.nonzero(chunk.spikes)):
            counts[i % self.n_readouts] += 1
            if self.record:
                self.recorded.append((self.step + int(t), int(i)))
        self.step += chunk.k
        return counts

    def recorded_spikes(self):
        arr = np.array(sorted(self.recorded), dtype=np.int64).reshape(-1, 2)
        return {"a": (arr[:, 0], arr[:, 1] % 40)}


class OpenLoopOnly(CountingBackend):
    name = "fake-open"
    capabilities = Capabilities(closed_loop=False, open_loop=True, **EVERY_KIND)
