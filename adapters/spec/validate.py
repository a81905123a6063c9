"""Meaning checks on a decoded spec, all before anything runs.

Each check raises :class:`SpecError` with the field path (``projections[2].delay``), the bad
value and what was expected. Checks are plain ``if`` statements (never ``assert``, which
``python -O`` strips). Type-specific rules live on the spec types (``check`` methods); the
rules that relate several parts of a spec live here, each in exactly one place:

* names: identifiers, unique among populations + input and among projections;
* ``t_ref``, fixed delays and the duration: whole numbers of steps of ``dt``;
* execution timesteps divide the run;
* a receptor time constant differs from the target's membrane time constant where the
  exact propagator needs it;
* the input fires at most once per step, a drive's source at most once per step;
* conductance receptors only onto exactly integrated models;
* sizes within the backends' 32-bit indices, fixed delays within the run.

What a valid spec will *cost* is :mod:`adapters.spec.estimate`'s job.

Backends read the consequences from the materialised network
(:class:`~adapters.spec.materialise.MaterialisedNetwork`) and never re-check them.
"""

from __future__ import annotations

import math
import re

from .errors import SpecError
from .materialise import receptors_of
from .model import NAME_PATTERN, NetworkSpec

_NAME = re.compile(NAME_PATTERN)


class Check:
    """The helpers the spec types' ``check`` methods call; every failure is a SpecError."""

    step_tolerance = 1e-9
    """Relative tolerance for "a whole number of steps"."""

    def __init__(self, spec: NetworkSpec, source: str):
        self.spec = spec
        self.source = source
        self.dt = spec.simulation.dt

    def fail(self, path: str, got: object, expected: str) -> None:
        raise SpecError(self.source, path, got, expected)

    def positive(self, path: str, value: float) -> None:
        if not value > 0:
            self.fail(path, value, "a number > 0")

    def name(self, path: str, value: str) -> None:
        if not _NAME.fullmatch(value):
            self.fail(path, value, "a name matching [A-Za-z][A-Za-z0-9_]* (at most 64 characters)")

    def whole_steps(self, path: str, ms: float, minimum: int) -> None:
        steps = ms / self.dt
        if not math.isfinite(steps) or abs(steps) > 2**53:
            self.fail(path, ms, f"a time of at most 2^53 steps of dt = {self.dt} ms")
        if abs(steps - round(steps)) > self.step_tolerance * max(1.0, abs(steps)):
            self.fail(path, ms, f"a whole number of steps of dt = {self.dt} ms")
        if round(steps) < minimum:
            self.fail(path, ms, f">= {minimum} step(s) of dt = {self.dt} ms")


def _simulation(c: Check) -> None:
    sim = c.spec.simulation
    c.positive("simulation.dt", sim.dt)
    c.positive("simulation.duration", sim.duration)
    c.whole_steps("simulation.duration", sim.duration, minimum=1)
    if not sim.timesteps:
        c.fail("simulation.timesteps", sim.timesteps, "at least one k")
    for i, k in enumerate(sim.timesteps):
        if k < 1 or sim.n_steps % k:
            c.fail(f"simulation.timesteps[{i}]", k,
                   f"a divisor of the {sim.n_steps} steps of the run (k >= 1)")
    for field in ("seed", "input_seed"):  # numpy's SeedSequence refuses negative seeds
        value = getattr(sim, field)
        if not 0 <= value < 2**62:
            c.fail(f"simulation.{field}", value, "a whole number in [0, 2^62)")


def _names(c: Check) -> None:
    spec = c.spec
    c.name("name", spec.name)
    seen: dict[str, str] = {}
    entries = [(f"populations[{i}].name", p.name) for i, p in enumerate(spec.populations)]
    entries.append(("input.name", spec.input.name))
    for path, name in entries:
        c.name(path, name)
        if name in seen:
            c.fail(path, name, f"a unique name ({seen[name]} has it already)")
        seen[name] = path
    proj_seen: dict[str, str] = {}
    for i, proj in enumerate(spec.projections):
        path = f"projections[{i}].name"
        c.name(path, proj.name)
        if proj.name in proj_seen:
            c.fail(path, proj.name, f"a unique projection name ({proj_seen[proj.name]} has it)")
        proj_seen[proj.name] = path


def _populations(c: Check) -> None:
    if not c.spec.populations:
        c.fail("populations", [], "at least one population")
    for i, pop in enumerate(c.spec.populations):
        path = f"populations[{i}]"
        if pop.size < 1:
            c.fail(f"{path}.size", pop.size, "a population size >= 1")
        pop.model.check(c, f"{path}.model")
        if pop.model.t_ref < 0:
            c.fail(f"{path}.model.t_ref", pop.model.t_ref, "a refractory period >= 0 ms")
        c.whole_steps(f"{path}.model.t_ref", pop.model.t_ref, minimum=0)
        receptors = [f"g{r}" for r in range(len(receptors_of(c.spec).get(pop.name, ())))]
        for var, dist in pop.initial.items():
            if var not in pop.model.state_variables and var not in receptors:
                c.fail(f"{path}.initial.{var}", var, f"a state variable of {pop.model.kind} or "
                       "one of the population's receptors: "
                       + ", ".join([*pop.model.state_variables, *receptors]))
            dist.check(c, f"{path}.initial.{var}")


def _input(c: Check) -> None:
    inp = c.spec.input
    if inp.size < 1:
        c.fail("input.size", inp.size, "an input size >= 1")
    if inp.rate < 0:
        c.fail("input.rate", inp.rate, "a rate >= 0 Hz")
    if inp.max_rate < inp.rate:
        c.fail("input.max_rate", inp.max_rate, f">= rate ({inp.rate} Hz)")
    if inp.max_rate * c.dt * 1e-3 > 1.0:
        c.fail("input.max_rate", inp.max_rate,
               f"at most one spike per step: <= {1e3 / c.dt:g} Hz at dt = {c.dt} ms")


def _projections(c: Check) -> None:
    spec = c.spec
    pops = {p.name: p for p in spec.populations}
    for i, proj in enumerate(spec.projections):
        path = f"projections[{i}]"
        if proj.source not in pops and proj.source != spec.input.name:
            c.fail(f"{path}.source", proj.source,
                   "a population or the input: " + ", ".join([*pops, spec.input.name]))
        if proj.target not in pops:
            c.fail(f"{path}.target", proj.target, "a population: " + ", ".join(pops))
        proj.connector.check(c, f"{path}.connector", spec.size_of(proj.source),
                             pops[proj.target].size, proj.source == proj.target)
        proj.weight.check(c, f"{path}.weight")
        proj.delay.check(c, f"{path}.delay")
        proj.delay.check_delay(c, f"{path}.delay")
        _receptor(c, f"{path}.synapse", proj.synapse, pops[proj.target])
        if proj.plasticity is not None:
            proj.plasticity.check(c, f"{path}.plasticity")


def _receptor(c: Check, path: str, synapse, target) -> None:
    """A receptor's conditions, enforced here only (any number of receptors): a positive
    time constant; a current receptor's differs from the target's tau_m where the exact
    propagator needs it; conductance receptors only onto exactly integrated models."""
    tau = synapse.time_constant
    if tau is None:
        return
    c.positive(f"{path}.tau_syn", tau)
    if synapse.reversal is None and tau == target.model.exact_tau_m:
        c.fail(f"{path}.tau_syn", tau, f"!= the target's tau_m ({target.model.exact_tau_m} "
               "ms; the exact propagator is singular)")
    if synapse.reversal is not None and target.model.exact_tau_m is None:
        c.fail(f"{path}.kind", synapse.kind, "a current-based synapse for a "
               f"{target.model.kind} target (conductance receptors need an exactly "
               "integrated model: lif, alif)")


def _drives(c: Check) -> None:
    """External Poisson drives: a known target, a rate that fits a step, a source count
    the count type holds, a finite weight; names unique among the drives."""
    spec = c.spec
    pops = {p.name: p for p in spec.populations}
    seen: dict[str, str] = {}
    for i, drive in enumerate(spec.drives):
        path = f"drives[{i}]"
        c.name(f"{path}.name", drive.name)
        if drive.name in seen:
            c.fail(f"{path}.name", drive.name, f"a unique drive name ({seen[drive.name]} has it)")
        seen[drive.name] = f"{path}.name"
        if drive.target not in pops:
            c.fail(f"{path}.target", drive.target, "a population: " + ", ".join(pops))
        if drive.rate < 0:
            c.fail(f"{path}.rate", drive.rate, "a rate >= 0 Hz")
        if drive.rate * c.dt * 1e-3 > 1.0:
            c.fail(f"{path}.rate", drive.rate,
                   f"at most one spike per source and step: <= {1e3 / c.dt:g} Hz at dt = {c.dt} ms")
        if not 1 <= drive.n_sources <= drive.MAX_SOURCES:
            c.fail(f"{path}.n_sources", drive.n_sources, f"a count in [1, {drive.MAX_SOURCES}]")
        _receptor(c, f"{path}.synapse", drive.synapse, pops[drive.target])


def _readouts(c: Check) -> None:
    names = {p.name for p in c.spec.populations}
    for i, r in enumerate(c.spec.readouts):
        if r not in names:
            c.fail(f"readouts[{i}]", r, "a population name: " + ", ".join(sorted(names)))


INT32_MAX = 2**31 - 1
"""Every backend indexes neurons, synapses and ring-buffer entries with 32-bit integers."""


def _limits(c: Check) -> None:
    """Sizes the backends' integer types hold, and delays a run can deliver: neurons
    (populations plus input), expected synapses, delay ring-buffer offsets (a fixed delay
    times the neuron columns), and fixed delays no longer than the run."""
    spec = c.spec
    neurons = sum(p.size for p in spec.populations) + spec.input.size
    if neurons > INT32_MAX:
        c.fail("populations", f"{neurons:,d} neurons and inputs", f"at most {INT32_MAX:,d} "
               "(32-bit neuron indices)")
    total = 0.0
    for i, proj in enumerate(spec.projections):
        count = proj.connector.expected_count(spec.size_of(proj.source), spec.size_of(proj.target),
                                              proj.source == proj.target)
        total += count
        if total > INT32_MAX:
            c.fail(f"projections[{i}].connector", f"~{total:,.0f} synapses so far",
                   f"at most {INT32_MAX:,d} synapses in all (32-bit synapse indices)")
        delay = getattr(proj.delay, "value", None)
        if delay is None:
            continue
        if delay > spec.simulation.duration:
            c.fail(f"projections[{i}].delay", delay, f"a delay within the run "
                   f"({spec.simulation.duration:g} ms): no spike could arrive")
        columns = (neurons - spec.input.size) * 9  # v plus up to 8 receptor columns
        if (delay / c.dt + 1) * columns > INT32_MAX:
            c.fail(f"projections[{i}].delay", delay, "a delay whose ring buffer (delay steps x "
                   "neurons x columns) fits 32-bit offsets")


def validate(spec: NetworkSpec, source: str = "<spec>") -> NetworkSpec:
    """Check every rule; return the spec unchanged or raise the first :class:`SpecError`."""
    check = Check(spec, source)
    for section in (_names, _simulation, _populations, _input, _projections, _drives,
                    _readouts, _limits):
        section(check)
    return spec
