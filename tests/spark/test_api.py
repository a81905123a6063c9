"""Spark used on its own: a network composed with spark's builder from Spark's own model
types runs exactly like the same network translated from a spec."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import spark
from adapters.spec.inputs import InputStream

from .nets import random_network, to_spark


def _rebuilt_by_hand(net) -> spark.NetworkDef:
    """The materialised network, composed again through spark.NetworkBuilder."""
    b = spark.NetworkBuilder(net.spec.name, dt=net.dt, dtype=net.dtype)
    models = {"lif": spark.LIF, "alif": spark.ALIF}
    for pop in net.populations:
        m = pop.model
        fields = {f: getattr(m, f) for f in ("tau_m", "v_rest", "v_reset", "v_thresh", "i_offset")}
        if m.kind == "alif":
            fields.update(tau_adapt=m.tau_adapt, beta=m.beta)
        b.population(pop.name, pop.size, models[m.kind](**fields), initial=pop.initial,
                     refractory_steps=pop.refractory_steps, receptors=pop.receptor_taus)
    b.inputs(net.n_inputs)
    for proj in net.projections:
        receptor = "delta" if proj.receptor_index is None else proj.receptor_index
        b.connect(proj.spec.source, proj.spec.target, proj.pre, proj.post, weight=proj.weight,
                  delay_steps=proj.delay_steps, receptor=receptor)
    return b.network()


@pytest.mark.parametrize("method", ["auto", "native"])
def test_builder_network_equals_translated_spec(method):
    net = random_network("float32").materialise(7)
    x = InputStream(net.spec, 400).open_loop()
    results = []
    for definition in (to_spark(net), _rebuilt_by_hand(net)):
        sim = spark.Simulator(definition, method=method, record_spikes=True)
        sim.run_chunk(x)
        results.append(sim.recorded())
    assert results[0][0].size > 100
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_builder_defaults_and_poisson_drive():
    rng = np.random.default_rng(0)
    b = spark.NetworkBuilder("demo", dt=0.1)
    b.population("exc", 50, spark.LIF(i_offset=14.0), v0=rng.uniform(-65, -55, 50),
                 refractory_steps=20)
    b.population("iz", 5, spark.Izhikevich(i_offset=10.0))
    b.inputs(20)
    pre, post = np.nonzero(rng.random((20, 50)) < 0.2)
    b.connect("input", "exc", pre, post, weight=3.0, delay_steps=5)
    net = b.network()
    assert net.population("iz").initial["u"] == pytest.approx(0.2 * -65.0)  # b * c
    counts = spark.Simulator(net).run_poisson(np.full(20, 50.0), jax.random.key(1), k=500).counts
    assert counts.shape == (2,) and counts[0] > 0


@pytest.mark.parametrize("change, message", [
    (dict(receptor="exponential"), "has 0 receptor"),
    (dict(delay_steps=0), "delays must be >= 1 step"),
    (dict(target="nowhere"), "unknown target population"),
])
def test_definition_errors_say_what_is_wrong(change, message):
    b = spark.NetworkBuilder("bad")
    b.population("p", 3, spark.LIF())
    b.inputs(2)
    args = dict(target="p", receptor="delta", delay_steps=1) | change
    b.connect("input", args["target"], [0], [0], weight=1.0, delay_steps=args["delay_steps"],
              receptor=args["receptor"])
    with pytest.raises(ValueError, match=message):
        b.network()
