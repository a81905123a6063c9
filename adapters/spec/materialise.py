"""Turn a spec into explicit arrays, once, on the host, from a seed.

Every backend consumes a :class:`MaterialisedNetwork`; none draws random numbers of its
own, so two backends given the same materialised network simulate the same synapses,
weights, delays and initial state. Arrays are float64 here; a backend casts them to the
spec's dtype with ``numpy.ndarray.astype`` (round to nearest), the same on every backend.

Determinism: every random draw comes from ``numpy.random.Generator(PCG64)`` seeded with
``SeedSequence([instance_seed, stream, index])`` where ``stream`` names the purpose
(connectivity, weights, delays, initial state) and ``index`` the projection/population
position. Same spec and seed give bit-identical arrays on every call (with the pinned
numpy version). Synapses of a projection are sorted by (pre, post).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np

from .model import NetworkSpec, PoissonDrive, Population, Projection, SynapseModel

_CONNECTIVITY, _WEIGHTS, _DELAYS, _INITIAL = 1, 2, 3, 4


@dataclass(frozen=True, eq=False)
class MaterialisedPopulation:
    """A population with its initial state and the discrete facts every backend reads.

    ``offset`` is its first index in the global neuron numbering (populations concatenated
    in declaration order, input excluded); ``refractory_steps`` is ``t_ref`` in whole
    steps (validated to be one); ``receptor_taus`` the time constants of its receptors in
    receptor order (empty when no exponential or conductance synapse targets it) and
    ``receptor_reversals`` their reversal potentials (None for a current receptor)."""

    spec: Population
    offset: int
    initial: dict[str, np.ndarray]  # state variable -> float64 array of shape (size,)
    refractory_steps: int
    receptor_taus: tuple[float, ...]
    receptor_reversals: tuple[float | None, ...] = ()  # per receptor; None: current-based

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def conductance_based(self) -> bool:
        """Whether any receptor is conductance-based (the exponential-Euler update)."""
        return any(e is not None for e in self.receptor_reversals)

    @property
    def size(self) -> int:
        return self.spec.size

    @property
    def model(self):
        """The spec's neuron model (see :data:`adapters.spec.model.NeuronModel`)."""
        return self.spec.model

    @property
    def stop(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True, eq=False)
class MaterialisedProjection:
    """Explicit synapses: ``pre``/``post`` are indices local to source/target population;
    ``delay_steps`` are ``max(1, rint(delay / dt))``; ``from_input`` says whether the
    source is the input population; ``receptor_index`` which of the target's receptors an
    exponential projection feeds."""

    spec: Projection
    pre: np.ndarray  # int32
    post: np.ndarray  # int32
    weight: np.ndarray  # float64
    delay_steps: np.ndarray  # int32, >= 1
    from_input: bool
    receptor_index: int | None  # which receptor of the target (None: delta)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def n_synapses(self) -> int:
        return int(self.pre.size)

    @property
    def receptor(self) -> str:
        """``"delta"`` or ``"exponential"``: which target variable a delivery adds to."""
        return self.spec.synapse.kind


@dataclass(frozen=True, eq=False)
class MaterialisedDrive:
    """An external Poisson drive: ``receptor`` and ``receptor_index`` as for a projection;
    its counts come from :meth:`MaterialisedNetwork.drive_counts` (drawn from the input
    seed, so they are the same for every instance)."""

    spec: PoissonDrive
    receptor_index: int | None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def target(self) -> str:
        return self.spec.target

    @property
    def receptor(self) -> str:
        return self.spec.synapse.kind


@dataclass(frozen=True, eq=False)
class MaterialisedNetwork:
    """What every adapter builds from. ``instance_seed`` identifies the network instance."""

    spec: NetworkSpec
    instance_seed: int
    populations: tuple[MaterialisedPopulation, ...]
    projections: tuple[MaterialisedProjection, ...]
    drives: tuple[MaterialisedDrive, ...] = ()
    _drive_cache: dict = field(default_factory=dict, repr=False)  # (index, n_steps) -> counts

    @property
    def dt(self) -> float:
        return self.spec.simulation.dt

    @property
    def n_steps(self) -> int:
        return self.spec.simulation.n_steps

    @property
    def dtype(self) -> str:
        return self.spec.simulation.dtype

    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    @property
    def n_synapses(self) -> int:
        return sum(p.n_synapses for p in self.projections)

    @property
    def n_inputs(self) -> int:
        return self.spec.input.size

    @property
    def input_name(self) -> str:
        return self.spec.input.name

    @property
    def max_delay_steps(self) -> int:
        """The longest delay of any synapse, in steps (1 without synapses)."""
        return max((int(p.delay_steps.max()) for p in self.projections if p.n_synapses), default=1)

    @property
    def segments(self) -> tuple[tuple[int, ...], ...]:
        """Maximal runs of consecutive populations (their positions) with one model kind
        and update (current- or conductance-based): what an engine can update as one
        vectorised block."""
        def key(pop: MaterialisedPopulation) -> tuple[str, bool]:
            return pop.model.kind, pop.conductance_based

        runs: list[list[int]] = []
        for i, pop in enumerate(self.populations):
            if runs and key(self.populations[runs[-1][0]]) == key(pop):
                runs[-1].append(i)
            else:
                runs.append([i])
        return tuple(tuple(r) for r in runs)

    def drive_counts(self, index: int, n_steps: int | None = None) -> np.ndarray:
        """Drive ``index``'s delivered counts, ``(n_steps, target size)`` (row t: what
        arrives at step t; see :func:`adapters.spec.inputs.drive_counts`)."""
        from .inputs import drive_counts

        key = (index, self.n_steps if n_steps is None else int(n_steps))
        if key not in self._drive_cache:  # drawn once per instance, shared by backends
            self._drive_cache[key] = drive_counts(self.spec, *key)
        return self._drive_cache[key]

    def population(self, name: str) -> MaterialisedPopulation:
        for pop in self.populations:
            if pop.name == name:
                return pop
        raise KeyError(name)

    def readout_indices(self) -> tuple[int, ...]:
        """Positions in ``populations`` of the readout populations, in readout order."""
        names = [p.name for p in self.populations]
        return tuple(names.index(r) for r in self.spec.readout_names)

    def digest(self) -> str:
        """SHA-256 over the network's parameters and every array: equal digests mean the
        same network instance (what a cached build may be reused for). The run settings
        count only where they change the network (``dt``; the drives' number of steps)."""
        from .codec import to_dict

        h = hashlib.sha256()
        document = to_dict(replace(self.spec, description="",
                                   simulation=replace(self.spec.simulation, duration=self.dt,
                                                      timesteps=(1,), dtype="float64")))
        h.update(json.dumps(document, sort_keys=True).encode())
        if self.drives:
            h.update(f"drive steps {self.n_steps}".encode())
        for pop in self.populations:
            for key in sorted(pop.initial):
                h.update(key.encode())
                h.update(np.ascontiguousarray(pop.initial[key]).tobytes())
        for proj in self.projections:
            for arr in (proj.pre, proj.post, proj.weight, proj.delay_steps):
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def with_dtype(self, dtype: str) -> "MaterialisedNetwork":
        """The same instance with another precision (arrays shared, spec updated)."""
        return replace(self, spec=self.spec.overridden(dtype=dtype))


def _rng(instance_seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([instance_seed, stream, index])))


def initial_state(pop: Population, rng: np.random.Generator,
                  n_receptors: int = 0) -> dict[str, np.ndarray]:
    """Initial arrays for every state variable of the population's model, in the model's
    order (a variable the spec leaves out takes the model's default), then for each of
    its ``n_receptors`` receptors ``g0``, ``g1``, ... (0 unless the spec sets it)."""
    state: dict[str, np.ndarray] = {}
    for var in pop.model.state_variables:
        if var in pop.initial:
            state[var] = pop.initial[var].draw(pop.size, rng)
        else:
            state[var] = pop.model.default_initial(var, state, pop.size)
    for r in range(n_receptors):
        var = f"g{r}"
        state[var] = (pop.initial[var].draw(pop.size, rng) if var in pop.initial
                      else np.zeros(pop.size))
    return state


def receptors_of(spec: NetworkSpec) -> dict[str, tuple[SynapseModel, ...]]:
    """Target population -> its receptors (distinct non-delta synapse models), in order of
    first appearance among the projections, then the drives."""
    found: dict[str, list[SynapseModel]] = {}
    for part in (*spec.projections, *spec.drives):
        syn = part.synapse
        if syn.time_constant is not None and syn not in found.setdefault(part.target, []):
            found[part.target].append(syn)
    return {name: tuple(r) for name, r in found.items()}


def materialise(spec: NetworkSpec, instance_seed: int | None = None) -> MaterialisedNetwork:
    """Draw connectivity, weights, delays and initial state for one network instance.

    ``instance_seed`` defaults to ``spec.simulation.seed``. The spec must be valid
    (see :func:`adapters.spec.validate.validate`). A spec whose estimated memory exceeds
    what is available now is refused before anything is drawn
    (:func:`adapters.spec.estimate.check_fits`)."""
    from .estimate import check_fits

    check_fits(spec, f"network {spec.name!r}")
    seed = spec.simulation.seed if instance_seed is None else int(instance_seed)
    dt = spec.simulation.dt
    receptors = receptors_of(spec)
    pops = []
    offset = 0
    for index, pop in enumerate(spec.populations):
        pops.append(MaterialisedPopulation(
            spec=pop, offset=offset,
            initial=initial_state(pop, _rng(seed, _INITIAL, index),
                                  len(receptors.get(pop.name, ()))),
            refractory_steps=int(round(pop.model.t_ref / dt)),
            receptor_taus=tuple(r.time_constant for r in receptors.get(pop.name, ())),
            receptor_reversals=tuple(r.reversal for r in receptors.get(pop.name, ()))))
        offset += pop.size
    projs = []
    for index, proj in enumerate(spec.projections):
        pre, post = proj.connector.connect(spec.size_of(proj.source), spec.size_of(proj.target),
                                           proj.source == proj.target,
                                           _rng(seed, _CONNECTIVITY, index))
        weight = proj.weight.draw(pre.size, _rng(seed, _WEIGHTS, index))
        delay_ms = proj.delay.draw(pre.size, _rng(seed, _DELAYS, index))
        delay_steps = np.maximum(1, np.rint(delay_ms / dt)).astype(np.int32)
        projs.append(MaterialisedProjection(
            spec=proj, pre=pre, post=post, weight=weight, delay_steps=delay_steps,
            from_input=proj.source == spec.input.name,
            receptor_index=_receptor_index(receptors, proj.target, proj.synapse)))
    drives = tuple(MaterialisedDrive(spec=d, receptor_index=_receptor_index(receptors, d.target,
                                                                            d.synapse))
                   for d in spec.drives)
    return MaterialisedNetwork(spec=spec, instance_seed=seed, populations=tuple(pops),
                               projections=tuple(projs), drives=drives)


def _receptor_index(receptors: dict[str, tuple[SynapseModel, ...]], target: str,
                    synapse: SynapseModel) -> int | None:
    return None if synapse.time_constant is None else receptors[target].index(synapse)
