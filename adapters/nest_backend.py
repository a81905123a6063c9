"""NEST 3 backend: the shared LIF network translated into NEST's exactly integrated models.

Two modes share one translation (:func:`translate`, pure, no NEST import) and one kernel
wrapper (:class:`_Kernel`):

* ``nest`` (:class:`NestClosedLoop`): ``nest.Prepare()`` once, ``nest.Run(k * dt)`` per chunk
  with that chunk's input spikes written into the spike generators first, ``nest.Cleanup()``
  at close — a true closed loop: state and spikes in flight carry from chunk to chunk.
* ``nest-uninterrupted`` (:class:`NestUninterrupted`): open loop, every input spike set in
  advance, one ``nest.Simulate(n_steps * dt)``.

NEST is float64 only (``dtypes={"float64"}``). Only LIF with delta and exponential synapses
is translated; ALIF, AdEx, Izhikevich and plasticity raise :class:`UnsupportedSpec` with
the reason (see :func:`translate`).

Units (spec: mV, ms; NEST: mV, ms, pF, pA)
    Every neuron gets ``C_m = tau_m`` (numerically, pF with tau_m in ms), i.e. a membrane
    resistance ``R_m = tau_m / C_m = 1 GOhm``, so 1 pA of current sustains 1 mV:
    NEST's ``dV/dt = -(V - E_L)/tau_m + I/C_m`` becomes ``(E_L - V + I)/tau_m``, the spec's
    ``(v_rest - v + i_offset + I_syn)/tau_m`` with ``I`` in pA standing for mV.
    Hence ``E_L = v_rest``, ``V_th = v_thresh``, ``I_e = i_offset * C_m / tau_m = i_offset``
    (pA), and an exponential weight ``w`` (mV) is a NEST weight of ``w * C_m / tau_m = w`` pA:
    NEST's exact propagator ``P21 = tau_syn tau_m / (C_m (tau_m - tau_syn)) (P22 - P11)``
    times ``w`` pA is the spec's ``w tau_syn/(tau_syn - tau_m) (P11 - P22)`` mV.
    ``iaf_psc_exp``'s ``tau_syn_ex = tau_syn_in = tau_syn`` (it splits by weight sign).

Step convention (measured on single neurons, pinned by tests/nest)
    NEST step n advances from ``n dt`` to ``(n + 1) dt``; a spike emitted in it carries the
    time stamp ``(n + 1) dt`` and, with a delay of D steps, is read by its target in step
    ``n + D``. So spec step t = NEST step t of the run; a recorded spike time T is spec
    step ``round(T / dt) - 1``; an input spike of spec step s is a ``spike_generator`` time
    ``(s + 1) dt``. NEST's iaf models fire when ``V_m >= V_th``, the spec on ``v > v_thresh``
    (differs only on exact equality, a measure-zero event).

Why the models and transforms below are *exact* (same spikes, up to float rounding)
    NEST's ``iaf_psc_exp`` step has the spec's order: V is integrated with the currents of
    *before* this step's arrivals, arrivals are then added to the currents, then the
    threshold is tested. So exponential synapses keep their delay ``D = d`` and weight.
    Its refractory counter starts at the spike and freezes V for ``RefractoryCounts``
    further steps; the spec's first integrating update is at ``s + R``, so
    ``t_ref = max(R - 1, 0) dt``.

    NEST's ``iaf_psc_delta`` adds this step's arrivals to V *before* the threshold test,
    the spec after it (a jump delivered at t is first tested at t + 1, after one decay).
    Writing NEST's V as the spec's pre-delivery potential ``u_t`` (what the threshold sees),
    ``u_{t+1} = A(u_t + w) = A(u_t) + P22 w`` with ``A`` one decay step: a delta synapse
    becomes NEST delay ``D = d + 1`` with weight ``w * exp(-dt/tau_m)``. Refractoriness: the
    spec discards deliveries of steps ``s .. s+R-1`` and first integrates at ``s + R`` from
    ``v_reset``, i.e. ``u_{s+R} = A(v_reset)``. With ``t_ref = max(R, 1) dt`` NEST discards
    arrivals of steps ``s+1 .. s+R`` (the spec's ``s .. s+R-1``, shifted by one) and holds V
    at ``V_reset`` until ``s + R``; choosing ``V_reset = A(v_reset)`` makes that value the
    spec's ``u_{s+R}``. (Refused if ``A(v_reset) >= v_thresh``: NEST would fire while held.)
    R = 0 maps like R = 1: in the spec both only drop the delivery at the spike step, which
    the reset overwrites anyway. NEST's ``V_m`` of such a population is therefore the
    spec's pre-delivery potential, not ``v`` itself; spikes are what match.

    A population receiving *both* synapse kinds uses ``iaf_psc_exp_multisynapse`` with two
    receptors: ``tau_syn`` for the exponential synapses and ``tau_fast = dt/64`` for the
    delta synapses, whose current has decayed by ``exp(-64) ~ 1.6e-28`` (below float64
    resolution) after one step: a delta weight ``w`` becomes ``w * P22 / P21(tau_fast)`` pA,
    giving exactly the jump ``P22 w`` in the next step, with ``D = d``. The one deviation
    (documented in the build notes): NEST cannot discard a delta delivery that arrives in
    the *last* refractory step ``s + R - 1`` (or at the spike step when R = 0); it is applied
    at the first integrating step. Populations with one synapse kind only are exact.

Reset
    Networks without exponential synapses reset in place (NEST cannot rewind its clock, and
    synaptic currents are not settable): every ``V_m`` is set to ``-1e300`` (no spike can
    happen), generators are emptied, the kernel runs for ``max(max NEST delay, t_ref) + 1``
    steps so every spike in flight is consumed and every refractory counter runs out, then
    ``V_m`` is set back to the materialised initial values and the recorders are cleared;
    the run's origin moves to the new kernel time. Networks with exponential synapses are
    rebuilt (``ResetKernel`` and construction again).

Counting and recording
    One ``spike_recorder`` per readout population (per population when recording spikes);
    a chunk's counts are the growth of ``n_events``. Reading ``n_events`` costs O(events
    stored) in PyNEST (the recorder's whole status is built) and recorder parameters are
    frozen between Prepare and Cleanup, so every ``RECORDER_DRAIN_EVENTS`` events the
    recorders are emptied — in the closed loop by stepping out (``Cleanup``, clear,
    ``Prepare``: ~1 ms, network state untouched), moving the events into a host-side log
    first when spikes are recorded. So "Prepare once" holds except for that pair every
    ~1000 readout spikes (every ~1 ms of biological time for paper8).

Verified (tests/nest): single-neuron jump size, PSP peak, refractory discard and delivery
step at 1e-9 relative margins; delta-only and exponential-only networks spike for spike
against a numpy reference of the spec for R = 0, 1, 2, 10; mixed networks identical to the
reference with the deviation above; paper8 (float64, 1 s, 90 606 spikes) identical to the
spark engine.

NEST's kernel is a process-wide singleton: building one backend instance invalidates any
other; an invalidated instance rebuilds itself on its next :meth:`reset`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .base import (
    sorted_spikes,
    Backend,
    BackendFailed,
    BackendOptions,
    BackendUnavailable,
    BuildReport,
    Capabilities,
    ChunkInput,
    UnsupportedSpec,
)
from .spec.materialise import MaterialisedNetwork
from .spec.model import ALIF, LIF, AdEx, Delta, Exponential, Izhikevich

__all__ = ["BACKENDS", "NestClosedLoop", "NestUninterrupted", "NetworkPlan", "translate"]

INSTALL_HINT = "pip install -e '.[nest]'  (nest-simulator==3.10.0)"

FAST_TAU_STEPS = 64.0
"""The delta receptor of a mixed population has ``tau = dt / FAST_TAU_STEPS``: its current
is below float64 resolution (``exp(-64)``) one step after an arrival."""

DRAIN_V = -1e300
"""``V_m`` while draining in-flight spikes during an in-place reset: nothing can fire."""

RECORDER_DRAIN_EVENTS = 1000
"""The recorders are emptied once they hold this many events (reading NEST's ``n_events``
costs O(events stored), ~70 ns each; emptying costs ~1 ms)."""


# --------------------------------------------------------------------------- translation


@dataclass(frozen=True, kw_only=True)
class PopulationPlan:
    """One spec population as NEST sees it. ``kind`` is what it receives: ``"delta"``
    (``iaf_psc_delta``, also for no input), ``"exponential"`` (``iaf_psc_exp``) or
    ``"mixed"`` (``iaf_psc_exp_multisynapse``)."""

    name: str
    size: int
    kind: str
    model: str
    params: dict[str, object]
    refractory_steps: int  # NEST RefractoryCounts
    p22: float  # exp(-dt/tau_m)
    delta_scale: float  # NEST weight per spec delta weight
    delta_extra_delay: int  # NEST delay steps added to a delta synapse
    delta_receptor: int  # 0: default port
    exp_receptor: int

    def transform(self, synapse: object) -> tuple[float, int, int]:
        """``(weight scale, extra delay steps, receptor)`` for a synapse onto this population."""
        if isinstance(synapse, Exponential):
            return 1.0, 0, self.exp_receptor
        return self.delta_scale, self.delta_extra_delay, self.delta_receptor


@dataclass(frozen=True, kw_only=True)
class NetworkPlan:
    """The translation of a whole materialised network (plain data, no NEST objects)."""

    dt: float
    populations: tuple[PopulationPlan, ...]
    notes: tuple[str, ...] = ()
    resettable_in_place: bool = True
    max_nest_delay_steps: int = 1
    by_name: dict[str, PopulationPlan] = field(default_factory=dict)

    def synapse_transform(self, target: str, synapse: object) -> tuple[float, int, int]:
        """``(weight scale, extra delay steps, receptor)`` for a synapse onto ``target``."""
        return self.by_name[target].transform(synapse)


def _p21(tau_syn: float, tau_m: float, c_m: float, h: float) -> float:
    """NEST's exact current-to-voltage propagator over one step (tau_syn != tau_m)."""
    return (tau_syn * tau_m / (c_m * (tau_m - tau_syn))
            * (math.exp(-h / tau_m) - math.exp(-h / tau_syn)))


def _refuse(net: MaterialisedNetwork) -> None:
    """UnsupportedSpec for every feature the NEST translation does not express exactly."""
    for pop in net.spec.populations:
        m = pop.model
        where = f"population {pop.name!r}"
        if isinstance(m, Izhikevich):
            raise UnsupportedSpec(
                f"nest: Izhikevich ({where}) is not translated: NEST's izhikevich adds the "
                "step's delta inputs to v before its threshold test (the spec after it), has "
                "no refractory period and no exponential synapse, and the Euler update is "
                "nonlinear in v, so no delay/weight transform reproduces the spec's steps")
        if isinstance(m, AdEx):
            raise UnsupportedSpec(
                f"nest: AdEx ({where}) is not translated: NEST's aeif_psc_* integrate with "
                "an adaptive RK45 (GSL) solver, the spec pins one forward-Euler step per dt; "
                "the trajectories differ")
        if isinstance(m, ALIF):
            raise UnsupportedSpec(
                f"nest: ALIF ({where}) is not translated: NEST 3.10 has no built-in LIF with "
                "an exactly decaying additive threshold (theta += beta at a spike) and the "
                "spec's reset/refractory rules (eprop_iaf_adapt and gif_* differ); it would "
                "need a NESTML model")
        if not isinstance(m, LIF):
            raise UnsupportedSpec(f"nest: neuron model {m.kind!r} ({where}) is not translated")
    for proj in net.spec.projections:
        if proj.plasticity is not None:
            raise UnsupportedSpec(
                f"nest: plasticity {proj.plasticity.kind!r} (projection {proj.name!r}) is not "
                "translated: NEST's stdp/modulated synapses use their own trace and update "
                "timing conventions; no exact mapping is implemented")
        if not isinstance(proj.synapse, (Delta, Exponential)):
            raise UnsupportedSpec(f"nest: synapse {proj.synapse.kind!r} is not translated")
    if net.dtype != "float64":
        raise UnsupportedSpec(f"nest computes in float64 only; the spec asks for {net.dtype}")


def translate(net: MaterialisedNetwork) -> NetworkPlan:
    """Map every population to a NEST model and parameters (see the module docstring);
    raise :class:`UnsupportedSpec` for anything that cannot be matched."""
    _refuse(net)
    dt = net.dt
    notes: list[str] = []
    plans = []
    for pop in net.populations:
        m: LIF = pop.spec.model  # type: ignore[assignment]  # _refuse checked
        incoming = [p for p in net.spec.projections if p.target == pop.name]
        has_delta = any(isinstance(p.synapse, Delta) for p in incoming)
        exp_taus = {p.synapse.tau_syn for p in incoming if isinstance(p.synapse, Exponential)}
        if len(exp_taus) > 1:
            raise UnsupportedSpec(f"nest: population {pop.name!r} receives exponential synapses "
                                  f"with several tau_syn {sorted(exp_taus)}")
        R = int(round(m.t_ref / dt))
        p22 = math.exp(-dt / m.tau_m)
        common = {"C_m": m.tau_m, "tau_m": m.tau_m, "E_L": m.v_rest, "V_th": m.v_thresh,
                  "I_e": m.i_offset}
        if not exp_taus:
            v_inf = m.v_rest + m.i_offset
            v_reset = v_inf + (m.v_reset - v_inf) * p22
            if not v_reset < m.v_thresh:
                raise UnsupportedSpec(
                    f"nest: population {pop.name!r}: one decay step from v_reset already "
                    f"reaches the threshold ({v_reset:.6g} >= {m.v_thresh:g} mV); the exact "
                    "iaf_psc_delta mapping holds V there during refractoriness and would fire")
            plans.append(PopulationPlan(
                name=pop.name, size=pop.size, kind="delta", model="iaf_psc_delta",
                params={**common, "V_reset": v_reset, "t_ref": max(R, 1) * dt,
                        "refractory_input": False},
                refractory_steps=max(R, 1), p22=p22, delta_scale=p22, delta_extra_delay=1,
                delta_receptor=0, exp_receptor=0))
            continue
        (tau_syn,) = exp_taus
        ref = max(R - 1, 0)
        if not has_delta:
            plans.append(PopulationPlan(
                name=pop.name, size=pop.size, kind="exponential", model="iaf_psc_exp",
                params={**common, "V_reset": m.v_reset, "t_ref": ref * dt,
                        "tau_syn_ex": tau_syn, "tau_syn_in": tau_syn},
                refractory_steps=ref, p22=p22, delta_scale=1.0, delta_extra_delay=0,
                delta_receptor=0, exp_receptor=0))
            continue
        tau_fast = dt / FAST_TAU_STEPS
        scale = p22 / _p21(tau_fast, m.tau_m, m.tau_m, dt)
        plans.append(PopulationPlan(
            name=pop.name, size=pop.size, kind="mixed", model="iaf_psc_exp_multisynapse",
            params={**common, "V_reset": m.v_reset, "t_ref": ref * dt,
                    "tau_syn": [tau_syn, tau_fast]},
            refractory_steps=ref, p22=p22, delta_scale=scale, delta_extra_delay=0,
            delta_receptor=2, exp_receptor=1))
        notes.append(
            f"{pop.name}: delta and exponential inputs (iaf_psc_exp_multisynapse); delta "
            "deliveries in the last refractory step are applied, not discarded")
    by_name = {p.name: p for p in plans}
    max_d = 1
    for proj in net.projections:
        if proj.n_synapses:
            _, extra, _ = by_name[proj.spec.target].transform(proj.spec.synapse)
            max_d = max(max_d, int(proj.delay_steps.max()) + extra)
    in_place = all(p.kind == "delta" for p in plans)
    return NetworkPlan(dt=dt, populations=tuple(plans), notes=tuple(notes),
                       resettable_in_place=in_place, max_nest_delay_steps=max_d, by_name=by_name)


# --------------------------------------------------------------------------- the kernel


def _import_nest(backend: str):
    """Import PyNEST quietly; BackendUnavailable with the install command when missing."""
    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner
    try:
        import nest  # noqa: PLC0415
    except ImportError as err:
        raise BackendUnavailable(backend, f"NEST is not importable ({err}); install it with: "
                                          f"{INSTALL_HINT}") from None
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:  # older PyNEST
        nest.set_verbosity("M_ERROR")
    return nest


class _KernelOwner:
    """Which :class:`_Kernel` built NEST's (process-wide) kernel, and whether it is prepared."""

    current: _Kernel | None = None
    prepared: bool = False


class _Kernel:
    """One network built in NEST's kernel: construction, input, running, counting, reset."""

    def __init__(self, nest, plan: NetworkPlan, net: MaterialisedNetwork,
                 options: BackendOptions, prepared: bool):
        self.nest = nest
        self.plan = plan
        self.net = net
        self.options = options
        self.prepared = prepared  # closed loop: Prepare once, Run per chunk
        self.dt = net.dt
        self.origin = 0  # NEST step at which the current run started (spec step 0)
        self.position = 0  # spec steps run since the last reset
        self.counts_base = np.zeros(0, dtype=np.int64)
        self.dirty = False

    # ---------------------------------------------------------------- construction
    def build(self) -> float:
        """ResetKernel and construct everything; return the construction seconds."""
        nest = self.nest
        start = time.perf_counter()
        if _KernelOwner.prepared:
            nest.Cleanup()
            _KernelOwner.prepared = False
        _KernelOwner.current = None
        nest.ResetKernel()
        nest.set(resolution=self.dt, local_num_threads=int(self.options.threads),
                 print_time=False)
        self.nodes = {}
        for p in self.plan.populations:
            nc = nest.Create(p.model, p.size, params=p.params)
            nc.set(V_m=self.net.population(p.name).initial["v"])
            self.nodes[p.name] = nc
        self.generators = nest.Create("spike_generator", self.net.spec.input.size)
        self.first_id = {name: nc[0].global_id for name, nc in self.nodes.items()}
        self.first_id[self.net.spec.input.name] = self.generators[0].global_id
        for proj in self.net.projections:
            if not proj.n_synapses:
                continue
            scale, extra, receptor = self.plan.synapse_transform(proj.spec.target,
                                                                 proj.spec.synapse)
            syn = {"synapse_model": "static_synapse",
                   "weight": proj.weight * scale,
                   "delay": np.round((proj.delay_steps.astype(np.float64) + extra) * self.dt, 9)}
            if receptor:
                syn["receptor_type"] = receptor
            pre = proj.pre.astype(np.int64) + self.first_id[proj.spec.source]
            post = proj.post.astype(np.int64) + self.first_id[proj.spec.target]
            nest.Connect(pre, post, "one_to_one", syn_spec=syn)
        # Recorders: readouts always (counts), every population when recording spikes.
        names = list(self.net.spec.readout_names)
        if self.options.record_spikes:
            names += [p.name for p in self.net.populations if p.name not in names]
        self.recorded_names = names
        self.recorders = nest.Create("spike_recorder", len(names))
        for i, name in enumerate(names):
            nest.Connect(self.nodes[name], self.recorders[i])
        self.n_readouts = len(self.net.spec.readout_names)
        self.counts_base = np.zeros(len(names), dtype=np.int64)
        self.spike_log: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in names]
        if self.prepared:
            nest.Prepare()
            _KernelOwner.prepared = True
        _KernelOwner.current = self
        self.origin = 0
        self.position = 0
        self.dirty = False
        return time.perf_counter() - start

    @property
    def owns_kernel(self) -> bool:
        return _KernelOwner.current is self

    # ---------------------------------------------------------------- running
    def _advance(self, steps: int) -> None:
        ms = round(steps * self.dt, 9)
        if self.prepared:
            self.nest.Run(ms)
        else:
            self.nest.Simulate(ms)

    def set_inputs(self, spikes: np.ndarray) -> None:
        """Give every input neuron that fires in ``spikes`` (rows = the next steps) its
        generator times; generators without spikes keep only past times."""
        rows, cols = np.nonzero(spikes)
        if rows.size == 0:
            return
        order = np.argsort(cols, kind="stable")
        rows, cols = rows[order], cols[order]
        # Spec step s fires at NEST time (origin + s + 1) dt.
        times = np.round((rows + (self.origin + self.position + 1)) * self.dt, 9)
        ids, starts = np.unique(cols, return_index=True)
        per = np.split(times, starts[1:])
        self.generators[ids.tolist()].set([{"spike_times": t.tolist()} for t in per])

    def run(self, spikes: np.ndarray) -> np.ndarray:
        """Run ``spikes.shape[0]`` steps; return the counts per readout of these steps."""
        if spikes.ndim != 2 or spikes.shape[1] != self.net.spec.input.size:
            raise ValueError(f"input spikes must be (k, {self.net.spec.input.size}), "
                             f"got {spikes.shape}")
        k = int(spikes.shape[0])
        if k == 0:
            return np.zeros(self.n_readouts, dtype=np.int64)
        self.dirty = True
        self.set_inputs(spikes)
        self._advance(k)
        self.position += k
        totals = self._totals()
        counts = totals - self.counts_base
        self.counts_base = totals
        if int(totals.sum()) > RECORDER_DRAIN_EVENTS:
            self._drain_recorders(keep=self.options.record_spikes)
        return counts[: self.n_readouts].copy()

    def _totals(self) -> np.ndarray:
        # Costs O(events stored): NEST builds the recorder's whole status, events included.
        return np.asarray(self.recorders.get("n_events"), dtype=np.int64).reshape(-1)

    def _events(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Events stored in each recorder as (spec steps, local indices)."""
        out = []
        for i, name in enumerate(self.recorded_names):
            ev = self.recorders[i].get("events")
            t = np.asarray(ev["times"], dtype=np.float64)
            steps = np.rint(t / self.dt).astype(np.int64) - 1 - self.origin
            out.append((steps, np.asarray(ev["senders"], dtype=np.int64) - self.first_id[name]))
        return out

    def _drain_recorders(self, keep: bool) -> None:
        """Empty the recorders (``keep``: move their events into ``spike_log`` first).
        Recorder parameters are frozen between Prepare and Cleanup, so the closed loop
        steps out (Cleanup, clear, Prepare: ~1 ms, state untouched) — done every
        RECORDER_DRAIN_EVENTS events so that reading the counts stays cheap."""
        if keep:
            for log, ev in zip(self.spike_log, self._events()):
                log.append(ev)
        if self.prepared:
            self.nest.Cleanup()
            self.recorders.set(n_events=0)
            self.nest.Prepare()
        else:
            self.recorders.set(n_events=0)
        self.counts_base = np.zeros_like(self.counts_base)

    def spikes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for i, (log, ev) in enumerate(zip(self.spike_log, self._events())):
            out[self.recorded_names[i]] = sorted_spikes([e[0] for e in log] + [ev[0]],
                                                        [e[1] for e in log] + [ev[1]])
        return out

    # ---------------------------------------------------------------- reset
    def reset_in_place(self) -> None:
        """Drain spikes in flight and refractory counters, then restore the initial state
        (delta-only networks; see the module docstring)."""
        if not self.dirty:
            return
        drain = max(self.plan.max_nest_delay_steps,
                    max(p.refractory_steps for p in self.plan.populations)) + 1
        for nc in self.nodes.values():
            nc.set(V_m=DRAIN_V)
        self.generators.set(spike_times=[])
        self._advance(drain)
        self.origin += self.position + drain
        self.position = 0
        for name, nc in self.nodes.items():
            nc.set(V_m=self.net.population(name).initial["v"])
        self._drain_recorders(keep=False)
        self.spike_log = [[] for _ in self.recorded_names]
        self.dirty = False

    def close(self) -> None:
        if not self.owns_kernel:
            return
        if _KernelOwner.prepared:
            self.nest.Cleanup()
            _KernelOwner.prepared = False
        self.nest.ResetKernel()  # frees the network's memory
        _KernelOwner.current = None


# --------------------------------------------------------------------------- backends


class _NestBackend(Backend):
    """Shared implementation; the two final classes below only choose the run mode."""

    prepared_mode: ClassVar[bool]

    def __init__(self) -> None:
        self._kernel: _Kernel | None = None

    def prepare(self, net: MaterialisedNetwork, options: BackendOptions) -> BuildReport:
        nest = _import_nest(self.name)
        plan = translate(net)
        self.close()
        self._kernel = _Kernel(nest, plan, net, options, prepared=self.prepared_mode)
        try:
            construct = self._kernel.build()
        except nest.NESTError as err:  # a parameter NEST rejects
            self._kernel = None
            raise BackendFailed(self.name, f"NEST rejected the network: {err}") from None
        models = ", ".join(f"{p.name}: {p.model}" for p in plan.populations)
        notes = [f"NEST {nest.__version__}, float64; {models}"]
        notes += list(plan.notes)
        return BuildReport(phases={"codegen_compile": 0.0, "construct": construct},
                           cache_hit=None, notes="; ".join(notes))

    def _live(self) -> _Kernel:
        if self._kernel is None:
            raise BackendFailed(self.name, "not prepared (call prepare first)")
        if not self._kernel.owns_kernel:
            raise BackendFailed(self.name, "another NEST backend instance rebuilt NEST's "
                                           "global kernel; call reset() to rebuild this one")
        return self._kernel

    def reset(self) -> None:
        kernel = self._kernel
        if kernel is None:
            raise BackendFailed(self.name, "not prepared (call prepare first)")
        if not kernel.owns_kernel or not kernel.plan.resettable_in_place:
            if kernel.owns_kernel and not kernel.dirty:
                return
            kernel.build()
            return
        kernel.reset_in_place()

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        return self._live().run(np.asarray(chunk.spikes, dtype=bool))

    def run_uninterrupted(self, spikes: np.ndarray) -> np.ndarray:
        return self._live().run(np.asarray(spikes, dtype=bool))

    def recorded_spikes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        kernel = self._live()
        if not kernel.options.record_spikes:
            raise BackendFailed(self.name, "built without record_spikes=True")
        return kernel.spikes()

    def close(self) -> None:
        if self._kernel is not None:
            self._kernel.close()
            self._kernel = None


_CAPS = dict(dtypes=frozenset({"float64"}), neuron_models=frozenset({"lif"}),
             synapses=frozenset({"delta", "exponential"}), plasticity=frozenset(),
             needs_gpu=False, threads=True)


class NestClosedLoop(_NestBackend):
    """Closed loop: ``nest.Prepare()`` once, ``nest.Run(k dt)`` per chunk."""

    name: ClassVar[str] = "nest"
    capabilities: ClassVar[Capabilities] = Capabilities(closed_loop=True, open_loop=True, **_CAPS)
    prepared_mode: ClassVar[bool] = True


class NestUninterrupted(_NestBackend):
    """Open loop: all inputs set in advance, one ``nest.Simulate(n_steps dt)``.
    (``run_chunk`` works too — each chunk one ``Simulate``, state carried — but chunked
    runs are what ``nest`` measures.)"""

    name: ClassVar[str] = "nest-uninterrupted"
    capabilities: ClassVar[Capabilities] = Capabilities(closed_loop=False, open_loop=True, **_CAPS)
    prepared_mode: ClassVar[bool] = False


BACKENDS: dict[str, type[Backend]] = {"nest": NestClosedLoop,
                                      "nest-uninterrupted": NestUninterrupted}
