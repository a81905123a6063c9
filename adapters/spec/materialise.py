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
from dataclasses import dataclass

import numpy as np

from .model import (
    AllToAll,
    Constant,
    Distribution,
    Explicit,
    FixedInDegree,
    FixedProbability,
    Izhikevich,
    NetworkSpec,
    Normal,
    OneToOne,
    Population,
    Projection,
    Uniform,
)

_CONNECTIVITY, _WEIGHTS, _DELAYS, _INITIAL = 1, 2, 3, 4


@dataclass(frozen=True, eq=False)
class MaterialisedPopulation:
    """A population with its initial state. ``offset`` is its first index in the global
    neuron numbering (populations concatenated in declaration order, input excluded)."""

    spec: Population
    offset: int
    initial: dict[str, np.ndarray]  # state variable -> float64 array of shape (size,)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def size(self) -> int:
        return self.spec.size


@dataclass(frozen=True, eq=False)
class MaterialisedProjection:
    """Explicit synapses: ``pre``/``post`` are indices local to source/target population."""

    spec: Projection
    pre: np.ndarray  # int32
    post: np.ndarray  # int32
    weight: np.ndarray  # float64
    delay_steps: np.ndarray  # int32, >= 1

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def n_synapses(self) -> int:
        return int(self.pre.size)


@dataclass(frozen=True, eq=False)
class MaterialisedNetwork:
    """What every adapter builds from. ``instance_seed`` identifies the network instance."""

    spec: NetworkSpec
    instance_seed: int
    populations: tuple[MaterialisedPopulation, ...]
    projections: tuple[MaterialisedProjection, ...]

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
    def max_delay_steps(self) -> int:
        return max((int(p.delay_steps.max()) for p in self.projections if p.n_synapses), default=1)

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
        """SHA-256 over every array, to prove two materialisations are identical."""
        h = hashlib.sha256()
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
        from dataclasses import replace

        spec = replace(self.spec, simulation=replace(self.spec.simulation, dtype=dtype))
        return replace(self, spec=spec)


def _rng(instance_seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([instance_seed, stream, index])))


def draw(dist: Distribution, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` float64 draws from ``dist`` (a constant draws no random numbers)."""
    if isinstance(dist, Constant):
        return np.full(n, float(dist.value))
    if isinstance(dist, Uniform):
        return rng.uniform(dist.low, dist.high, size=n)
    if isinstance(dist, Normal):
        return rng.normal(dist.mean, dist.std, size=n)
    raise TypeError(f"unknown distribution {dist!r}")


def connect(proj: Projection, n_pre: int, n_post: int, same_population: bool,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(pre, post) int32 arrays sorted by (pre, post) for the projection's connector."""
    c = proj.connector
    no_self = same_population and not allows_self(c)
    if isinstance(c, FixedProbability):
        # Bernoulli draws row by row in blocks (memory stays bounded; the stream is the
        # same as one big draw because numpy fills arrays sequentially).
        rows_per_block = max(1, 4_000_000 // max(n_post, 1))
        pre_parts, post_parts = [], []
        for start in range(0, n_pre, rows_per_block):
            stop = min(n_pre, start + rows_per_block)
            hit = rng.random((stop - start, n_post)) < c.p
            if no_self:
                rows = np.arange(start, stop)
                hit[rows - start, rows] = False
            i, j = np.nonzero(hit)
            pre_parts.append((i + start).astype(np.int32))
            post_parts.append(j.astype(np.int32))
        pre = np.concatenate(pre_parts) if pre_parts else np.zeros(0, np.int32)
        post = np.concatenate(post_parts) if post_parts else np.zeros(0, np.int32)
    elif isinstance(c, FixedInDegree):
        pre_parts, post_parts = [], []
        for j in range(n_post):
            if no_self:
                candidates = np.delete(np.arange(n_pre), j)
            else:
                candidates = np.arange(n_pre)
            sources = np.sort(rng.choice(candidates, size=c.n, replace=False))
            pre_parts.append(sources.astype(np.int32))
            post_parts.append(np.full(c.n, j, dtype=np.int32))
        pre = np.concatenate(pre_parts) if pre_parts else np.zeros(0, np.int32)
        post = np.concatenate(post_parts) if post_parts else np.zeros(0, np.int32)
    elif isinstance(c, OneToOne):
        pre = np.arange(n_pre, dtype=np.int32)
        post = pre.copy()
    elif isinstance(c, AllToAll):
        pre, post = (a.ravel().astype(np.int32) for a in np.meshgrid(
            np.arange(n_pre), np.arange(n_post), indexing="ij"))
        if no_self:
            keep = pre != post
            pre, post = pre[keep], post[keep]
    elif isinstance(c, Explicit):
        pre = np.asarray(c.pre, dtype=np.int32)
        post = np.asarray(c.post, dtype=np.int32)
    else:
        raise TypeError(f"unknown connector {c!r}")
    order = np.lexsort((post, pre))
    return pre[order], post[order]


def allows_self(connector: object) -> bool:
    """Whether a connector permits i -> i inside one population (one-to-one and explicit
    lists say so by construction)."""
    if isinstance(connector, (FixedProbability, FixedInDegree, AllToAll)):
        return connector.allow_self
    return True


def initial_state(pop: Population, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Initial arrays for every state variable of the population's model."""
    model = pop.model
    state: dict[str, np.ndarray] = {}
    for var in model.state_variables:
        if var in pop.initial:
            state[var] = draw(pop.initial[var], pop.size, rng)
        elif var == "v":
            rest = model.c if isinstance(model, Izhikevich) else model.v_rest
            state[var] = np.full(pop.size, float(rest))
        elif var == "u" and isinstance(model, Izhikevich):
            state[var] = model.b * state["v"]
        else:
            state[var] = np.zeros(pop.size)
    return state


def materialise(spec: NetworkSpec, instance_seed: int | None = None) -> MaterialisedNetwork:
    """Draw connectivity, weights, delays and initial state for one network instance.

    ``instance_seed`` defaults to ``spec.simulation.seed``. The spec must be valid
    (see :func:`adapters.spec.validate.validate`)."""
    seed = spec.simulation.seed if instance_seed is None else int(instance_seed)
    dt = spec.simulation.dt
    pops = []
    offset = 0
    for index, pop in enumerate(spec.populations):
        pops.append(MaterialisedPopulation(spec=pop, offset=offset,
                                           initial=initial_state(pop, _rng(seed, _INITIAL, index))))
        offset += pop.size
    projs = []
    for index, proj in enumerate(spec.projections):
        n_pre = spec.size_of(proj.source)
        n_post = spec.size_of(proj.target)
        pre, post = connect(proj, n_pre, n_post, proj.source == proj.target,
                            _rng(seed, _CONNECTIVITY, index))
        weight = draw(proj.weight, pre.size, _rng(seed, _WEIGHTS, index))
        delay_ms = draw(proj.delay, pre.size, _rng(seed, _DELAYS, index))
        delay_steps = np.maximum(1, np.rint(delay_ms / dt)).astype(np.int32)
        projs.append(MaterialisedProjection(spec=proj, pre=pre, post=post, weight=weight,
                                            delay_steps=delay_steps))
    return MaterialisedNetwork(spec=spec, instance_seed=seed, populations=tuple(pops),
                               projections=tuple(projs))
