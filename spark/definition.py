"""A network as Spark runs it: populations, synapse lists and the input, in plain arrays.

This is the engine's own description, composed directly by a user
(:class:`spark.NetworkBuilder`) or translated from the benchmark's shared specification
(``adapters.spark``). Everything is already discrete: refractory periods in steps, delays
in steps (>= 1), connectivity and initial state as explicit arrays.

Global numbering: neurons are the populations concatenated in order; presynaptic rows
are the neurons followed by the ``n_inputs`` input neurons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .models import NeuronModel, PlasticityRule

DELTA = "delta"
"""A synapse's ``receptor``: ``"delta"`` (``v += w`` at delivery, dropped while
refractory), or the index ``r`` of one of the target's exponential receptors (``g_r += w``,
``g_r`` decaying exactly with ``receptors[r]``); ``"exponential"`` means receptor 0."""


def receptor_index(receptor: str | int) -> int | None:
    """None for ``"delta"``, else the index of the target's receptor (``"exponential"``
    is receptor 0)."""
    if receptor == DELTA:
        return None
    return 0 if receptor == "exponential" else int(receptor)


@dataclass(frozen=True, kw_only=True, eq=False)
class Population:
    """``size`` neurons of one model. ``initial`` holds an array of shape ``(size,)`` for
    every state variable of the model; ``refractory_steps`` is R (a neuron that spiked at
    step s first integrates again at s + R); ``receptors`` are the time constants (ms) of
    its exponential receptors, each a current ``g_r`` added to the membrane equation in
    this order (``initial`` may set them as ``"g0"``, ``"g1"``, ...; else they start at 0);
    ``reversals`` (empty: all current-based) gives, per receptor, the reversal
    potential (mV) of a conductance receptor (``g_r * (e_rev - v)``, LIF/ALIF only) or
    None for a current one."""

    name: str
    model: NeuronModel
    initial: Mapping[str, np.ndarray]
    refractory_steps: int = 0
    receptors: tuple[float, ...] = ()
    reversals: tuple[float | None, ...] = ()

    @property
    def size(self) -> int:
        return int(np.shape(self.initial["v"])[0])

    @property
    def conductance_based(self) -> bool:
        """Whether any receptor has a reversal potential (exponential-Euler update)."""
        return any(e is not None for e in self.reversals)


@dataclass(frozen=True, kw_only=True, eq=False)
class Synapses:
    """Explicit synapses from ``source`` (a population or the input) to ``target``:
    local indices ``pre``/``post``, weights in the target variable's units, delays in
    whole steps >= 1. ``plasticity``: None (static) or a rule of :mod:`spark.models`."""

    source: str
    target: str
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    delay_steps: np.ndarray
    receptor: str | int = DELTA
    plasticity: PlasticityRule | None = None

    @property
    def receptor_index(self) -> int | None:
        """None for a delta synapse, else the target receptor's index."""
        return receptor_index(self.receptor)


@dataclass(frozen=True, kw_only=True, eq=False)
class Drive:
    """Open-loop external input that may bring several spikes per step (a Poisson
    background): ``counts[t, i]`` spikes arrive at neuron i of ``target`` at step t, in the
    propagation phase, each adding ``weight`` to ``receptor`` (as for :class:`Synapses`;
    delta arrivals are dropped while refractory). Steps beyond ``counts.shape[0]`` get
    none."""

    target: str
    counts: np.ndarray  # (steps, target size), unsigned integers
    weight: float
    receptor: str | int = DELTA

    @property
    def receptor_index(self) -> int | None:
        return receptor_index(self.receptor)


@dataclass(frozen=True, kw_only=True, eq=False)
class NetworkDef:
    """A whole network: populations, input size, synapses, step ``dt`` (ms), precision.
    ``readouts`` names the populations whose counts a chunk returns (empty: all)."""

    name: str = "network"
    dt: float
    dtype: str = "float32"
    populations: tuple[Population, ...]
    n_inputs: int
    synapses: tuple[Synapses, ...] = ()
    drives: tuple[Drive, ...] = ()
    readouts: tuple[str, ...] = ()
    input_name: str = "input"
    offsets: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        offsets, start = {}, 0
        for pop in self.populations:
            offsets[pop.name] = start
            start += pop.size
        object.__setattr__(self, "offsets", offsets)
        self.check()

    def check(self) -> None:
        """Clear errors for what the engine cannot run (the spec layer checks more)."""
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', not {self.dtype!r}")
        names = [p.name for p in self.populations]
        if len(set(names)) != len(names) or self.input_name in names:
            raise ValueError(f"population names must be unique and differ from the input's: {names}")
        for pop in self.populations:
            missing = [v for v in pop.model.state_variables if v not in pop.initial]
            if missing:
                raise ValueError(f"population {pop.name!r}: no initial values for {missing}")
            if pop.refractory_steps < 0:
                raise ValueError(f"population {pop.name!r}: refractory_steps must be >= 0")
        for syn in self.synapses:
            where = f"synapses {syn.source}->{syn.target}"
            if syn.target not in self.offsets:
                raise ValueError(f"{where}: unknown target population {syn.target!r}")
            if syn.source not in self.offsets and syn.source != self.input_name:
                raise ValueError(f"{where}: unknown source {syn.source!r}")
            if not (syn.receptor in (DELTA, "exponential") or isinstance(syn.receptor, int)):
                raise ValueError(f"{where}: receptor must be 'delta', 'exponential' or an "
                                 f"index, not {syn.receptor!r}")
            index, taus = syn.receptor_index, self.population(syn.target).receptors
            if index is not None and not 0 <= index < len(taus):
                raise ValueError(f"{where}: receptor {index}, but population {syn.target!r} "
                                 f"has {len(taus)} receptor(s) {taus} (give it receptors=)")
            if np.size(syn.delay_steps) and int(np.min(syn.delay_steps)) < 1:
                raise ValueError(f"{where}: delays must be >= 1 step")
        for i, drive in enumerate(self.drives):
            where = f"drives[{i}] -> {drive.target}"
            if drive.target not in self.offsets:
                raise ValueError(f"{where}: unknown target population {drive.target!r}")
            pop = self.population(drive.target)
            shape = np.shape(drive.counts)
            if len(shape) != 2 or shape[1] != pop.size:
                raise ValueError(f"{where}: counts must be (steps, {pop.size}), got {shape}")
            if not np.issubdtype(np.asarray(drive.counts).dtype, np.unsignedinteger):
                raise ValueError(f"{where}: counts must be unsigned integers")
            index = drive.receptor_index
            if index is not None and not 0 <= index < len(pop.receptors):
                raise ValueError(f"{where}: receptor {index}, but the population has "
                                 f"{len(pop.receptors)} receptor(s)")
        for pop in self.populations:
            if pop.reversals and len(pop.reversals) != len(pop.receptors):
                raise ValueError(f"population {pop.name!r}: {len(pop.reversals)} reversals for "
                                 f"{len(pop.receptors)} receptors")

    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    @property
    def max_delay_steps(self) -> int:
        return max((int(np.max(s.delay_steps)) for s in self.synapses if np.size(s.pre)),
                   default=1)

    @property
    def n_receptors(self) -> int:
        """The most exponential receptors any population has (columns per neuron - 1)."""
        return max((len(p.receptors) for p in self.populations), default=0)

    @property
    def segments(self) -> tuple[tuple[int, ...], ...]:
        """Maximal runs of consecutive populations with the same model type and update
        (current- or conductance-based)."""
        def key(pop: Population) -> tuple[type, bool]:
            return type(pop.model), pop.conductance_based

        runs: list[list[int]] = []
        for i, pop in enumerate(self.populations):
            if runs and key(self.populations[runs[-1][0]]) == key(pop):
                runs[-1].append(i)
            else:
                runs.append([i])
        return tuple(tuple(r) for r in runs)

    def population(self, name: str) -> Population:
        for pop in self.populations:
            if pop.name == name:
                return pop
        raise KeyError(name)

    def bounds(self) -> tuple[tuple[int, int], ...]:
        """``[start, stop)`` of every population in the global numbering."""
        return tuple((self.offsets[p.name], self.offsets[p.name] + p.size)
                     for p in self.populations)

    def readout_indices(self) -> tuple[int, ...]:
        """Positions of the readout populations, in readout order."""
        names = [p.name for p in self.populations]
        return tuple(names.index(r) for r in (self.readouts or names))
