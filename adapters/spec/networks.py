"""Built-in networks: ``paper8``, ``paper8x8`` (paper8 at 8x the pool size, the same
in-degree: the size study), ``paper7``, ``tiny``, ``cuba``, ``cuba_small``,
``brunel2000`` (regime C; ``brunel2000_a`` ... ``_d`` the paper's four regimes,
``brunel2000_small`` a scaled one), ``coba``, ``coba_small``, ``microcircuit`` and
``microcircuit_small`` (Potjans & Diesmann 2014, full size and scale 0.1), and
``cartpole_agent`` (the Spark paper's A-vs-B cartpole agent with reward-modulated STDP,
driven by :mod:`benchmarks.control`).

``paper8`` follows the Spark paper's figure-1 benchmark (8 self-recurrent pools of 1024
neurons, "non-trivial connectivity among them", dt 0.1 ms, 1 s). The paper does not publish
its parameters, so ours are chosen to match its description and the project's reference
probe network (LIF, tau_m 10 ms, p = 0.05 between every pair of pools, v += w, ~10.6 Hz): each pool excites itself and, more weakly, its ring neighbour; it inhibits every
other pool, most strongly the opposite one (the "A vs B" bias of the paper's cartpole
agent, generalised to 8 pools). A Poisson input of 1024 sources feeds every pool
(p = 0.05) and is driven in closed loop by the pools' spike counts. Delays 1-2 ms.
The constant drive (i_offset 1.5 mV) and input weight (1 mV) were tuned with a numpy
reference of the pinned LIF semantics to ~11 Hz per pool over 1 s (float64, seed 1),
close to the ~10.6 Hz of that probe.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .model import (
    LIF,
    AllToAll,
    Conductance,
    Constant,
    Exponential,
    FixedInDegree,
    FixedProbability,
    FixedTotalNumber,
    NetworkSpec,
    Normal,
    PoissonDrive,
    PoissonInput,
    Population,
    Projection,
    RewardModulatedSTDP,
    Simulation,
    TruncatedNormal,
    Uniform,
)


def pools_network(name: str, n_pools: int, pool_size: int = 1024, *, p: float = 0.05,
                  duration: float = 1000.0, description: str = "") -> NetworkSpec:
    """``n_pools`` self-recurrent LIF pools with ring excitation and cross inhibition."""
    lif = LIF(tau_m=10.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=2.0, i_offset=1.5)
    pops = tuple(
        Population(name=f"pool{i}", size=pool_size, model=lif,
                   initial={"v": Uniform(low=-65.0, high=-50.0)})
        for i in range(n_pools)
    )
    projections: list[Projection] = []
    for i in range(n_pools):
        projections.append(Projection(
            name=f"input_to_pool{i}", source="input", target=f"pool{i}",
            connector=FixedProbability(p=p), weight=Normal(mean=1.0, std=0.1),
            delay=Constant(value=1.0)))
    for i in range(n_pools):
        for j in range(n_pools):
            if i == j:
                weight, delay = Normal(mean=0.2, std=0.02), Constant(value=1.0)
            elif j == (i + 1) % n_pools:
                weight, delay = Normal(mean=0.1, std=0.01), Constant(value=1.5)
            elif n_pools % 2 == 0 and j == (i + n_pools // 2) % n_pools:
                weight, delay = Normal(mean=-0.4, std=0.04), Constant(value=2.0)
            else:
                weight, delay = Normal(mean=-0.1, std=0.01), Uniform(low=1.0, high=2.0)
            projections.append(Projection(
                name=f"pool{i}_to_pool{j}", source=f"pool{i}", target=f"pool{j}",
                connector=FixedProbability(p=p), weight=weight, delay=delay))
    return NetworkSpec(
        name=name,
        description=description,
        populations=pops,
        input=PoissonInput(name="input", size=pool_size, rate=20.0, max_rate=200.0,
                           feedback_gain=0.5),
        projections=tuple(projections),
        simulation=Simulation(dt=0.1, duration=duration,
                              timesteps=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000)),
    )


def paper8() -> NetworkSpec:
    return pools_network("paper8", 8, description=(
        "Spark paper figure 1: 8 self-recurrent pools x 1024 LIF, ring excitation, "
        "cross inhibition, 1024 Poisson inputs in closed loop, dt 0.1 ms, 1 s."))


PAPER8X8_SCALE = 8
"""How much larger ``paper8x8``'s pools are than ``paper8``'s."""


def paper8x8() -> NetworkSpec:
    """``paper8`` at 8x the pool size, for the size study: 8 pools x 8192 LIF neurons
    (65,536) and 8192 Poisson inputs, every connection probability divided by 8 (0.05 / 8),
    so each neuron keeps paper8's expected in-degree (~461: 51.2 from the input and from
    each pool) and the network has 8x its synapses (~30 M). Weights, delays, drive and
    timing as paper8; the firing rates are paper8's only in the mean-field sense (same mean
    input per neuron)."""
    scale = PAPER8X8_SCALE
    return pools_network("paper8x8", 8, pool_size=1024 * scale, p=0.05 / scale, description=(
        f"paper8 at {scale}x the pool size for the size study: 8 pools x {1024 * scale} LIF, "
        f"{1024 * scale} Poisson inputs, connection probability 0.05/{scale} (in-degree as "
        "paper8's), dt 0.1 ms, 1 s."))


def paper7() -> NetworkSpec:
    return pools_network("paper7", 7, description=(
        "The paper's 7-pool variant: 7 pools x 1024 LIF, otherwise as paper8."))


def tiny() -> NetworkSpec:
    """A few dozen neurons for tests: both synapse models, delays of 1-3 steps, closed loop."""
    lif = LIF(tau_m=10.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=1.0, i_offset=10.0)
    pops = (
        Population(name="a", size=40, model=lif, initial={"v": Uniform(low=-65.0, high=-50.0)}),
        Population(name="b", size=30, model=lif, initial={"v": Uniform(low=-65.0, high=-50.0)}),
    )
    projections = (
        Projection(name="input_to_a", source="input", target="a",
                   connector=FixedProbability(p=0.3), weight=Constant(value=2.0),
                   delay=Constant(value=0.1)),
        Projection(name="input_to_b", source="input", target="b",
                   connector=FixedProbability(p=0.3), weight=Constant(value=2.0),
                   delay=Constant(value=0.2)),
        Projection(name="a_to_a", source="a", target="a", connector=FixedProbability(p=0.2),
                   weight=Normal(mean=0.5, std=0.1), delay=Uniform(low=0.1, high=0.3)),
        Projection(name="a_to_b", source="a", target="b", connector=FixedProbability(p=0.2),
                   weight=Normal(mean=3.0, std=0.3), delay=Constant(value=0.3),
                   synapse=Exponential(tau_syn=2.0)),
        Projection(name="b_to_a", source="b", target="a", connector=FixedProbability(p=0.2),
                   weight=Normal(mean=-1.0, std=0.1), delay=Constant(value=0.2)),
    )
    return NetworkSpec(
        name="tiny",
        description="Test network: 2 LIF pools (40 + 30), 20 Poisson inputs, delta and "
                    "exponential synapses, delays 1-3 steps, closed loop, 100 ms.",
        populations=pops,
        input=PoissonInput(name="input", size=20, rate=50.0, max_rate=400.0, feedback_gain=0.5),
        projections=projections,
        simulation=Simulation(dt=0.1, duration=100.0, timesteps=(1, 10, 100, 1000),
                              dtype="float64"),
    )


STANDARD_TIMESTEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000)
"""The execution timesteps k the standard networks sweep by default."""

NO_INPUT = PoissonInput(name="input", size=1, rate=0.0)
"""The input of networks that have none of their own: one silent source (the spec requires
an input population)."""


def _brette_network(name: str, n_neurons: int, duration: float, lif: LIF, initial: dict,
                    synapses: tuple, weights: tuple[float, float], source: str,
                    receptors: str) -> NetworkSpec:
    """What Brette et al. (2007)'s benchmarks 1 (COBA) and 2 (CUBA) share: 80 % excitatory
    / 20 % inhibitory neurons of one model, connection probability 0.02 at 4000 neurons
    (scaled to keep the in-degree, 80, at other sizes; self-connections allowed, as Brian2's
    ``connect(p=...)``), one excitatory and one inhibitory synapse model and weight, and
    one step (0.1 ms) of delay where the scripts have none."""
    n_exc = n_neurons * 4 // 5
    p = 0.02 * 4000 / n_neurons
    pops = (Population(name="exc", size=n_exc, model=lif, initial=initial),
            Population(name="inh", size=n_neurons - n_exc, model=lif, initial=initial))
    kinds = dict(zip(("exc", "inh"), zip(synapses, weights)))
    projections = tuple(
        Projection(name=f"{src}_to_{tgt}", source=src, target=tgt,
                   connector=FixedProbability(p=p, allow_self=src == tgt),
                   weight=Constant(value=kinds[src][1]), delay=Constant(value=0.1),
                   synapse=kinds[src][0])
        for src in ("exc", "inh") for tgt in ("exc", "inh"))
    return NetworkSpec(
        name=name, description=(f"{source}: {n_exc} exc + {n_neurons - n_exc} inh LIF, "
                                f"{receptors}, p={p:g}"),
        populations=pops, input=NO_INPUT, projections=projections,
        simulation=Simulation(dt=0.1, duration=duration, timesteps=STANDARD_TIMESTEPS))


def cuba_network(name: str, n_neurons: int = 4000, duration: float = 1000.0) -> NetworkSpec:
    """Brette et al. (2007) benchmark 2 (COBA's current-based sibling), as Brian2's own
    ``examples/CUBA.py`` writes it: 80 % excitatory / 20 % inhibitory LIF neurons,
    ``dv/dt = (ge + gi - (v - El)) / taum`` with taum 20 ms, El -49 mV (above the -50 mV
    threshold: the drive is intrinsic, there is no external input), reset -60 mV,
    refractory 5 ms; excitatory currents decay with 5 ms (weight 60 * 0.27 / 10 = 1.62 mV),
    inhibitory with 10 ms (weight -20 * 4.5 / 10 = -9 mV): two receptors per neuron.
    Connection probability 0.02 at 4000 neurons (self-connections allowed, as Brian2's
    ``connect(p=...)``); a smaller ``n_neurons`` scales it to keep the in-degree (80).
    Initial v uniform in [-60, -50) mV. One deliberate difference: Brian2's example
    delivers in the same step (no delay); the spec's minimum delay is one step (0.1 ms,
    also NEST's minimum), so every synapse here has a 0.1 ms delay. The input
    population (one silent source) exists only because the spec has one."""
    lif = LIF(tau_m=20.0, v_rest=-49.0, v_reset=-60.0, v_thresh=-50.0, t_ref=5.0, i_offset=0.0)
    return _brette_network(
        name, n_neurons, duration, lif, {"v": Uniform(low=-60.0, high=-50.0)},
        (Exponential(tau_syn=5.0), Exponential(tau_syn=10.0)), (1.62, -9.0),
        "CUBA (Brette et al. 2007; Brian2 examples/CUBA.py)", "5/10 ms current receptors")


def cuba() -> NetworkSpec:
    return cuba_network("cuba")


def cuba_small() -> NetworkSpec:
    """CUBA at 800 neurons (in-degree kept at 80): for tests and quick runs."""
    return cuba_network("cuba_small", 800)


def coba_network(name: str, n_neurons: int = 4000, duration: float = 1000.0) -> NetworkSpec:
    """Brette et al. (2007) benchmark 1 (COBA; Vogels & Abbott 2005): 80 % excitatory /
    20 % inhibitory LIF neurons with conductance synapses,
    ``C dv/dt = g_l (E_l - v) + g_e (E_e - v) + g_i (E_i - v)`` with C = 200 pF,
    g_l = 10 nS (tau_m 20 ms), E_l -60 mV, threshold -50 mV, reset -60 mV, refractory
    5 ms, E_e 0 mV, E_i -80 mV, tau_e 5 ms, tau_i 10 ms, increments 6 nS and 67 nS (0.6
    and 6.7 in units of g_l, the spec's conductance unit), connection probability 0.02 at
    4000 neurons (scaled to keep the in-degree, 80, at other sizes; self-connections
    allowed, as Brian2's ``connect(p=...)``). Initial state as the benchmark's Brian script
    (Brette et al. 2007's COBA.py, written with v relative to rest) draws it: v ~ N(-65, 5)
    mV, g_e ~ N(4, 1.5), g_i ~ N(20, 12) in units of g_l, unclipped: the few negative
    inhibitory conductances push their neurons over threshold, and that starting kick
    makes the network self-sustained (with zero conductances it stays silent). Integration:
    the spec's pinned exponential-Euler step (Brian2's ``exponential_euler`` for this
    model). Delays: one step (0.1 ms); the Brian script has none. The input population (one
    silent source) exists
    only because the spec requires one."""
    lif = LIF(tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_thresh=-50.0, t_ref=5.0, i_offset=0.0)
    init = {"v": Normal(mean=-65.0, std=5.0), "g0": Normal(mean=4.0, std=1.5),
            "g1": Normal(mean=20.0, std=12.0)}
    return _brette_network(
        name, n_neurons, duration, lif, init,
        (Conductance(tau_syn=5.0, e_rev=0.0), Conductance(tau_syn=10.0, e_rev=-80.0)),
        (0.6, 6.7), "COBA (Brette et al. 2007 benchmark 1)",
        "conductance receptors 5 ms/0 mV and 10 ms/-80 mV")


def coba() -> NetworkSpec:
    return coba_network("coba")


def coba_small() -> NetworkSpec:
    """COBA at 800 neurons (in-degree kept at 80): for tests and quick runs."""
    return coba_network("coba_small", 800)


BRUNEL_REGIMES: dict[str, tuple[float, float, str]] = {
    "a": (3.0, 2.0, "synchronous regular (SR)"),
    "b": (6.0, 4.0, "synchronous irregular, fast oscillation (SI fast)"),
    "c": (5.0, 2.0, "asynchronous irregular (AI)"),
    "d": (4.5, 0.9, "synchronous irregular, slow oscillation (SI slow)"),
}
"""Brunel (2000) figure 8: regime -> (g, eta = nu_ext / nu_thr, name)."""


def brunel_network(name: str, regime: str = "c", scale: float = 1.0,
                   duration: float = 1000.0) -> NetworkSpec:
    """Brunel (2000), "Dynamics of sparsely connected networks of excitatory and
    inhibitory spiking neurons", model A: N_E = 10000 and N_I = 2500 LIF neurons
    (tau_m 20 ms, threshold 20 mV, reset 10 mV, rest 0 mV, refractory 2 ms), each
    receiving C_E = eps N_E excitatory and C_I = eps N_I inhibitory inputs (eps = 0.1,
    fixed in-degree, no autapses) as voltage jumps J = 0.1 mV and -g J after D = 1.5 ms,
    plus C_ext = C_E independent external Poisson sources of nu_ext = eta nu_thr each,
    nu_thr = theta / (J C_E tau_m) = 10 Hz (a drive per population: the same counts every
    backend receives). ``regime`` picks (g, eta) of the paper's figure 8 (a: SR, b: SI fast,
    c: AI, d: SI slow). ``scale`` < 1 shrinks N_E, N_I and the in-degrees by ``scale`` and
    grows J by 1/scale, which keeps nu_thr and the mean input but not the fluctuations:
    a scaled network is a benchmark of the same structure, not the paper's dynamics.
    Initial v uniform in [0, 20) mV (the paper's analysis is of the stationary state). The
    input population (one silent source) exists only because the spec requires one."""
    g, eta, label = BRUNEL_REGIMES[regime]
    n_exc, n_inh = int(round(10000 * scale)), int(round(2500 * scale))
    c_exc, c_inh = int(round(1000 * scale)), int(round(250 * scale))
    j = 0.1 / scale
    tau_m, theta = 20.0, 20.0
    nu_thr = theta / (j * c_exc * tau_m) * 1e3  # Hz
    lif = LIF(tau_m=tau_m, v_rest=0.0, v_reset=10.0, v_thresh=theta, t_ref=2.0, i_offset=0.0)
    init = {"v": Uniform(low=0.0, high=theta)}
    pops = (Population(name="exc", size=n_exc, model=lif, initial=init),
            Population(name="inh", size=n_inh, model=lif, initial=init))
    projections = tuple(
        Projection(name=f"{src}_to_{tgt}", source=src, target=tgt,
                   connector=FixedInDegree(n=c_exc if src == "exc" else c_inh),
                   weight=Constant(value=j if src == "exc" else -g * j),
                   delay=Constant(value=1.5))
        for src in ("exc", "inh") for tgt in ("exc", "inh"))
    drives = tuple(PoissonDrive(name=f"ext_{tgt}", target=tgt, rate=eta * nu_thr,
                                n_sources=c_exc, weight=j) for tgt in ("exc", "inh"))
    return NetworkSpec(
        name=name, description=(
            f"Brunel 2000 regime {regime.upper()} ({label}; g={g:g}, eta={eta:g}): "
            f"{n_exc} exc + {n_inh} inh LIF, in-degree {c_exc}/{c_inh}, J={j:g} mV, "
            f"D=1.5 ms, {c_exc} external Poisson sources per neuron at {eta * nu_thr:g} Hz"),
        populations=pops, input=NO_INPUT, projections=projections, drives=drives,
        simulation=Simulation(dt=0.1, duration=duration, timesteps=STANDARD_TIMESTEPS))


def _brunel(regime: str) -> Callable[[], NetworkSpec]:
    def build() -> NetworkSpec:
        return brunel_network(f"brunel2000_{regime}", regime)

    build.__doc__ = f"Brunel (2000) regime {regime.upper()}, full size."
    return build


def brunel2000() -> NetworkSpec:
    """Brunel (2000) at full size in the asynchronous irregular regime C (g=5, eta=2)."""
    return brunel_network("brunel2000", "c")


def brunel2000_small() -> NetworkSpec:
    """Brunel (2000) regime C at scale 0.2 (2500 neurons, in-degree 200/50, J 0.5 mV): for
    tests and quick runs."""
    return brunel_network("brunel2000_small", "c", scale=0.2)


# ----------------------------------------------------------------- Potjans & Diesmann (2014)

PD14_POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
PD14_SIZES = (20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948)
PD14_PROBABILITIES = (  # row: target, column: source (order of PD14_POPULATIONS)
    (0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0),
    (0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0),
    (0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0),
    (0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0),
    (0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0),
    (0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0),
    (0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252),
    (0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443),
)
PD14_K_EXT = (1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100)
PD14_V0 = ((-68.28, 5.36), (-63.16, 4.57), (-63.33, 4.74), (-63.45, 4.94), (-63.11, 4.94),
           (-61.66, 4.55), (-66.72, 5.46), (-61.43, 4.48))  # "optimized" initial v (mV)
PD14_RATES = (0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829)
"""Full-scale mean rates (Hz) of the INM-6 reference implementation (microcircuit-PD14-model,
``parameter_definitions.py``): the literature values our runs are compared with, and what
the down-scaling compensation uses, as NEST's example does."""


def _psc_per_psp(tau_m: float, tau_syn: float, c_m: float) -> float:
    """PSC amplitude (pA) per mV of PSP peak for iaf_psc_exp (NEST example's helper)."""
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / c_m * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac ** tau_m - frac ** tau_syn))


def microcircuit_network(name: str, scale: float = 1.0, duration: float = 1000.0,
                         background: str = "poisson") -> NetworkSpec:
    """Potjans & Diesmann (2014), the cortical microcircuit, as NEST's ``Potjans_2014``
    example and the INM-6 reference implementation write it: 8 populations (L2/3, L4, L5,
    L6, excitatory and inhibitory; 77,169 neurons), LIF with exponential currents (C_m 250
    pF, tau_m 10 ms, tau_syn 0.5 ms, E_L = V_reset -65 mV, V_th -50 mV, t_ref 2 ms; in the
    spec's units a current I pA is I * tau_m / C_m mV), ``fixed_total_number`` connectivity
    with ``Q = ln(1 - C) / ln(1 - 1/(N_pre N_post))`` synapses per projection (multapses
    and autapses allowed), PSP 0.15 mV (PSC 87.81 pA; L4E -> L2/3E doubled; inhibitory
    g = -4) with 10 % relative spread, redrawn to keep their sign (NEST's ``redraw``),
    delays 1.5 +- 0.75 ms (exc) and 0.75 +- 0.375 ms (inh) redrawn below dt/2, the
    "optimized" initial v per population, and a Poisson background of K_ext sources at 8 Hz
    per neuron (``background="dc"``: the equivalent DC current instead).

    ``scale`` scales the neuron numbers and the in-degrees together (NEST's N_scaling =
    K_scaling); below 1 the weights grow by 1/sqrt(scale) and a DC current compensates the
    lost mean input, computed from the full-scale rates :data:`PD14_RATES`, as the NEST
    example does. One population per spec population, all readouts. The input population
    (one silent source) exists only because the spec requires one."""
    tau_m, tau_syn, c_m = 10.0, 0.5, 250.0
    mv_per_pa = tau_m / c_m
    psc = 0.15 * _psc_per_psp(tau_m, tau_syn, c_m)  # 87.81 pA
    sizes = [max(1, int(round(n * scale))) for n in PD14_SIZES]
    n_pops = len(PD14_POPULATIONS)
    mean_psc = [[psc * (2.0 if (t, s) == (0, 2) else 1.0) * (-4.0 if s % 2 else 1.0)
                 for s in range(n_pops)] for t in range(n_pops)]
    full_syn = [[math.log(1.0 - c) / math.log(1.0 - 1.0 / (PD14_SIZES[s] * PD14_SIZES[t]))
                 for s, c in enumerate(row)] for t, row in enumerate(PD14_PROBABILITIES)]
    weight_scale = 1.0 / math.sqrt(scale)
    dc = []  # pA per target population
    for t in range(n_pops):
        recurrent = sum(mean_psc[t][s] * full_syn[t][s] / PD14_SIZES[t] * PD14_RATES[s]
                        for s in range(n_pops))
        external = psc * PD14_K_EXT[t] * 8.0
        amp = 0.001 * tau_syn * (1.0 - math.sqrt(scale)) * (recurrent + external)
        if background == "dc":
            amp += 0.001 * tau_syn * external
        dc.append(amp)
    receptor = Exponential(tau_syn=tau_syn)
    pops = tuple(
        Population(name=pop, size=sizes[i],
                   model=LIF(tau_m=tau_m, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0,
                             t_ref=2.0, i_offset=dc[i] * mv_per_pa),
                   initial={"v": Normal(mean=PD14_V0[i][0], std=PD14_V0[i][1])})
        for i, pop in enumerate(PD14_POPULATIONS))
    projections = []
    for t, target in enumerate(PD14_POPULATIONS):
        for s, source in enumerate(PD14_POPULATIONS):
            n_syn = int(round(full_syn[t][s] * scale * scale))
            if n_syn == 0:
                continue
            w = mean_psc[t][s] * weight_scale * mv_per_pa
            weight = (TruncatedNormal(mean=w, std=0.1 * abs(w), low=0.0) if w > 0 else
                      TruncatedNormal(mean=w, std=0.1 * abs(w), high=0.0))
            d = 1.5 if s % 2 == 0 else 0.75
            projections.append(Projection(
                name=f"{source}_to_{target}", source=source, target=target,
                connector=FixedTotalNumber(n=n_syn), weight=weight,
                delay=TruncatedNormal(mean=d, std=0.5 * d, low=0.05), synapse=receptor))
    drives = ()
    if background == "poisson":
        drives = tuple(PoissonDrive(name=f"bg_{pop}", target=pop, rate=8.0,
                                    n_sources=max(1, int(round(PD14_K_EXT[i] * scale))),
                                    weight=psc * weight_scale * mv_per_pa, synapse=receptor)
                       for i, pop in enumerate(PD14_POPULATIONS))
    return NetworkSpec(
        name=name, description=(
            f"Potjans & Diesmann 2014 cortical microcircuit at scale {scale:g}: "
            f"{sum(sizes):,d} LIF neurons in 8 populations, fixed_total_number connectivity, "
            f"exponential currents 0.5 ms, {background} background"),
        populations=pops, input=NO_INPUT, projections=tuple(projections), drives=drives,
        simulation=Simulation(dt=0.1, duration=duration, timesteps=STANDARD_TIMESTEPS))


def microcircuit() -> NetworkSpec:
    """The microcircuit at full size (77,169 neurons, ~0.3 billion synapses), 1 s."""
    return microcircuit_network("microcircuit")


def microcircuit_small() -> NetworkSpec:
    """The microcircuit at scale 0.1 (7,717 neurons, ~3 million synapses): for tests and
    quick runs (weights x sqrt(10), DC compensation; see microcircuit_network)."""
    return microcircuit_network("microcircuit_small", scale=0.1)


def cartpole_agent(pool_size: int = 20, inh_size: int = 10, n_inputs: int = 40,
                   i_offset: float = 5.0, plasticity: RewardModulatedSTDP | None = None,
                   tau_m: float = 20.0, recurrent: float = 0.0, inhibition: float = 4.0,
                   input_weight: tuple[float, float] = (0.2, 0.6)) -> NetworkSpec:
    """The Spark paper's cartpole agent (its figure 1c): two excitatory pools A and B, each
    with an inhibitory partner that inhibits the *other* side, so activity on A suppresses B
    and vice versa. The place-coded observation reaches both excitatory pools through
    reward-modulated STDP synapses (all to all); the action is the pool with the larger
    traced activity (readouts ``a_exc``, ``b_exc``). The paper publishes the architecture
    and the rule, not the parameters. Ours, and why:

    * the pools rest 10 mV below threshold (``i_offset`` 5 mV) and have no
      recurrent excitation by default (``recurrent`` > 0 adds it, p = 0.2): a pool at
      threshold with recurrence keeps the last winner on for chunks on end, whatever the
      input says, and the loser, silent, never gets eligibility to learn from;
    * cross-inhibition 4 mV: at 2 the pools fire together (the eligibility barely says
      which side acted), at 6 one side wins outright; 3-4 learned best of 2-6 (10 agents,
      100 episodes each; README);
    * with a hand-set linear policy (angle, angular velocity and, more weakly, cart
      position and velocity) in the input weights this network balances 10 of 10
      episodes for the full 500 steps at 800 Hz place-code peaks: it can express a
      solution, the question is learning it;
    * lr 0.05, w in [0, 2]: larger rates learn faster and then collapse (one side wins
      everywhere); the eligibility trace reaches ~1-3 over half a second.

    dt 1 ms as in the paper. The learning result and what was tried are in the README's
    cartpole section."""
    lif = LIF(tau_m=tau_m, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=2.0, i_offset=i_offset)
    inh = LIF(tau_m=tau_m, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=2.0, i_offset=0.0)
    rule = plasticity or RewardModulatedSTDP(tau_pre=20.0, tau_post=20.0, tau_elig=500.0,
                                             a_plus=0.01, a_minus=0.002, lr=0.05,
                                             w_min=0.0, w_max=2.0)
    pops = tuple(Population(name=name, size=size, model=model,
                            initial={"v": Uniform(low=-65.0, high=-55.0)})
                 for name, size, model in (("a_exc", pool_size, lif), ("b_exc", pool_size, lif),
                                           ("a_inh", inh_size, inh), ("b_inh", inh_size, inh)))
    projections = [
        Projection(name=f"input_to_{side}_exc", source="input", target=f"{side}_exc",
                   connector=AllToAll(), weight=Uniform(low=input_weight[0], high=input_weight[1]),
                   plasticity=rule)
        for side in ("a", "b")]
    for side, other in (("a", "b"), ("b", "a")):
        if recurrent:
            projections.append(
                Projection(name=f"{side}_exc_to_{side}_exc", source=f"{side}_exc",
                           target=f"{side}_exc", connector=FixedProbability(p=0.2),
                           weight=Constant(value=recurrent)))
        projections += [
            Projection(name=f"{side}_exc_to_{side}_inh", source=f"{side}_exc",
                       target=f"{side}_inh", connector=FixedProbability(p=0.5),
                       weight=Constant(value=inhibition)),
            Projection(name=f"{side}_inh_to_{other}_exc", source=f"{side}_inh",
                       target=f"{other}_exc", connector=FixedProbability(p=0.5),
                       weight=Constant(value=-inhibition)),
        ]
    return NetworkSpec(
        name="cartpole_agent",
        description="Spark paper cartpole agent: A vs B excitatory pools with cross-inhibiting "
                    f"partners ({pool_size}+{pool_size} exc, {inh_size}+{inh_size} inh LIF), "
                    f"{n_inputs} place-coded inputs through reward-modulated STDP, dt 1 ms.",
        populations=pops,
        input=PoissonInput(name="input", size=n_inputs, rate=50.0, max_rate=800.0),
        projections=tuple(projections),
        readouts=("a_exc", "b_exc"),
        simulation=Simulation(dt=1.0, duration=1000.0, timesteps=(10, 50, 100),
                              dtype="float32"),
    )


BUILTIN: dict[str, Callable[[], NetworkSpec]] = {
    "paper8": paper8, "paper8x8": paper8x8, "paper7": paper7, "tiny": tiny, "cuba": cuba, "cuba_small": cuba_small,
    "coba": coba, "coba_small": coba_small,
    "brunel2000": brunel2000, "brunel2000_small": brunel2000_small,
    **{f"brunel2000_{r}": _brunel(r) for r in BRUNEL_REGIMES},
    "microcircuit": microcircuit, "microcircuit_small": microcircuit_small,
    "cartpole_agent": cartpole_agent,
}
