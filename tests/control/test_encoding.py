"""The cartpole agent's encoder (place code) and decoder (traced readout)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.control.encoding import CARTPOLE_RANGES, PlaceCode, TracedReadout


def test_place_code_peaks_at_the_neuron_whose_centre_is_nearest():
    code = PlaceCode(n_per_dim=5)
    obs = np.array([0.0, -3.0, 0.2095, 1.5])
    rates = code.rates(obs).reshape(4, 5)
    assert rates.shape == (4, 5)
    np.testing.assert_array_equal(rates.argmax(axis=1), [2, 0, 4, 3])
    assert rates.max() == pytest.approx(code.max_rate)
    # one tuning width away from the centre: exp(-1/2) of the peak
    assert rates[0, 1] == pytest.approx(code.max_rate * np.exp(-0.5))


def test_values_beyond_the_range_are_clipped_to_the_edge_neuron():
    code = PlaceCode()
    inside = code.rates(np.array([r[1] for r in CARTPOLE_RANGES]))
    beyond = code.rates(np.array([10 * r[1] for r in CARTPOLE_RANGES]))
    np.testing.assert_array_equal(inside, beyond)


def test_spikes_compare_the_given_uniforms_with_rate_times_dt():
    code = PlaceCode(n_per_dim=4, max_rate=500.0)
    obs = np.array([0.1, 0.0, -0.05, 0.3])
    u = np.random.default_rng(3).random((100, code.size))
    spikes = code.spikes(obs, u, dt_ms=1.0)
    assert spikes.shape == (100, code.size) and spikes.dtype == bool
    np.testing.assert_array_equal(spikes, u < code.rates(obs) * 1e-3)
    batched = code.spikes(np.stack([obs, -obs]), np.stack([u, u]), dt_ms=1.0)
    np.testing.assert_array_equal(batched[0], spikes)


@pytest.mark.parametrize("kwargs", [{"n_per_dim": 1}, {"max_rate": 0.0},
                                    {"ranges": ((1.0, -1.0),)}])
def test_a_bad_code_is_refused(kwargs):
    with pytest.raises(ValueError):
        PlaceCode(**kwargs)


def test_traced_readout_decays_adds_and_picks_the_larger_trace():
    readout = TracedReadout(tau_ms=20.0)
    trace = readout.update(np.zeros(2), np.array([3, 5]), k=20, dt_ms=1.0)
    np.testing.assert_array_equal(trace, [3.0, 5.0])
    assert readout.action(trace) == 1
    trace = readout.update(trace, np.array([6, 0]), k=20, dt_ms=1.0)
    np.testing.assert_allclose(trace, [3 * np.exp(-1) + 6, 5 * np.exp(-1)])
    assert readout.action(trace) == 0
    assert readout.action(np.array([2.0, 2.0])) == 0  # a tie goes to the first readout
