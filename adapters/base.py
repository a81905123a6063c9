"""One interface for every simulator backend (think Brian2's ``Device``, without globals).

A backend is an explicit object: it declares what it can do (:class:`Capabilities`), is
built once from a materialised network (:meth:`Backend.prepare`, phases timed), then runs
chunks of k steps with host-given input spikes and returns the chunk's readout counts
*on the host* — so a wall clock stopped after :meth:`Backend.run_chunk` returns has
covered all device work (JAX results are synchronised inside).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from .spec.materialise import MaterialisedNetwork
from .spec.model import NetworkSpec


class BackendUnavailable(RuntimeError):
    """The backend cannot run here (not installed, no GPU, no compiler). The harness
    records the cell as ``skipped: <reason>``."""

    def __init__(self, backend: str, reason: str):
        super().__init__(f"{backend}: {reason}")
        self.backend = backend
        self.reason = reason


class BackendFailed(RuntimeError):
    """The backend tried and failed (compiler error, crash). ``log_path`` keeps the output."""

    def __init__(self, backend: str, reason: str, log_path: Path | None = None):
        where = f" (log: {log_path})" if log_path else ""
        super().__init__(f"{backend}: {reason}{where}")
        self.backend = backend
        self.reason = reason
        self.log_path = log_path


class UnsupportedSpec(ValueError):
    """The spec uses a feature this backend cannot express identically."""


ALL_DTYPES = frozenset({"float32", "float64"})


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a backend supports. The kind sets are the keys of the backend's translation
    tables; the sweep refuses unsupported cells from these, before any worker starts
    (:meth:`refusal`)."""

    closed_loop: bool  # run_chunk carries state between chunks with new inputs
    open_loop: bool  # run_uninterrupted: whole run, inputs known in advance
    dtypes: frozenset[str] = ALL_DTYPES
    neuron_models: frozenset[str]
    synapses: frozenset[str]
    plasticity: frozenset[str] = frozenset()
    drives: bool = False  # external Poisson drives (PoissonDrive), counts from the host
    receptor_initial: bool = False  # receptors may start at the spec's values (g0, g1, ...)
    needs_gpu: bool = False  # runs only where a CUDA GPU is present
    threads: bool = False  # honours BackendOptions.threads > 1 (else it runs on one)
    why_not: dict[str, str] = field(default_factory=dict)  # kind -> why it is missing

    def refusal(self, spec: NetworkSpec, threads: int = 1, gpu: bool | None = None) -> str | None:
        """Why this backend cannot run ``spec`` (at ``threads``, with or without a GPU;
        ``gpu=None``: not checked), or None when it can."""
        dtype = spec.simulation.dtype
        if dtype not in self.dtypes:
            return f"computes in {', '.join(sorted(self.dtypes))} only; the spec asks for {dtype}"
        for pop in spec.populations:
            if pop.model.kind not in self.neuron_models:
                return self._missing("neuron model", pop.model.kind, f"population {pop.name!r}")
        for proj in spec.projections:
            where = f"projection {proj.name!r}"
            if proj.synapse.kind not in self.synapses:
                return self._missing("synapse", proj.synapse.kind, where)
            if proj.plasticity is not None and proj.plasticity.kind not in self.plasticity:
                return self._missing("plasticity", proj.plasticity.kind, where)
        if not self.receptor_initial:
            for pop in spec.populations:
                given = sorted(v for v in pop.initial if v not in pop.model.state_variables)
                if given:
                    why = self.why_not.get("receptor_initial")
                    return (f"no initial receptor values (population {pop.name!r}: "
                            f"{', '.join(given)})" + (f": {why}" if why else ""))
        for drive in spec.drives:
            where = f"drive {drive.name!r}"
            if not self.drives:
                why = self.why_not.get("drives")
                return f"no external Poisson drives ({where})" + (f": {why}" if why else "")
            if drive.synapse.kind not in self.synapses:
                return self._missing("synapse", drive.synapse.kind, where)
        if threads > 1 and not self.threads:
            return f"runs on one thread only; {threads} were asked for"
        if gpu is False and self.needs_gpu:
            return "needs a CUDA GPU; none was found on this machine"
        return None

    def _missing(self, what: str, kind: str, where: str) -> str:
        why = self.why_not.get(kind)
        return f"no {what} {kind!r} ({where})" + (f": {why}" if why else "")


@dataclass(frozen=True, kw_only=True)
class BackendOptions:
    """How to build: threads (OpenMP/XLA intra-op), spike recording (off for timing),
    cache root for build directories/compilation caches, and ``cold`` to force an empty
    cache (a fresh build directory) for cold-compile measurements."""

    threads: int = 1
    record_spikes: bool = False
    cache_dir: Path = Path(".cache/spark-bench")
    cold: bool = False


@dataclass(kw_only=True)
class BuildReport:
    """Phase timings of :meth:`Backend.prepare`, in seconds, keyed by phase name
    (``codegen_compile``, ``construct``, ...), plus whether a compile cache was hit."""

    phases: dict[str, float] = field(default_factory=dict)
    cache_hit: bool | None = None
    notes: str = ""
    log_path: Path | None = None


@dataclass(frozen=True, kw_only=True)
class ChunkInput:
    """What the host hands in for one chunk: input spikes ``(k, n_inputs)`` bool, and the
    reward/modulator for three-factor plasticity (ignored by networks without it)."""

    spikes: np.ndarray
    modulator: float = 0.0

    @property
    def k(self) -> int:
        return int(self.spikes.shape[0])


Controller = Callable[["np.ndarray | None"], "ChunkInput | None"]
"""The host side of a closed loop: called with None for the first chunk's input, then with
each chunk's readout counts (int64, on the host) for the next input; None ends the loop."""


class Backend(abc.ABC):
    """Abstract backend. Subclasses are final and set ``name`` and ``capabilities``."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    comparison: ClassVar[str] = "exact"
    """The comparison class: ``"exact"`` runs the spec's pinned semantics on the shared input
    and drive spikes (spike-identical in float64); ``"native"`` runs the model as the
    simulator's users write it (its own models, integrators and generators; statistical
    fidelity). A time of one class is never divided by one of the other unsaid."""
    device: ClassVar[str] = "cpu"
    """Where the backend computes: ``"cpu"`` or ``"gpu"``. Result rows record it (with the
    GPU model, driver and CUDA version for ``"gpu"``), and the report labels every line by it."""

    @abc.abstractmethod
    def prepare(self, net: MaterialisedNetwork, options: BackendOptions) -> BuildReport:
        """Generate/compile/construct everything for ``net``; raise BackendUnavailable,
        BackendFailed or UnsupportedSpec with a reason."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Return to the materialised initial state (t = 0, empty delay queues, no
        recorded spikes)."""

    @abc.abstractmethod
    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        """Run ``chunk.k`` steps continuing from the current state; return the chunk's spike
        count per readout population (int64, readout order), already on the host."""

    def run_closed_loop(self, controller: Controller, n_chunks: int) -> None:
        """Up to ``n_chunks`` chunks in closed loop with ``controller`` (see
        :data:`Controller`), continuing from the current state. Default: one
        :meth:`run_chunk` per chunk. A simulator whose users hand it the loop (Brian2's
        runtime: one ``run()`` with a network operation) overrides this, so the protocol
        times every backend as its users drive it."""
        chunk = controller(None)
        while chunk is not None:
            chunk = controller(self.run_chunk(chunk))

    def run_uninterrupted(self, spikes: np.ndarray) -> np.ndarray:
        """Run all of ``spikes`` (``(n_steps, n_inputs)``) in one go from the current state
        (open loop); return total counts per readout. Default: one big chunk."""
        return self.run_chunk(ChunkInput(spikes=spikes))

    def simulator_loop_seconds(self) -> float | None:
        """The simulator's own timer of the last :meth:`run_uninterrupted` (e.g. Brian2's
        run timer in a standalone binary), recorded beside the harness's wall clock; None
        where the simulator has none (default). Why: a launch-per-run backend's wall time
        includes process start and loading, which its own timer excludes."""
        return None

    def recorded_spikes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{population: (steps, indices)}`` since the last reset, sorted by (step, index).
        Only when built with ``record_spikes=True``."""
        raise NotImplementedError(f"{self.name} does not record spikes")

    def close(self) -> None:
        """Release processes, files and device memory. Safe to call twice."""


def sorted_spikes(steps: list[np.ndarray] | np.ndarray,
                  indices: list[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One population's recorded spikes as int64 ``(steps, indices)`` sorted by (step, index),
    from arrays or from lists of per-chunk arrays (the form ``recorded_spikes`` returns)."""
    if isinstance(steps, list):
        steps = np.concatenate(steps) if steps else np.zeros(0, np.int64)
        indices = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    s, i = np.asarray(steps), np.asarray(indices)
    if s.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    s, i = s.astype(np.int64), i.astype(np.int64)
    order = np.lexsort((i, s))
    return s[order], i[order]


def check_supported(backend: type[Backend], net: MaterialisedNetwork) -> None:
    """Raise :class:`UnsupportedSpec` naming the first feature ``backend`` lacks."""
    reason = backend.capabilities.refusal(net.spec)
    if reason is not None:
        raise UnsupportedSpec(f"{backend.name}: {reason}")
