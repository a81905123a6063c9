"""Firing rates of the standard networks: our built-ins on our backends next to the
simulators' own reference scripts of the same models, over several seeds.

    python -m benchmarks.scripts.standard_rates coba --seeds 1,2,3 --backends spark-native
    python -m benchmarks.scripts.standard_rates brunel2000 --seeds 1,2,3 --reference-only

Our rows run the materialised built-in (float64, open loop) and report the mean rate and
the mean ISI CV per population (:func:`benchmarks.fidelity.activity`). Reference rows run
the model as its authors' script writes it, with the simulator's own random numbers (so
they are a distribution to compare against, never spike for spike):

* ``cuba``: Brian2's ``examples/CUBA.py`` (no delay, Brian2's ``connect(p=0.02)``);
* ``coba``: the Brian script of Brette et al. (2007), v relative to rest, Brian2 runtime;
* ``brunel2000[_a.._d]``: NEST's ``brunel_delta_nest`` wiring (fixed in-degree, one
  ``poisson_generator`` of rate ``C_ext * nu_ext`` per network, delay 1.5 ms);
* ``microcircuit_small``: the model written directly in PyNEST as NEST's ``Potjans_2014``
  example builds it at scale 0.1 (``poisson_generator`` background);
* ``microcircuit``: the full-scale rates of the INM-6 reference implementation
  (:data:`adapters.spec.networks.PD14_RATES`; NEST's example discards 500 ms first:
  ``--warmup 500``).

Each line prints its wall time; nothing here is a timing benchmark.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from adapters.base import BackendOptions
from adapters.registry import load_backend
from adapters.spec import load_spec, materialise
from adapters.spec.networks import BRUNEL_REGIMES, PD14_POPULATIONS, PD14_RATES
from benchmarks.fidelity import activity
from benchmarks.protocol import record_open_loop_spikes


def ours(name: str, backend: str, seed: int, duration: float, cache: str,
         warmup: float = 0.0) -> dict:
    """Rates and CV after ``warmup`` ms of a ``warmup + duration`` ms run."""
    spec = load_spec(name).overridden(dtype="float64", duration=warmup + duration)
    net = materialise(spec, seed)
    spikes = record_open_loop_spikes(load_backend(backend), net, BackendOptions(cache_dir=cache))
    first = int(round(warmup / net.dt))
    kept = {pop: (steps[steps >= first], idx[steps >= first])
            for pop, (steps, idx) in spikes.items()}
    return activity(kept, {p.name: p.size for p in net.populations}, net.n_steps - first, net.dt)


def _brian2_rates(monitors: dict, duration_ms: float) -> dict:
    out = {}
    for name, mon in monitors.items():
        trains = mon.spike_trains()
        isis = [np.diff(np.asarray(t)) for t in trains.values() if len(t) > 2]
        cvs = [i.std() / i.mean() for i in isis if i.mean() > 0]
        out[name] = (mon.num_spikes / len(mon.source) / (duration_ms * 1e-3),
                     float(np.mean(cvs)) if cvs else float("nan"))
    return out


def reference_cuba(seed: int, duration: float) -> dict:
    import brian2 as b2

    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    b2.seed(seed)
    b2.defaultclock.dt = 0.1 * b2.ms
    taum, taue, taui = 20 * b2.ms, 5 * b2.ms, 10 * b2.ms
    vt, vr, el = -50 * b2.mV, -60 * b2.mV, -49 * b2.mV
    eqs = """dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
             dge/dt = -ge/taue : volt
             dgi/dt = -gi/taui : volt"""
    group = b2.NeuronGroup(4000, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * b2.ms,
                           method="exact", namespace=dict(taum=taum, taue=taue, taui=taui,
                                                          Vt=vt, Vr=vr, El=el))
    group.v = "Vr + rand() * (Vt - Vr)"
    we, wi = (60 * 0.27 / 10) * b2.mV, (-20 * 4.5 / 10) * b2.mV
    ce = b2.Synapses(group[:3200], group, on_pre="ge += we", namespace={"we": we})
    ci = b2.Synapses(group[3200:], group, on_pre="gi += wi", namespace={"wi": wi})
    ce.connect(p=0.02)
    ci.connect(p=0.02)
    mons = {"exc": b2.SpikeMonitor(group[:3200]), "inh": b2.SpikeMonitor(group[3200:])}
    b2.Network(group, ce, ci, *mons.values()).run(duration * b2.ms, namespace={})
    return _brian2_rates(mons, duration)


def reference_coba(seed: int, duration: float) -> dict:
    import brian2 as b2

    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    b2.seed(seed)
    b2.defaultclock.dt = 0.1 * b2.ms
    eqs = """dv/dt = (-v+ge*(Ee-v)+gi*(Ei-v))*(1./taum) : volt (unless refractory)
             dge/dt = -ge*(1./taue) : 1
             dgi/dt = -gi*(1./taui) : 1"""
    ns = dict(taum=20 * b2.ms, taue=5 * b2.ms, taui=10 * b2.ms, Ee=60 * b2.mV, Ei=-20 * b2.mV)
    group = b2.NeuronGroup(4000, eqs, threshold="v>10*mV", reset="v=0*mV",
                           refractory=5 * b2.ms, method="exponential_euler", namespace=ns)
    ce = b2.Synapses(group[:3200], group, on_pre="ge += 0.6")
    ci = b2.Synapses(group[3200:], group, on_pre="gi += 6.7")
    ce.connect(p=0.02)
    ci.connect(p=0.02)
    group.v = "(randn()*5 - 5)*mV"
    group.ge = "randn()*1.5 + 4"
    group.gi = "randn()*12 + 20"
    mons = {"exc": b2.SpikeMonitor(group[:3200]), "inh": b2.SpikeMonitor(group[3200:])}
    b2.Network(group, ce, ci, *mons.values()).run(duration * b2.ms, namespace={})
    return _brian2_rates(mons, duration)


def reference_brunel(regime: str, seed: int, duration: float, scale: float = 1.0) -> dict:
    from adapters.nest.kernel import import_nest

    nest = import_nest("reference")
    g, eta, _ = BRUNEL_REGIMES[regime]
    n_e, n_i = int(round(10000 * scale)), int(round(2500 * scale))
    c_e, c_i = int(round(1000 * scale)), int(round(250 * scale))
    j = 0.1 / scale
    nu_ext = eta * 20.0 / (j * c_e * 20.0) * 1e3
    nest.ResetKernel()
    nest.set(resolution=0.1, rng_seed=seed, print_time=False, local_num_threads=1)
    params = {"C_m": 1.0, "tau_m": 20.0, "t_ref": 2.0, "E_L": 0.0, "V_reset": 10.0,
              "V_m": 0.0, "V_th": 20.0}
    exc = nest.Create("iaf_psc_delta", n_e, params=params)
    inh = nest.Create("iaf_psc_delta", n_i, params=params)
    for pop in (exc, inh):
        pop.V_m = nest.random.uniform(0.0, 20.0)
    noise = nest.Create("poisson_generator", params={"rate": nu_ext * c_e})
    nest.Connect(noise, exc + inh, syn_spec={"weight": j, "delay": 1.5})
    conn = {"rule": "fixed_indegree", "allow_autapses": False, "allow_multapses": False}
    nest.Connect(exc, exc + inh, {**conn, "indegree": c_e}, {"weight": j, "delay": 1.5})
    nest.Connect(inh, exc + inh, {**conn, "indegree": c_i}, {"weight": -g * j, "delay": 1.5})
    recorders = {"exc": nest.Create("spike_recorder"), "inh": nest.Create("spike_recorder")}
    nest.Connect(exc, recorders["exc"])
    nest.Connect(inh, recorders["inh"])
    nest.Simulate(duration)
    out = {}
    for name, rec, size in (("exc", recorders["exc"], n_e), ("inh", recorders["inh"], n_i)):
        ev = rec.get("events")
        senders, times = np.asarray(ev["senders"]), np.asarray(ev["times"])
        cvs = []
        for sender in np.unique(senders):
            isi = np.diff(np.sort(times[senders == sender]))
            if isi.size > 1 and isi.mean() > 0:
                cvs.append(isi.std() / isi.mean())
        out[name] = (times.size / size / (duration * 1e-3),
                     float(np.mean(cvs)) if cvs else float("nan"))
    return out


def reference_microcircuit(seed: int, duration: float, scale: float, warmup: float) -> dict:
    """The microcircuit written directly in PyNEST as NEST's Potjans_2014 example builds it
    (iaf_psc_exp, fixed_total_number, redrawn normal weights and delays, one
    poisson_generator per population, K-scaling compensation as DC), NEST's random numbers;
    rates over [warmup, warmup + duration] ms."""
    import math

    from adapters.nest.kernel import import_nest
    from adapters.spec.networks import (PD14_K_EXT, PD14_PROBABILITIES, PD14_SIZES, PD14_V0,
                                        _psc_per_psp)

    nest = import_nest("reference")
    nest.ResetKernel()
    nest.set(resolution=0.1, rng_seed=seed, print_time=False, local_num_threads=1)
    psc = 0.15 * _psc_per_psp(10.0, 0.5, 250.0)
    sizes = [int(round(n * scale)) for n in PD14_SIZES]
    mean_psc = [[psc * (2.0 if (t, s) == (0, 2) else 1.0) * (-4.0 if s % 2 else 1.0)
                 for s in range(8)] for t in range(8)]
    full = [[math.log(1 - c) / math.log(1 - 1 / (PD14_SIZES[s] * PD14_SIZES[t]))
             for s, c in enumerate(row)] for t, row in enumerate(PD14_PROBABILITIES)]
    pops = []
    for t in range(8):
        rec = sum(mean_psc[t][s] * full[t][s] / PD14_SIZES[t] * PD14_RATES[s] for s in range(8))
        dc = 0.001 * 0.5 * (1 - math.sqrt(scale)) * (rec + psc * PD14_K_EXT[t] * 8.0)
        pop = nest.Create("iaf_psc_exp", sizes[t], params={
            "C_m": 250.0, "tau_m": 10.0, "tau_syn_ex": 0.5, "tau_syn_in": 0.5, "E_L": -65.0,
            "V_th": -50.0, "V_reset": -65.0, "t_ref": 2.0, "I_e": dc})
        pop.V_m = nest.random.normal(mean=PD14_V0[t][0], std=PD14_V0[t][1])
        pops.append(pop)
    for t in range(8):
        for s in range(8):
            n_syn = int(round(full[t][s] * scale * scale))
            if not n_syn:
                continue
            w = mean_psc[t][s] / math.sqrt(scale)
            bounds = {"min": 0.0, "max": float("inf")} if w > 0 else {"min": float("-inf"), "max": 0.0}
            d = 1.5 if s % 2 == 0 else 0.75
            nest.Connect(pops[s], pops[t], {"rule": "fixed_total_number", "N": n_syn}, {
                "synapse_model": "static_synapse",
                "weight": nest.math.redraw(nest.random.normal(mean=w, std=0.1 * abs(w)), **bounds),
                "delay": nest.math.redraw(nest.random.normal(mean=d, std=0.5 * d),
                                          min=0.05, max=float("inf"))})
        noise = nest.Create("poisson_generator", params={"rate": 8.0 * round(PD14_K_EXT[t] * scale)})
        nest.Connect(noise, pops[t], "all_to_all",
                     {"weight": psc / math.sqrt(scale), "delay": 1.5})
    recorders = [nest.Create("spike_recorder", params={"start": warmup}) for _ in range(8)]
    for pop, rec in zip(pops, recorders):
        nest.Connect(pop, rec)
    nest.Simulate(warmup + duration)
    return {name: (rec.get("n_events") / size / (duration * 1e-3), float("nan"))
            for name, rec, size in zip(PD14_POPULATIONS, recorders, sizes)}


def reference(name: str, seed: int, duration: float, warmup: float = 0.0) -> dict:
    if name == "microcircuit_small":
        return reference_microcircuit(seed, duration, 0.1, warmup)
    if name == "microcircuit":  # full scale is beyond this machine: the published table
        return {pop: (rate, float("nan")) for pop, rate in zip(PD14_POPULATIONS, PD14_RATES)}
    if name == "cuba":
        return reference_cuba(seed, duration)
    if name == "coba":
        return reference_coba(seed, duration)
    if name.startswith("brunel2000"):
        tail = name.removeprefix("brunel2000").lstrip("_")
        if tail == "small":
            return reference_brunel("c", seed, duration, scale=0.2)
        return reference_brunel(tail or "c", seed, duration)
    raise SystemExit(f"no reference implementation for {name!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--backends", default="spark-native")
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated ms")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="ms simulated first and left out of the rates (ours only)")
    parser.add_argument("--reference-only", action="store_true")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--cache-dir", default=".cache/spark-bench")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    if not args.reference_only:
        for backend in args.backends.split(","):
            for seed in seeds:
                start = time.perf_counter()
                rows.append((backend, seed, ours(args.network, backend, seed, args.duration,
                                                 args.cache_dir, args.warmup),
                             time.perf_counter() - start))
                print(_line(*rows[-1]), flush=True)
    if not args.no_reference:
        published = args.network == "microcircuit"  # a table: one row, no seed
        for seed in seeds[:1] if published else seeds:
            start = time.perf_counter()
            rows.append(("reference", seed, reference(args.network, seed, args.duration,
                                                      args.warmup),
                         time.perf_counter() - start))
            print(_line(*rows[-1]), flush=True)
    return 0


def _line(who: str, seed: int, act: dict, seconds: float) -> str:
    cells = "  ".join(f"{pop} {rate:6.2f} Hz (CV {cv:.2f})" for pop, (rate, cv) in act.items())
    return f"{who:<26} seed {seed}: {cells}   [{seconds:.0f} s]"


if __name__ == "__main__":
    raise SystemExit(main())
