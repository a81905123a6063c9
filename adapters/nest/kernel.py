"""One network in NEST's kernel: construction, input, running, counting, reset.

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
    first when spikes are recorded.

NEST's kernel is a process-wide singleton: building one :class:`Kernel` invalidates any
other (:data:`SLOT` says which one owns it); an invalidated backend rebuilds itself on its
next reset.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from ..base import BackendOptions, BackendUnavailable, sorted_spikes
from ..spec.materialise import MaterialisedNetwork
from .translate import NetworkPlan

INSTALL_HINT = "pip install -e '.[nest]'  (nest-simulator==3.10.0)"

DRAIN_V = -1e300
"""``V_m`` while draining in-flight spikes during an in-place reset: nothing can fire."""

RECORDER_DRAIN_EVENTS = 1000
"""The recorders are emptied once they hold this many events (reading NEST's ``n_events``
costs O(events stored), ~70 ns each; emptying costs ~1 ms)."""


def import_nest(backend: str):
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


@dataclass
class KernelSlot:
    """NEST's kernel is one per process: which :class:`Kernel` built it, and whether it is
    between ``Prepare`` and ``Cleanup``. One instance, :data:`SLOT`, passed explicitly."""

    current: Kernel | None = None
    prepared: bool = False


SLOT = KernelSlot()


class Kernel:
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
        if SLOT.prepared:
            nest.Cleanup()
            SLOT.prepared = False
        SLOT.current = None
        nest.ResetKernel()
        # rng_seed: NEST's own generators (the native class's poisson_generator drives)
        # draw from the instance seed, so a pass is repeatable and instances differ.
        nest.set(resolution=self.dt, local_num_threads=int(self.options.threads),
                 print_time=False, rng_seed=int(self.net.instance_seed) % (2**31 - 2) + 1)
        self.nodes = {}
        for p in self.plan.populations:
            nc = nest.Create(p.model, p.size, params=p.params)
            initial = self.net.population(p.name).initial
            for nest_var, spec_var in p.state:  # e.g. V_m <- v; absent: NEST's default
                if spec_var in initial:
                    nc.set(**{nest_var: initial[spec_var]})
            self.nodes[p.name] = nc
        synapse_model = {}
        for proj_name, (base, params) in self.plan.synapse_models.items():
            synapse_model[proj_name] = f"spark_{base}_{len(synapse_model)}"
            nest.CopyModel(base, synapse_model[proj_name], params)
        self.generators = nest.Create("spike_generator", self.net.n_inputs)
        self.first_id = {name: nc[0].global_id for name, nc in self.nodes.items()}
        self.first_id[self.net.input_name] = self.generators[0].global_id
        for proj in self.net.projections:
            if not proj.n_synapses:
                continue
            scale, extra, receptor = self.plan.synapse_transform(
                proj.spec.target, proj.receptor, proj.receptor_index)
            syn = {"synapse_model": synapse_model.get(proj.name, "static_synapse"),
                   "weight": proj.weight * scale,
                   "delay": np.round((proj.delay_steps.astype(np.float64) + extra) * self.dt, 9)}
            if receptor:
                syn["receptor_type"] = receptor
            pre = proj.pre.astype(np.int64) + self.first_id[proj.spec.source]
            post = proj.post.astype(np.int64) + self.first_id[proj.spec.target]
            nest.Connect(pre, post, "one_to_one", syn_spec=syn)
        self.drive_generators = []
        for drive in self.net.drives:
            if self.plan.poisson_drives:  # NEST's own: one generator, a train per target
                scale, _, receptor = self.plan.synapse_transform(
                    drive.target, drive.receptor, drive.receptor_index)
                gen = nest.Create("poisson_generator",
                                  params={"rate": drive.spec.rate * drive.spec.n_sources})
                syn = {"weight": drive.spec.weight * scale, "delay": round(self.dt, 9)}
                if receptor:
                    syn["receptor_type"] = receptor
                nest.Connect(gen, self.nodes[drive.target], "all_to_all", syn_spec=syn)
                continue
            gens = nest.Create("spike_generator", self.net.population(drive.target).size)
            scale, extra, receptor = self.plan.synapse_transform(
                drive.target, drive.receptor, drive.receptor_index)
            syn = {"synapse_model": "static_synapse", "weight": drive.spec.weight * scale,
                   "delay": round((1 + extra) * self.dt, 9)}
            if receptor:
                syn["receptor_type"] = receptor
            nest.Connect(gens, self.nodes[drive.target], "one_to_one", syn_spec=syn)
            self.drive_generators.append(gens)
        self._set_drives()
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
            SLOT.prepared = True
        SLOT.current = self
        self.origin = 0
        self.position = 0
        self.dirty = False
        return time.perf_counter() - start

    @property
    def owns_kernel(self) -> bool:
        return SLOT.current is self

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

    def _set_drives(self) -> None:
        """Load every drive's whole run into its generators: delivered row t (emitted at
        spec step t - 1) is NEST time ``(origin + t) dt`` with the count as multiplicity."""
        for index, gens in enumerate(self.drive_generators):
            counts = self.net.drive_counts(index)
            steps, cols = np.nonzero(counts.T)  # neuron-major: (neuron, step) pairs
            if steps.size == 0:
                continue
            mult = counts.T[steps, cols].astype(np.int64)
            times = np.round((cols + self.origin) * self.dt, 9)
            ids, starts = np.unique(steps, return_index=True)
            bounds = list(starts[1:])
            gens[ids.tolist()].set([
                {"spike_times": t.tolist(), "spike_multiplicities": m.tolist()}
                for t, m in zip(np.split(times, bounds), np.split(mult, bounds))])

    def run(self, spikes: np.ndarray) -> np.ndarray:
        """Run ``spikes.shape[0]`` steps; return the counts per readout of these steps."""
        if spikes.ndim != 2 or spikes.shape[1] != self.net.n_inputs:
            raise ValueError(f"input spikes must be (k, {self.net.n_inputs}), "
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
        for gens in self.drive_generators:  # (PyNEST refuses a plain [] for multiplicities)
            gens.set(spike_times=np.zeros(0), spike_multiplicities=np.zeros(0, np.int64))
        self._advance(drain)
        self.origin += self.position + drain
        self.position = 0
        for name, nc in self.nodes.items():
            nc.set(V_m=self.net.population(name).initial["v"])
        self._set_drives()
        self._drain_recorders(keep=False)
        self.spike_log = [[] for _ in self.recorded_names]
        self.dirty = False

    def close(self) -> None:
        if not self.owns_kernel:
            return
        if SLOT.prepared:
            self.nest.Cleanup()
            SLOT.prepared = False
        self.nest.ResetKernel()  # frees the network's memory
        SLOT.current = None


