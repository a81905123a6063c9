"""Small hand-made networks for the spark tests, written as shared specs (so the tests
exercise the same spec -> IR -> Spark path as the benchmark) with a builder shaped like
Spark's own, and the helpers to step them."""

from __future__ import annotations

import jax
import numpy as np

from adapters.spark.translate import to_spark
from adapters.spec.materialise import MaterialisedNetwork, materialise
from adapters.spec.validate import validate
from adapters.spec.model import (
    ALIF, LIF, AdEx, Connector, Constant, Delta, Distribution, Explicit, Exponential,
    FixedProbability, Izhikevich, NetworkSpec, NeuronModel, Normal, Plasticity, PoissonInput,
    Population, Projection, Simulation, SynapseModel, Uniform,
)
from spark.engine import precision
from spark.network import NetworkState, build, step

DT = 0.1


class NetworkBuilder:
    """Collects spec populations, one input and projections; materialises an instance.
    A missing delay is the spec's own default (:class:`~adapters.spec.model.Projection`)."""

    def __init__(self, name: str, *, dt: float = DT, duration: float = 1000.0,
                 dtype: str = "float32"):
        self.name, self.dt, self.duration, self.dtype = name, dt, duration, dtype
        self._pops: list[Population] = []
        self._input = PoissonInput(name="input", size=1, rate=0.0)
        self._projs: list[Projection] = []

    def population(self, name: str, size: int, model: NeuronModel,
                   initial: dict[str, Distribution] | None = None) -> NetworkBuilder:
        self._pops.append(Population(name=name, size=size, model=model, initial=initial or {}))
        return self

    def inputs(self, size: int, rate: float = 0.0, name: str = "input") -> NetworkBuilder:
        self._input = PoissonInput(name=name, size=size, rate=rate)
        return self

    def connect(self, source: str, target: str, connector: Connector, *, weight: Distribution,
                delay: Distribution | None = None, synapse: SynapseModel | None = None,
                plasticity: Plasticity | None = None) -> NetworkBuilder:
        extra = {} if delay is None else {"delay": delay}
        self._projs.append(Projection(
            name=f"{source}_to_{target}_{len(self._projs)}", source=source, target=target,
            connector=connector, weight=weight, synapse=synapse or Delta(),
            plasticity=plasticity, **extra))
        return self

    def spec(self) -> NetworkSpec:
        return NetworkSpec(name=self.name, populations=tuple(self._pops), input=self._input,
                           projections=tuple(self._projs),
                           simulation=Simulation(dt=self.dt, duration=self.duration,
                                                 dtype=self.dtype, timesteps=(1,)))

    def materialise(self, seed: int = 1) -> MaterialisedNetwork:
        return materialise(validate(self.spec(), source=f"test network {self.name!r}"), seed)


def single_lif(model: LIF, v0: float, dtype: str = "float64", **connect) -> NetworkBuilder:
    b = NetworkBuilder("single", dt=DT, dtype=dtype)
    b.population("n", 1, model, initial={"v": Constant(value=v0)})
    b.inputs(2)
    return b


def stepper(net: MaterialisedNetwork):
    """A jitted single step and the initial state of a materialised network, each call
    under the network's precision (64-bit JAX for float64, scoped as in the Simulator)."""
    spark_net = to_spark(net)
    with precision(spark_net.dtype):
        params, state = build(spark_net)
    jitted = jax.jit(step)

    def fn(params, state, x):
        with precision(spark_net.dtype):
            return jitted(params, state, x)

    return params, state, fn


def run_steps(params, state: NetworkState, fn, inputs: np.ndarray):
    """Step through ``inputs`` (n_steps, n_inputs); return per-step v, aux, g, spikes."""
    vs, auxs, gs, spikes = [], [], [], []
    for x in inputs:
        state, s = fn(params, state, np.asarray(x, bool))
        vs.append(np.asarray(state.v)), auxs.append(np.asarray(state.aux))
        gs.append(np.asarray(state.g)), spikes.append(np.asarray(s))
    return state, np.array(vs), np.array(auxs), np.array(gs), np.array(spikes)


def random_network(dtype: str = "float64", seed_sizes=(30, 25, 20), n_inputs: int = 15,
                   rate: float = 150.0) -> NetworkBuilder:
    """Three populations (LIF delta, LIF with exponential input, ALIF), random recurrent
    projections with per-synapse delays of 1-6 steps, strong Poisson drive."""
    b = NetworkBuilder("random", dt=DT, duration=60.0, dtype=dtype)
    init = {"v": Uniform(low=-65.0, high=-52.0)}
    b.population("a", seed_sizes[0], LIF(i_offset=12.0, t_ref=0.3), initial=init)
    b.population("b", seed_sizes[1], LIF(i_offset=10.0, t_ref=0.2), initial=init)
    b.population("c", seed_sizes[2], ALIF(i_offset=14.0, t_ref=0.5, beta=2.0, tau_adapt=30.0),
                 initial=init)
    b.inputs(n_inputs, rate=rate)
    delays = Uniform(low=0.1, high=0.6)
    b.connect("input", "a", FixedProbability(p=0.5), weight=Normal(mean=3.0, std=0.5), delay=delays)
    b.connect("input", "b", FixedProbability(p=0.5), weight=Normal(mean=2.0, std=0.5),
              delay=Constant(value=0.1), synapse=Exponential(tau_syn=3.0))
    b.connect("input", "c", FixedProbability(p=0.5), weight=Normal(mean=3.0, std=0.5), delay=delays)
    b.connect("a", "a", FixedProbability(p=0.2), weight=Normal(mean=0.8, std=0.3), delay=delays)
    b.connect("a", "b", FixedProbability(p=0.3), weight=Normal(mean=1.5, std=0.3), delay=delays,
              synapse=Exponential(tau_syn=3.0))
    b.connect("b", "c", FixedProbability(p=0.3), weight=Normal(mean=1.0, std=0.3), delay=delays)
    b.connect("c", "a", FixedProbability(p=0.3), weight=Normal(mean=-1.5, std=0.3), delay=delays)
    b.connect("b", "b", FixedProbability(p=0.2), weight=Normal(mean=-0.5, std=0.3), delay=delays)
    return b


MODELS = {
    "lif": LIF(i_offset=18.0),
    "alif": ALIF(i_offset=18.0, beta=3.0),
    "adex": AdEx(i_offset=25.0, t_ref=0.5),
    "izhikevich": Izhikevich(i_offset=10.0),
}
__all__ = ["ALIF", "AdEx", "Constant", "Explicit", "Exponential", "FixedProbability",
           "Izhikevich", "LIF", "MODELS", "Normal", "Uniform", "to_spark"]


def assert_bytes_equal(a, b, fields: tuple[str, ...], min_spikes: int = 50) -> None:
    """Two simulators that recorded spikes: the same spikes (and enough of them for the
    comparison to mean anything), and the named state arrays equal byte for byte
    (``plastic.<name>`` reaches into the plastic state)."""
    sa, ia = a.recorded()
    sb, ib = b.recorded()
    assert sa.size > min_spikes, "the network must spike for the comparison to mean anything"
    np.testing.assert_array_equal(sa, sb)
    np.testing.assert_array_equal(ia, ib)
    for name in fields:
        x, y = (np.asarray(_field(sim.state, name)) for sim in (a, b))
        assert x.dtype == y.dtype
        assert np.array_equal(x.view(np.uint8), y.view(np.uint8)), f"state.{name} differs"


def _field(state, name: str):
    for part in name.split("."):
        state = getattr(state, part)
    return state

