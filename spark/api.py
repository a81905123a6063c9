"""Composing a network directly, without the benchmark's spec files.

A :class:`NetworkBuilder` collects populations (Spark's own models), the input size and
explicit synapse lists, and gives a :class:`~spark.definition.NetworkDef` or a ready
:class:`~spark.engine.Simulator`. Connectivity is plain numpy, drawn however you like::

    rng = np.random.default_rng(0)
    b = NetworkBuilder("demo", dt=0.1, dtype="float32")
    b.population("exc", 100, LIF(i_offset=16.0), v0=rng.uniform(-65, -55, 100),
                 refractory_steps=20)
    b.inputs(50)
    pre, post = np.nonzero(rng.random((50, 100)) < 0.1)
    b.connect("input", "exc", pre, post, weight=2.0, delay_steps=10)
    sim = b.simulator()
    counts = sim.run_poisson(np.full(50, 20.0), jax.random.key(0), k=1000).counts
"""

from __future__ import annotations

import numpy as np

from .definition import NetworkDef, Population, Synapses
from .engine import Simulator
from .models import NeuronModel, PlasticityRule


class NetworkBuilder:
    """Collects populations, the input and synapses; builds a NetworkDef or a Simulator."""

    def __init__(self, name: str, *, dt: float = 0.1, dtype: str = "float32"):
        self.name, self.dt, self.dtype = name, dt, dtype
        self._pops: list[Population] = []
        self._synapses: list[Synapses] = []
        self._n_inputs = 1
        self._readouts: tuple[str, ...] = ()

    def population(self, name: str, size: int, model: NeuronModel, *,
                   v0: float | np.ndarray | None = None,
                   initial: dict[str, np.ndarray] | None = None, refractory_steps: int = 0,
                   receptors: tuple[float, ...] = ()) -> NetworkBuilder:
        """``size`` neurons. ``v0`` (default: the model's reset value) and ``initial``
        give initial state; a second state variable left out starts at 0 (Izhikevich's
        ``u`` at ``b * v``). ``receptors``: time constants (ms) of its exponential receptors
        (a synapse names one by index, or ``"exponential"`` for the first)."""
        state = {k: np.broadcast_to(np.asarray(v, np.float64), (size,)).copy()
                 for k, v in (initial or {}).items()}
        if "v" not in state:
            v = model.reset_value if v0 is None else v0
            state["v"] = np.broadcast_to(np.asarray(v, np.float64), (size,)).copy()
        for var in model.state_variables[1:]:
            if var not in state:
                state[var] = model.default_state(var, state["v"])
        self._pops.append(Population(name=name, model=model, initial=state,
                                     refractory_steps=refractory_steps, receptors=tuple(receptors)))
        return self

    def inputs(self, size: int) -> NetworkBuilder:
        """``size`` input neurons, whose spikes every chunk hands in (or Poisson draws)."""
        self._n_inputs = int(size)
        return self

    def readouts(self, *names: str) -> NetworkBuilder:
        """Populations whose spike counts ``ChunkResult.readout`` returns (default: all)."""
        self._readouts = tuple(names)
        return self

    def connect(self, source: str, target: str, pre: np.ndarray, post: np.ndarray, *,
                weight: float | np.ndarray, delay_steps: int | np.ndarray = 1,
                receptor: str | int = "delta", plasticity: PlasticityRule | None = None,
                ) -> NetworkBuilder:
        """Synapses ``pre[i] -> post[i]`` (local indices); scalars broadcast."""
        pre = np.asarray(pre, np.int64)
        n = pre.size
        self._synapses.append(Synapses(
            source=source, target=target, pre=pre, post=np.asarray(post, np.int64),
            weight=np.broadcast_to(np.asarray(weight, np.float64), (n,)).copy(),
            delay_steps=np.broadcast_to(np.asarray(delay_steps, np.int64), (n,)).copy(),
            receptor=receptor, plasticity=plasticity))
        return self

    def network(self) -> NetworkDef:
        return NetworkDef(name=self.name, dt=self.dt, dtype=self.dtype,
                          populations=tuple(self._pops), n_inputs=self._n_inputs,
                          synapses=tuple(self._synapses), readouts=self._readouts)

    def simulator(self, **options) -> Simulator:
        """A :class:`~spark.engine.Simulator`; ``options`` as its keyword arguments."""
        return Simulator(self.network(), **options)
