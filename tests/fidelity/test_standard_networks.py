"""The field's standard networks, as built-ins, on every backend that can run them: CUBA's
two current receptors per neuron (5 ms excitatory, 10 ms inhibitory) give the same spikes,
to the step, on Spark (pure JAX and native kernels), Brian2 C++ and NEST in float64."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.base import BackendOptions
from adapters.registry import load_backend
from adapters.spec import load_spec, materialise
from benchmarks.fidelity import activity
from benchmarks.protocol import record_open_loop_spikes

pytestmark = pytest.mark.slow(
    reason="cuba, coba and brunel2000_small on every backend (~50 s)")

BACKENDS = ("brian2-cpp-uninterrupted", "spark", "spark-native", "nest")


@pytest.fixture(scope="module")
def cuba_runs(tmp_path_factory):
    spec = load_spec("cuba_small").overridden(dtype="float64", duration=300.0)
    net = materialise(spec, 1)
    options = BackendOptions(cache_dir=tmp_path_factory.mktemp("cache"))
    return net, {name: record_open_loop_spikes(load_backend(name), net, options)
                 for name in BACKENDS}


def test_cuba_has_two_receptors_per_neuron(cuba_runs):
    net, _ = cuba_runs
    assert {p.name: p.receptor_taus for p in net.populations} == {"exc": (5.0, 10.0),
                                                                   "inh": (5.0, 10.0)}


@pytest.mark.parametrize("name", BACKENDS[1:])
def test_cuba_spikes_identical_on_every_backend(cuba_runs, name):
    net, runs = cuba_runs
    reference = runs[BACKENDS[0]]
    assert sum(len(s) for s, _ in reference.values()) > 500  # the network is active
    for pop in reference:
        np.testing.assert_array_equal(runs[name][pop][0], reference[pop][0], err_msg=pop)
        np.testing.assert_array_equal(runs[name][pop][1], reference[pop][1], err_msg=pop)


def test_activity_reports_rates_and_isi_cv(cuba_runs):
    net, runs = cuba_runs
    sizes = {p.name: p.size for p in net.populations}
    act = activity(runs["spark"], sizes, net.n_steps, net.dt)
    for pop, (rate, cv) in act.items():
        spikes = len(runs["spark"][pop][0])
        assert rate == pytest.approx(spikes / (sizes[pop] * 0.3))
        assert 0.0 < cv < 2.0


# Brunel (2000): delta synapses plus every neuron's own external Poisson drive; COBA:
# conductance receptors with initial conductances (NEST refuses those, with the reason);
# the microcircuit at scale 0.1: fixed_total_number (multapses), truncated-normal weights
# and delays, Poisson background (Brian2 left out here: its 64 Synapses objects take
# minutes to compile on 2 cores; it was identical for 100 ms by hand, see NOTES).
DRIVEN = {"brunel2000_small": ("brian2-cpp-uninterrupted", "spark", "spark-native", "nest"),
          "coba_small": ("brian2-cpp-uninterrupted", "spark", "spark-native"),
          "microcircuit_small": ("spark", "spark-native", "nest")}
DURATION = {"microcircuit_small": 100.0}


@pytest.fixture(scope="module")
def driven_runs(tmp_path_factory):
    options = BackendOptions(cache_dir=tmp_path_factory.mktemp("cache"))
    runs = {}
    for name, backends in DRIVEN.items():
        spec = load_spec(name).overridden(dtype="float64", duration=DURATION.get(name, 200.0))
        net = materialise(spec, 1)
        runs[name] = (net, {b: record_open_loop_spikes(load_backend(b), net, options)
                            for b in backends})
    return runs


@pytest.mark.parametrize("name,backend", [(n, b) for n, bs in DRIVEN.items() for b in bs[1:]])
def test_driven_and_conductance_networks_spike_identically(driven_runs, name, backend):
    net, runs = driven_runs[name]
    reference = runs[DRIVEN[name][0]]
    assert sum(len(s) for s, _ in reference.values()) > 300, name  # the network is active
    for pop in reference:
        np.testing.assert_array_equal(runs[backend][pop][0], reference[pop][0], err_msg=pop)
        np.testing.assert_array_equal(runs[backend][pop][1], reference[pop][1], err_msg=pop)
