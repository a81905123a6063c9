"""``paper8x8``: paper8 at 8x the pool size with the same in-degree (the size study's
network). A full materialisation (65,536 neurons, ~30 M synapses) takes ~30 s and ~0.7 GB,
so these tests check the spec, its cost estimate and one projection's draw instead."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.spec import BUILTIN, content_digest, dumps_toml, load_spec
from adapters.spec.codec import parse_text
from adapters.spec.estimate import check_fits, estimate
from adapters.spec.networks import PAPER8X8_SCALE
from benchmarks.cli import main


def _indegrees(spec) -> dict[str, float]:
    """Expected in-degree per projection (from its connector)."""
    return {p.name: p.connector.expected_count(spec.size_of(p.source), spec.size_of(p.target),
                                               p.source == p.target) / spec.size_of(p.target)
            for p in spec.projections}


def test_paper8x8_is_a_validated_builtin():
    assert "paper8x8" in BUILTIN
    big, small = load_spec("paper8x8"), load_spec("paper8")
    assert [p.size for p in big.populations] == [8192] * 8 and big.input.size == 8192
    assert [p.name for p in big.populations] == [p.name for p in small.populations]
    assert [p.name for p in big.projections] == [p.name for p in small.projections]
    assert big.simulation == small.simulation and big.readout_names == small.readout_names
    for a, b in zip(big.projections, small.projections):
        assert a.connector.p == pytest.approx(b.connector.p / PAPER8X8_SCALE)
        assert (a.weight, a.delay, a.synapse) == (b.weight, b.delay, b.synapse)
    assert content_digest(big) != content_digest(small)


def test_paper8x8_keeps_the_in_degree_and_has_8x_the_synapses():
    big, small = load_spec("paper8x8"), load_spec("paper8")
    assert _indegrees(big) == pytest.approx(_indegrees(small), rel=2e-3)
    assert sum(_indegrees(big)[p.name] for p in big.projections
               if p.target == "pool0") == pytest.approx(461, abs=1)
    e_big, e_small = estimate(big), estimate(small)
    assert e_big.neurons == 8 * e_small.neurons == 65536
    assert e_big.synapses / e_small.synapses == pytest.approx(8.0, rel=1e-3)
    assert 29e6 < e_big.synapses < 31e6
    # a run fits a machine with a few GB free; an 1 GiB limit refuses it up front
    assert e_big.total < 4 * 2**30
    check_fits(big, "paper8x8", 8 * 2**30)
    with pytest.raises(Exception, match="paper8x8"):
        check_fits(big, "paper8x8", 2**30)


def test_paper8x8_projection_draws_its_expected_count():
    """One pool-to-pool projection drawn as materialise draws it: ~51 synapses per target."""
    spec = load_spec("paper8x8")
    proj = next(p for p in spec.projections if p.name == "pool0_to_pool1")
    n = spec.size_of("pool0")
    pre, post = proj.connector.connect(n, n, False, np.random.default_rng(1))
    expected = proj.connector.expected_count(n, n, False)
    assert abs(len(pre) - expected) < 4 * np.sqrt(expected)
    assert abs(len(pre) / n - 0.05 * 1024) < 0.5
    assert pre.max() < n and post.max() < n


def test_paper8x8_round_trips_and_shows(capsys):
    spec = load_spec("paper8x8")
    assert parse_text(dumps_toml(spec), "toml", "paper8x8.toml") == spec
    assert main(["spec", "show", "paper8x8", "--no-synapses"]) == 0
    out = capsys.readouterr().out
    assert "65,536 neurons" in out and "8192 Poisson sources" in out
