"""A small Python API for users who build networks directly, without a spec file.

It only assembles the shared spec types (so a network built here is exactly what a spec
file would describe) and materialises it from a seed::

    b = NetworkBuilder("demo", dt=0.1, dtype="float64")
    b.population("exc", 100, LIF(i_offset=16.0))
    b.inputs(50, rate=20.0)
    b.connect("input", "exc", FixedProbability(p=0.1), weight=Constant(value=2.0))
    sim = b.simulator(seed=3)
    counts = sim.run_poisson(np.full(50, 20.0), jax.random.key(0), k=1000).counts
"""

from __future__ import annotations

from adapters.spec.materialise import MaterialisedNetwork, materialise
from adapters.spec.model import (
    Connector,
    Constant,
    Delta,
    Distribution,
    NetworkSpec,
    NeuronModel,
    Plasticity,
    PoissonInput,
    Population,
    Projection,
    Simulation,
    SynapseModel,
)

from .engine import Simulator


class NetworkBuilder:
    """Collects populations, one input and projections; builds a spec or a simulator."""

    def __init__(self, name: str, *, dt: float = 0.1, duration: float = 1000.0,
                 dtype: str = "float32"):
        self.name = name
        self.dt, self.duration, self.dtype = dt, duration, dtype
        self._pops: list[Population] = []
        self._input = PoissonInput(name="input", size=1, rate=0.0)
        self._projs: list[Projection] = []

    def population(self, name: str, size: int, model: NeuronModel,
                   initial: dict[str, Distribution] | None = None) -> "NetworkBuilder":
        self._pops.append(Population(name=name, size=size, model=model, initial=initial or {}))
        return self

    def inputs(self, size: int, rate: float = 0.0, name: str = "input") -> "NetworkBuilder":
        self._input = PoissonInput(name=name, size=size, rate=rate)
        return self

    def connect(self, source: str, target: str, connector: Connector, *, weight: Distribution,
                delay: Distribution | None = None, synapse: SynapseModel | None = None,
                plasticity: Plasticity | None = None, name: str | None = None) -> "NetworkBuilder":
        self._projs.append(Projection(
            name=name or f"{source}_to_{target}_{len(self._projs)}", source=source, target=target,
            connector=connector, weight=weight, delay=delay or Constant(value=self.dt),
            synapse=synapse or Delta(), plasticity=plasticity))
        return self

    def spec(self) -> NetworkSpec:
        return NetworkSpec(name=self.name, populations=tuple(self._pops), input=self._input,
                           projections=tuple(self._projs),
                           simulation=Simulation(dt=self.dt, duration=self.duration,
                                                 dtype=self.dtype, timesteps=(1,)))

    def materialise(self, seed: int = 1) -> MaterialisedNetwork:
        return materialise(self.spec(), seed)

    def simulator(self, seed: int = 1, **options) -> Simulator:
        """A :class:`~spark.engine.Simulator`; ``options`` as its keyword arguments."""
        return Simulator(self.materialise(seed), **options)
