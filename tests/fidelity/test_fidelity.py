"""Spike-train agreement metrics: exact window, identical fraction, rates, SPIKE-distance
and its shuffle control (benchmarks/fidelity.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.fidelity import (
    Agreement,
    Thresholds,
    compare_spikes,
    format_table,
    spike_distance,
)
from benchmarks.results import COLUMNS

DT = 0.1


def poisson(size: int, n_steps: int, rate_hz: float, rng: np.random.Generator):
    """Bernoulli-per-step (Poisson) spikes as (steps, indices) sorted by (step, index)."""
    mask = rng.random((n_steps, size)) < rate_hz * DT / 1000.0
    steps, idx = np.nonzero(mask)
    return steps.astype(np.int64), idx.astype(np.int64)


def network_spikes(seed: int, sizes: dict[str, int], n_steps: int, rate_hz: float = 20.0):
    rng = np.random.default_rng(seed)
    return {pop: poisson(n, n_steps, rate_hz, rng) for pop, n in sizes.items()}


def brute_spike_distance(t1, t2, T: int, sub: int = 16) -> float:
    """The SPIKE-distance as documented, evaluated directly on a dense grid of sub-step
    midpoints (no merged-event bookkeeping): an independent check of the exact integral."""
    t1, t2 = sorted(set(int(t) for t in t1)), sorted(set(int(t) for t in t2))
    if not t1 and not t2:
        return math.nan
    if not t1 or not t2:
        return 1.0

    def with_aux(own, other):
        delta = [min(abs(s - o) for o in other) for s in own]
        times = ([0] if own[0] > 0 else []) + own + [T]
        deltas = ([delta[0]] if own[0] > 0 else []) + delta + [delta[-1]]
        return np.array(times, float), np.array(deltas, float)

    grid = (np.arange(T * sub) + 0.5) / sub
    parts = []
    for own, other in ((t1, t2), (t2, t1)):
        times, deltas = with_aux(own, other)
        p = np.searchsorted(times, grid, side="right") - 1
        P, F = times[p], times[p + 1]
        s = (deltas[p] * (F - grid) + deltas[p + 1] * (grid - P)) / (F - P)
        parts.append((s, F - P))
    (s1, x1), (s2, x2) = parts
    S = (s1 * x2 + s2 * x1) / (2.0 * ((x1 + x2) / 2.0) ** 2)
    return float(np.minimum(S, 1.0).mean())


# --------------------------------------------------------------------------------------
# The distance itself


def test_spike_distance_matches_direct_evaluation():
    rng = np.random.default_rng(7)
    T = 300
    for _ in range(40):
        n1, n2 = rng.integers(1, 12, size=2)
        t1 = rng.choice(T, size=n1, replace=False)
        t2 = rng.choice(T, size=n2, replace=False)
        if rng.random() < 0.3:  # partly shared spikes
            t2 = np.union1d(t2, t1[: n1 // 2])
        if rng.random() < 0.2:  # a spike at step 0
            t1 = np.union1d(t1, [0])
        assert spike_distance(t1, t2, T) == pytest.approx(brute_spike_distance(t1, t2, T),
                                                          abs=1e-4)


def test_spike_distance_known_values():
    assert spike_distance([5, 50, 90], [5, 50, 90], 100) == 0.0
    # {10} vs {990} on [0, 1000]: edge intervals clip at 1 (10 + 10 steps), the middle
    # scores 980/990 over 980 steps (worked out by hand in the module docstring's terms).
    assert spike_distance([10], [990], 1000) == pytest.approx((20 + 980 * 980 / 990) / 1000)
    assert spike_distance([], [3], 100) == 1.0
    assert math.isnan(spike_distance([], [], 100))
    # symmetric, and grows with the shift
    a = spike_distance([100, 400, 700], [101, 401, 701], 1000)
    b = spike_distance([100, 400, 700], [110, 410, 710], 1000)
    assert 0 < a < b < 1
    assert spike_distance([101, 401, 701], [100, 400, 700], 1000) == pytest.approx(a)


# --------------------------------------------------------------------------------------
# compare_spikes


SIZES = {"exc": 400, "inh": 100}
N_STEPS = 5000  # 0.5 s at 0.1 ms


def test_identical_trains():
    ref = network_spikes(1, SIZES, N_STEPS)
    a = compare_spikes(ref, ref, SIZES, N_STEPS, DT, labels=("brian2", "spark"))
    assert (a.reference, a.candidate) == ("brian2", "spark")
    assert a.exact_window_ms == pytest.approx(N_STEPS * DT) == a.duration_ms
    assert a.first_difference is None and a.identical
    assert a.identical_fraction == 1.0
    assert a.rate_rel_error_max == 0.0
    assert all(v == 0.0 for v in a.rate_rel_error.values())
    assert a.distance == 0.0
    assert a.distance_control > 0.1  # unrelated trains of ~10 spikes are far apart
    assert a.passes(Thresholds()) and a.failures(Thresholds()) == []
    # rates: counts / (size * duration)
    for pop, (steps, _) in ref.items():
        assert a.rates_reference_hz[pop] == pytest.approx(steps.size / (SIZES[pop] * 0.5))


@pytest.mark.parametrize("direction", [+1, -1])
def test_one_spike_shifted_by_one_step(direction):
    ref = network_spikes(2, SIZES, N_STEPS)
    steps, idx = ref["inh"]
    # a spike in the middle of the run whose neuron does not spike one step away
    k = int(np.searchsorted(steps, N_STEPS // 2))
    while np.any((steps == steps[k] + direction) & (idx == idx[k])):
        k += 1
    s, i = int(steps[k]), int(idx[k])
    new_steps = steps.copy()
    new_steps[k] = s + direction
    cand = dict(ref)
    cand["inh"] = (new_steps, idx)  # unsorted now: compare_spikes must sort
    a = compare_spikes(ref, cand, SIZES, N_STEPS, DT)

    first = min(s, s + direction)
    assert a.exact_window_ms == pytest.approx(first * DT)
    assert a.first_difference == ("inh", first, i)
    n_total = sum(st.size for st, _ in ref.values())
    assert a.identical_fraction == pytest.approx((n_total - 1) / n_total)
    assert a.rate_rel_error_max == 0.0
    assert 0 < a.distance < 0.01 * a.distance_control
    reasons = a.failures(Thresholds())
    assert len(reasons) == 2
    assert "exact window" in reasons[0] and "identical fraction" in reasons[1]
    assert not a.passes(Thresholds())
    # float32 thresholds ask for rates only
    assert a.passes(Thresholds.for_dtype("float32"))


def test_dropped_spikes_rate_error():
    ref = network_spikes(3, SIZES, N_STEPS)
    steps, idx = ref["exc"]
    drop = 7
    keep = np.ones(steps.size, bool)
    keep[::max(1, steps.size // drop)][:drop] = False
    assert np.count_nonzero(~keep) == drop
    cand = dict(ref)
    cand["exc"] = (steps[keep], idx[keep])
    a = compare_spikes(ref, cand, SIZES, N_STEPS, DT)

    expected = drop / steps.size  # rates share size and duration, so counts suffice
    assert a.rate_rel_error["exc"] == pytest.approx(expected)
    assert a.rate_rel_error["inh"] == 0.0
    assert a.rate_rel_error_max == pytest.approx(expected)
    assert a.rates_candidate_hz["exc"] == pytest.approx((steps.size - drop) / (400 * 0.5))
    n_total = sum(st.size for st, _ in ref.values())
    assert a.identical_fraction == pytest.approx((n_total - drop) / n_total)
    loose = Thresholds(exact_window_fraction_min=0, identical_fraction_min=0,
                       rate_rel_error_max=expected * 1.01)
    tight = Thresholds(exact_window_fraction_min=0, identical_fraction_min=0,
                       rate_rel_error_max=expected * 0.99)
    assert a.passes(loose)
    reasons = a.failures(tight)
    assert len(reasons) == 1 and "'exc'" in reasons[0]


def test_zero_rate_rule():
    sizes = {"a": 10, "b": 10}
    ref = {"a": (np.array([5]), np.array([1]))}  # "b" silent in the reference
    cand = {"a": (np.array([5]), np.array([1])), "b": (np.array([8]), np.array([2]))}
    a = compare_spikes(ref, cand, sizes, 100, DT)
    assert a.rate_rel_error["a"] == 0.0
    assert a.rate_rel_error["b"] == math.inf
    assert a.rate_rel_error_max == math.inf
    assert not a.passes(Thresholds(exact_window_fraction_min=0, identical_fraction_min=0,
                                   rate_rel_error_max=1e9))
    both_silent = compare_spikes({}, {}, sizes, 100, DT)
    assert both_silent.rate_rel_error == {"a": 0.0, "b": 0.0}


def test_independent_poisson_scores_like_the_control():
    sizes = {"exc": 2000, "inh": 500}
    ref = network_spikes(10, sizes, 10_000, rate_hz=10.0)
    cand = network_spikes(11, sizes, 10_000, rate_hz=10.0)
    a = compare_spikes(ref, cand, sizes, 10_000, DT, max_neurons=512)
    assert a.distance > 0.2
    assert a.distance == pytest.approx(a.distance_control, rel=0.05)
    assert a.identical_fraction < 0.01
    # the same candidate scores far below the control when it equals the reference
    same = compare_spikes(ref, ref, sizes, 10_000, DT, max_neurons=512)
    assert same.distance_control == pytest.approx(a.distance_control, rel=0.05)
    ratio = Thresholds(exact_window_fraction_min=0, identical_fraction_min=0,
                       rate_rel_error_max=1.0, distance_ratio_max=0.5)
    assert not a.passes(ratio) and same.passes(ratio)
    assert any("SPIKE-distance" in r for r in a.failures(ratio))


def test_empty_trains():
    sizes = {"exc": 50}
    a = compare_spikes({}, {"exc": (np.zeros(0, int), np.zeros(0, int))}, sizes, 1000, DT)
    assert a.exact_window_ms == pytest.approx(100.0)
    assert a.identical_fraction == 1.0
    assert a.rate_rel_error_max == 0.0
    assert math.isnan(a.distance) and math.isnan(a.distance_control)
    assert a.n_neurons_compared == 0
    assert a.passes(Thresholds())
    assert "n/a" in format_table([a])

    cand = {"exc": (np.array([30, 40]), np.array([3, 4]))}
    b = compare_spikes({}, cand, sizes, 1000, DT)
    assert b.exact_window_ms == pytest.approx(3.0)
    assert b.first_difference == ("exc", 30, 3)
    assert b.identical_fraction == 0.0
    assert b.distance == 1.0  # one train empty, the other not: maximal
    assert b.n_neurons_compared == 2
    assert b.rate_rel_error_max == math.inf


def test_control_is_deterministic_in_the_seed():
    ref = network_spikes(4, SIZES, N_STEPS)
    cand = network_spikes(5, SIZES, N_STEPS)
    a0 = compare_spikes(ref, cand, SIZES, N_STEPS, DT, seed=0)
    a0b = compare_spikes(ref, cand, SIZES, N_STEPS, DT, seed=0)
    a1 = compare_spikes(ref, cand, SIZES, N_STEPS, DT, seed=1)
    assert a0.distance_control == a0b.distance_control
    assert a0.distance_control_by_population == a0b.distance_control_by_population
    assert a0.distance == a1.distance  # the seed only affects the control
    assert a0.distance_control != a1.distance_control


def test_distance_is_the_mean_of_per_neuron_distances():
    sizes = {"exc": 30, "inh": 12}
    ref = network_spikes(6, sizes, 2000, rate_hz=30.0)
    cand = network_spikes(7, sizes, 2000, rate_hz=30.0)
    a = compare_spikes(ref, cand, sizes, 2000, DT)
    values = []
    for pop in sizes:
        (rs, ri), (cs, ci) = ref[pop], cand[pop]
        per = [spike_distance(rs[ri == n], cs[ci == n], 2000) for n in range(sizes[pop])]
        per = [v for v in per if not math.isnan(v)]
        assert a.distance_by_population[pop] == pytest.approx(np.mean(per))
        values += per
    assert a.distance == pytest.approx(np.mean(values))
    assert a.n_neurons_compared == len(values)


def test_subsample_is_bounded_and_deterministic():
    sizes = {"exc": 3000}
    ref = network_spikes(8, sizes, 3000, rate_hz=20.0)
    cand = network_spikes(9, sizes, 3000, rate_hz=20.0)
    a = compare_spikes(ref, cand, sizes, 3000, DT, max_neurons=100)
    b = compare_spikes(ref, cand, sizes, 3000, DT, max_neurons=100)
    assert a.n_neurons_compared == 100
    assert a.distance == b.distance and a.distance_control == b.distance_control


def test_paper_sized_runs_compare_sensibly():
    # 8192 neurons, 1 s at 10 Hz (speed is a benchmark matter; no timing asserted here).
    sizes = {"exc": 6554, "inh": 1638}
    ref = network_spikes(12, sizes, 10_000, rate_hz=10.0)
    cand = network_spikes(13, sizes, 10_000, rate_hz=10.0)
    same = compare_spikes(ref, ref, sizes, 10_000, DT)
    other = compare_spikes(ref, cand, sizes, 10_000, DT)
    assert same.identical and same.distance == 0.0
    assert other.rate_rel_error_max < 0.05
    assert other.distance == pytest.approx(other.distance_control, rel=0.1)


def test_row_fields_and_table():
    ref = network_spikes(14, SIZES, 1000)
    cand = network_spikes(15, SIZES, 1000)
    same = compare_spikes(ref, ref, SIZES, 1000, DT, labels=("brian2-cpp", "spark"))
    diff = compare_spikes(ref, cand, SIZES, 1000, DT, labels=("brian2-cpp", "nest"))
    fields = same.as_row_fields()
    assert set(fields) <= set(COLUMNS)
    assert {"fidelity_exact_window_ms", "fidelity_identical_fraction",
            "fidelity_rate_rel_error_max", "fidelity_distance",
            "fidelity_distance_control"} <= set(fields)
    assert fields["fidelity_reference"] == "brian2-cpp"
    assert fields["fidelity_distance"] == 0.0
    table = format_table([same, diff], Thresholds())
    lines = table.splitlines()
    assert len(lines) == 2 + 2  # header, rule, one line per candidate
    assert "spark" in lines[2] and "PASS" in lines[2]
    assert "nest" in lines[3] and "FAIL" in lines[3]
    assert "verdict" not in format_table([same])


def test_invalid_input_is_rejected():
    sizes = {"exc": 10}
    good = {"exc": (np.array([1]), np.array([2]))}
    with pytest.raises(ValueError, match="unknown populations"):
        compare_spikes(good, {"other": (np.array([1]), np.array([2]))}, sizes, 10, DT)
    with pytest.raises(ValueError, match="indices outside"):
        compare_spikes(good, {"exc": (np.array([1]), np.array([10]))}, sizes, 10, DT)
    with pytest.raises(ValueError, match="steps outside"):
        compare_spikes(good, {"exc": (np.array([10]), np.array([1]))}, sizes, 10, DT)
    with pytest.raises(ValueError):
        Thresholds.for_dtype("float16")


def test_agreement_is_frozen():
    a = compare_spikes({}, {}, {"exc": 1}, 10, DT)
    assert isinstance(a, Agreement)
    with pytest.raises(AttributeError):
        a.distance = 0.5  # type: ignore[misc]
