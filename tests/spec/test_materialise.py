"""Materialisation: deterministic, statistically right, and never below one step of delay."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from adapters.spec import load_spec, materialise
from adapters.spec.inputs import InputStream
from adapters.spec.networks import tiny
from adapters.spec.model import (
    LIF,
    AllToAll,
    Constant,
    FixedInDegree,
    FixedProbability,
    NetworkSpec,
    Normal,
    PoissonInput,
    Population,
    Projection,
    Simulation,
    Uniform,
)


def _two_pop(connector, delay=Constant(value=0.1), n_pre=400, n_post=300, same=False) -> NetworkSpec:
    pops = [Population(name="post", size=n_post, model=LIF())]
    if not same:
        pops.insert(0, Population(name="pre", size=n_pre, model=LIF()))
    return NetworkSpec(
        name="t", populations=tuple(pops), input=PoissonInput(size=2, rate=1.0),
        projections=(Projection(name="p", source="post" if same else "pre", target="post",
                                connector=connector, weight=Normal(mean=1.0, std=0.5),
                                delay=delay),),
        simulation=Simulation(duration=1.0, timesteps=(1,)))


def test_same_seed_same_arrays_across_processes():
    code = ("from adapters.spec import load_spec, materialise;"
            "print(materialise(load_spec('paper7'), 3).digest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout.strip() for _ in range(2)}
    assert len(digests) == 1
    assert digests == {materialise(load_spec("paper7"), 3).digest()}


def test_different_instance_seeds_differ():
    spec = load_spec("tiny")
    assert materialise(spec, 1).digest() != materialise(spec, 2).digest()


def test_fixed_probability_in_degree_within_three_sigma():
    p, n_pre, n_post = 0.1, 400, 300
    net = materialise(_two_pop(FixedProbability(p=p), n_pre=n_pre, n_post=n_post), 7)
    proj = net.projections[0]
    expected = p * n_pre * n_post
    sigma = np.sqrt(n_pre * n_post * p * (1 - p))
    assert abs(proj.n_synapses - expected) < 3 * sigma
    indegree = np.bincount(proj.post, minlength=n_post)
    # Mean in-degree (per target) within 3 standard errors.
    assert abs(indegree.mean() - p * n_pre) < 3 * np.sqrt(n_pre * p * (1 - p) / n_post)


def test_fixed_indegree_exact_and_distinct():
    net = materialise(_two_pop(FixedInDegree(n=17), n_pre=50, n_post=60, same=True), 4)
    proj = net.projections[0]
    assert np.all(np.bincount(proj.post, minlength=60) == 17)
    pairs = set(zip(proj.pre.tolist(), proj.post.tolist()))
    assert len(pairs) == proj.n_synapses  # no multapses
    assert not np.any(proj.pre == proj.post)  # no self connections by default


def test_all_to_all_without_self():
    net = materialise(_two_pop(AllToAll(), n_post=30, same=True), 1)
    assert net.projections[0].n_synapses == 30 * 29


def test_synapses_sorted_by_pre_then_post():
    proj = materialise(load_spec("tiny"), 1).projections[2]
    order = np.lexsort((proj.post, proj.pre))
    assert np.array_equal(order, np.arange(proj.n_synapses))


@pytest.mark.parametrize("delay", [Uniform(low=0.1, high=0.5), Normal(mean=0.15, std=0.2),
                                   Constant(value=0.1)])
def test_delays_never_below_one_step(delay):
    net = materialise(_two_pop(FixedProbability(p=0.2), delay=delay), 2)
    steps = net.projections[0].delay_steps
    assert steps.dtype == np.int32 and steps.min() >= 1


def test_paper8_shape_and_synapse_counts():
    net = materialise(load_spec("paper8"))
    assert [p.size for p in net.populations] == [1024] * 8
    assert [p.offset for p in net.populations] == [1024 * i for i in range(8)]
    assert len(net.projections) == 8 + 64
    n_pairs = 8 * 1024 * 1024 + 64 * 1024 * 1023  # input->pools, pools->pools without self
    expected = 0.05 * n_pairs
    assert abs(net.n_synapses - expected) < 3 * np.sqrt(n_pairs * 0.05 * 0.95)
    assert net.max_delay_steps == 20
    assert net.readout_indices() == tuple(range(8))
    v0 = net.populations[0].initial["v"]
    assert v0.shape == (1024,) and v0.min() >= -65.0 and v0.max() < -50.0


def test_input_stream_is_chunking_invariant_in_open_loop():
    spec = load_spec("tiny")
    one = InputStream(spec)
    whole = one.next_chunk(1000)
    two = InputStream(spec)
    parts = np.concatenate([two.next_chunk(10) for _ in range(100)])
    assert np.array_equal(whole, parts)
    assert np.array_equal(whole, InputStream(spec).open_loop())
    rate = whole.mean() / (spec.simulation.dt * 1e-3)
    assert 30.0 < rate < 70.0  # 50 Hz nominal over 20 x 1000 draws


def test_input_feedback_moves_rates_towards_channel_activity():
    spec = load_spec("tiny")
    stream = InputStream(spec)
    rates = stream.rates(np.array([40, 0]))  # population a busy, b silent
    channels = stream.channels
    assert rates[channels == 0].min() > spec.input.rate > rates[channels == 1].max()


def _reference_chunk(stream: InputStream, k: int, last_counts) -> np.ndarray:
    """The controller's formulas written plainly (``mean``, ``clip``, rates per input, then
    times p): what ``InputStream.next_chunk`` must reproduce bit for bit."""
    signal = stream.signal
    if last_counts is None or signal.feedback_gain == 0.0:
        rates = np.full(signal.size, float(signal.rate))
    else:
        c = np.asarray(last_counts) / stream.readout_sizes
        mean = c.mean()
        per_channel = np.clip(signal.rate * (1.0 + signal.feedback_gain * (c - mean) / (mean + 1.0)),
                              0.0, signal.max_rate)
        rates = per_channel[stream.channels]
    u = stream.uniforms[stream.position:stream.position + k]
    return u < (rates * stream.p_per_hz)[None, :]


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("network, gain", [("paper8", None), ("tiny", None), ("paper8", 20.0)])
def test_input_stream_equals_the_plain_formulas_bit_for_bit(network, gain, compiled):
    """Random closed-loop count sequences; with gain 20 the rates clip at 0 Hz and at
    max_rate (checked), so clipping is compared too. Both ways of drawing a chunk (numpy,
    and the compiled stream every sweep uses where a compiler exists)."""
    spec = load_spec(network)
    if gain is not None:
        spec = replace(spec, input=replace(spec.input, feedback_gain=gain))
        clipped = InputStream(spec).rates(np.array([10**6] + [0] * 7))
        assert clipped.min() == 0.0 and clipped.max() == spec.input.max_rate
    rng = np.random.default_rng(11)
    stream, n_readouts = InputStream(spec, compiled=compiled), len(spec.readout_names)
    assert stream.method == ("compiled" if compiled else "numpy")
    last = None
    while stream.position < stream.n_steps:
        k = int(rng.choice([1, 2, 5, 10]))
        k = min(k, stream.n_steps - stream.position)
        want = _reference_chunk(stream, k, last)
        np.testing.assert_array_equal(stream.next_chunk(k, last), want)
        last = rng.choice([rng.integers(0, 5, n_readouts), rng.integers(0, 10**6, n_readouts),
                           np.zeros(n_readouts, int), rng.integers(0, 2, n_readouts) * 10**7])


def test_truncated_normal_redraws_inside_its_bounds_deterministically():
    from adapters.spec.model import TruncatedNormal

    dist = TruncatedNormal(mean=1.5, std=0.75, low=0.1, high=3.0)
    a = dist.draw(50_000, np.random.default_rng(7))
    b = dist.draw(50_000, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0.1 and a.max() <= 3.0
    # Redrawing (not clipping): no mass piles up on the bounds.
    assert np.mean(a == 0.1) == 0 and np.mean(a == 3.0) == 0
    assert abs(a.mean() - 1.5) < 0.05


@pytest.mark.parametrize("field,dist,word", [
    ("weight", dict(kind="truncated_normal", mean=0.0, std=1.0, low=5.0), "mass"),
    ("weight", dict(kind="truncated_normal", mean=0.0, std=1.0, low=1.0, high=0.5), "> low"),
    ("delay", dict(kind="truncated_normal", mean=1.0, std=0.5), "at least one step"),
    ("delay", dict(kind="constant", value=0.0), "zero-delay synapses are refused"),
])
def test_bad_distributions_are_refused_with_the_field(field, dist, word):
    from adapters.spec import SpecError
    from adapters.spec.codec import from_document, spec_to_document
    from adapters.spec.validate import validate

    doc = spec_to_document(tiny())
    doc["projections"][2][field] = dist
    with pytest.raises(SpecError, match=word) as info:
        validate(from_document(doc, "bad.json"), "bad.json")
    assert f"projections[2].{field}" in str(info.value)


def test_truncated_normal_round_trips_through_both_formats():
    import tomllib

    from adapters.spec import dumps_json, dumps_toml
    from adapters.spec.codec import from_document
    from adapters.spec.model import TruncatedNormal

    spec = tiny()
    projs = list(spec.projections)
    projs[2] = replace(projs[2], weight=TruncatedNormal(mean=0.5, std=0.3, low=0.0),
                       delay=TruncatedNormal(mean=0.2, std=0.1, low=0.1, high=0.3))
    spec = replace(spec, projections=tuple(projs))
    assert from_document(json.loads(dumps_json(spec)), "a.json") == spec
    assert from_document(tomllib.loads(dumps_toml(spec)), "a.toml") == spec
