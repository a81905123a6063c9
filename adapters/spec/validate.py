"""Meaning checks on a decoded spec, all before anything runs.

Each check raises :class:`SpecError` with the field path (``projections[2].delay``), the bad
value and what was expected. Checks are plain ``if`` statements (never ``assert``, which
``python -O`` strips).
"""

from __future__ import annotations

import re

from .errors import SpecError
from .model import (
    ALIF,
    LIF,
    NAME_PATTERN,
    STDP,
    AdEx,
    Constant,
    Distribution,
    Explicit,
    Exponential,
    FixedInDegree,
    FixedProbability,
    Izhikevich,
    NetworkSpec,
    NeuronModel,
    Normal,
    OneToOne,
    RewardModulatedSTDP,
    Uniform,
)

_NAME = re.compile(NAME_PATTERN)
_STEP_TOLERANCE = 1e-9  # relative tolerance for "a whole number of steps"


class _Checker:
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
        if abs(steps - round(steps)) > _STEP_TOLERANCE * max(1.0, abs(steps)):
            self.fail(path, ms, f"a whole number of steps of dt = {self.dt} ms")
        if round(steps) < minimum:
            self.fail(path, ms, f">= {minimum} step(s) of dt = {self.dt} ms")

    def distribution(self, path: str, dist: Distribution) -> None:
        if isinstance(dist, Uniform) and not dist.high >= dist.low:
            self.fail(f"{path}.high", dist.high, f">= low ({dist.low})")
        if isinstance(dist, Normal) and dist.std < 0:
            self.fail(f"{path}.std", dist.std, "a standard deviation >= 0")

    # ------------------------------------------------------------------ sections

    def simulation(self) -> None:
        sim = self.spec.simulation
        self.positive("simulation.dt", sim.dt)
        self.positive("simulation.duration", sim.duration)
        self.whole_steps("simulation.duration", sim.duration, minimum=1)
        if not sim.timesteps:
            self.fail("simulation.timesteps", sim.timesteps, "at least one k")
        for i, k in enumerate(sim.timesteps):
            if k < 1 or sim.n_steps % k:
                self.fail(f"simulation.timesteps[{i}]", k,
                          f"a divisor of the {sim.n_steps} steps of the run (k >= 1)")

    def names(self) -> None:
        self.name("name", self.spec.name)
        seen: dict[str, str] = {}
        entries = [(f"populations[{i}].name", p.name) for i, p in enumerate(self.spec.populations)]
        entries.append(("input.name", self.spec.input.name))
        for path, name in entries:
            self.name(path, name)
            if name in seen:
                self.fail(path, name, f"a unique name ({seen[name]} has it already)")
            seen[name] = path
        proj_seen: dict[str, str] = {}
        for i, proj in enumerate(self.spec.projections):
            path = f"projections[{i}].name"
            self.name(path, proj.name)
            if proj.name in proj_seen:
                self.fail(path, proj.name, f"a unique projection name ({proj_seen[proj.name]} has it)")
            proj_seen[proj.name] = path

    def populations(self) -> None:
        if not self.spec.populations:
            self.fail("populations", [], "at least one population")
        for i, pop in enumerate(self.spec.populations):
            path = f"populations[{i}]"
            if pop.size < 1:
                self.fail(f"{path}.size", pop.size, "a population size >= 1")
            self.model(f"{path}.model", pop.model)
            for var, dist in pop.initial.items():
                if var not in pop.model.state_variables:
                    self.fail(f"{path}.initial.{var}", var,
                              f"a state variable of {pop.model.kind}: "
                              + ", ".join(pop.model.state_variables))
                self.distribution(f"{path}.initial.{var}", dist)

    def model(self, path: str, m: NeuronModel) -> None:
        if isinstance(m, (LIF, ALIF)):
            self.positive(f"{path}.tau_m", m.tau_m)
            if not m.v_thresh > m.v_reset:
                self.fail(f"{path}.v_thresh", m.v_thresh, f"> v_reset ({m.v_reset})")
        if isinstance(m, ALIF):
            self.positive(f"{path}.tau_adapt", m.tau_adapt)
        if isinstance(m, AdEx):
            self.positive(f"{path}.tau_m", m.tau_m)
            self.positive(f"{path}.tau_w", m.tau_w)
            self.positive(f"{path}.delta_t", m.delta_t)
            if not m.v_peak > m.v_reset:
                self.fail(f"{path}.v_peak", m.v_peak, f"> v_reset ({m.v_reset})")
        if isinstance(m, Izhikevich) and not m.v_peak > m.c:
            self.fail(f"{path}.v_peak", m.v_peak, f"> c ({m.c})")
        if m.t_ref < 0:
            self.fail(f"{path}.t_ref", m.t_ref, "a refractory period >= 0 ms")
        self.whole_steps(f"{path}.t_ref", m.t_ref, minimum=0)

    def input(self) -> None:
        inp = self.spec.input
        if inp.size < 1:
            self.fail("input.size", inp.size, "an input size >= 1")
        if inp.rate < 0:
            self.fail("input.rate", inp.rate, "a rate >= 0 Hz")
        if inp.max_rate < inp.rate:
            self.fail("input.max_rate", inp.max_rate, f">= rate ({inp.rate} Hz)")
        if inp.max_rate * self.dt * 1e-3 > 1.0:
            self.fail("input.max_rate", inp.max_rate,
                      f"at most one spike per step: <= {1e3 / self.dt:g} Hz at dt = {self.dt} ms")

    def projections(self) -> None:
        pops = {p.name: p for p in self.spec.populations}
        tau_syn_of: dict[str, tuple[float, str]] = {}
        for i, proj in enumerate(self.spec.projections):
            path = f"projections[{i}]"
            if proj.source not in pops and proj.source != self.spec.input.name:
                self.fail(f"{path}.source", proj.source,
                          "a population or the input: " + ", ".join([*pops, self.spec.input.name]))
            if proj.target not in pops:
                self.fail(f"{path}.target", proj.target, "a population: " + ", ".join(pops))
            n_pre = self.spec.size_of(proj.source)
            n_post = pops[proj.target].size
            self.connector(f"{path}.connector", proj.connector, n_pre, n_post,
                           proj.source == proj.target)
            self.distribution(f"{path}.weight", proj.weight)
            self.delay(f"{path}.delay", proj.delay)
            if isinstance(proj.synapse, Exponential):
                self.positive(f"{path}.synapse.tau_syn", proj.synapse.tau_syn)
                model = pops[proj.target].model
                if isinstance(model, (LIF, ALIF)) and proj.synapse.tau_syn == model.tau_m:
                    self.fail(f"{path}.synapse.tau_syn", proj.synapse.tau_syn,
                              f"!= the target's tau_m ({model.tau_m} ms; the exact propagator is singular)")
                first = tau_syn_of.setdefault(proj.target, (proj.synapse.tau_syn, path))
                if first[0] != proj.synapse.tau_syn:
                    self.fail(f"{path}.synapse.tau_syn", proj.synapse.tau_syn,
                              f"{first[0]} ms like {first[1]} (one g per target population)")
            if proj.plasticity is not None:
                self.plasticity(f"{path}.plasticity", proj.plasticity)

    def connector(self, path: str, c: object, n_pre: int, n_post: int, same: bool) -> None:
        if isinstance(c, FixedProbability) and not 0.0 <= c.p <= 1.0:
            self.fail(f"{path}.p", c.p, "a probability in [0, 1]")
        if isinstance(c, FixedInDegree):
            available = n_pre - (1 if same and not c.allow_self else 0)
            if not 0 <= c.n <= available:
                self.fail(f"{path}.n", c.n, f"an in-degree in [0, {available}] (distinct sources available)")
        if isinstance(c, OneToOne) and n_pre != n_post:
            self.fail(path, f"{n_pre} -> {n_post}", "equal source and target sizes for one_to_one")
        if isinstance(c, Explicit):
            if len(c.pre) != len(c.post):
                self.fail(f"{path}.post", len(c.post), f"as many entries as pre ({len(c.pre)})")
            for name, idx, size in (("pre", c.pre, n_pre), ("post", c.post, n_post)):
                for j, v in enumerate(idx):
                    if not 0 <= v < size:
                        self.fail(f"{path}.{name}[{j}]", v, f"an index in [0, {size})")

    def delay(self, path: str, d: Distribution) -> None:
        self.distribution(path, d)
        if isinstance(d, Constant):
            self.whole_steps(path, d.value, minimum=1)
        elif isinstance(d, Uniform) and d.low < self.dt * (1 - _STEP_TOLERANCE):
            self.fail(f"{path}.low", d.low, f">= dt ({self.dt} ms): delays are at least one step")
        elif isinstance(d, Normal) and d.mean < self.dt:
            self.fail(f"{path}.mean", d.mean, f">= dt ({self.dt} ms); draws below one step are set to one step")

    def plasticity(self, path: str, p: object) -> None:
        if isinstance(p, (STDP, RewardModulatedSTDP)):
            self.positive(f"{path}.tau_pre", p.tau_pre)
            self.positive(f"{path}.tau_post", p.tau_post)
            if not p.w_max >= p.w_min:
                self.fail(f"{path}.w_max", p.w_max, f">= w_min ({p.w_min})")
        if isinstance(p, RewardModulatedSTDP):
            self.positive(f"{path}.tau_elig", p.tau_elig)

    def readouts(self) -> None:
        names = {p.name for p in self.spec.populations}
        for i, r in enumerate(self.spec.readouts):
            if r not in names:
                self.fail(f"readouts[{i}]", r, "a population name: " + ", ".join(sorted(names)))


def validate(spec: NetworkSpec, source: str = "<spec>") -> NetworkSpec:
    """Check every rule; return the spec unchanged or raise the first :class:`SpecError`."""
    checker = _Checker(spec, source)
    checker.names()
    checker.simulation()
    checker.populations()
    checker.input()
    checker.projections()
    checker.readouts()
    return spec
