"""What a spec will cost before anything is drawn, and the refusal of a spec that cannot fit.

A spec of 10^9 neurons, or of two 10^6 populations connected with p = 1, is valid in every
field and still takes the machine down when it is materialised. :func:`estimate` adds up,
from the spec alone, the memory of what materialisation and the smallest engine build hold
at once: the synapse arrays (pre, post, weight, delay: 20 bytes per expected synapse, plus
the engine's own copy of the same size), the per-neuron state, the input stream's uniforms,
the drives' counts and the delay ring buffer. :func:`check_fits` refuses a spec whose
estimate exceeds the memory available now (``MemAvailable``) or a limit the user gives,
naming the biggest term.

That shared estimate is of arrays only; a worker process also holds its interpreter, its
simulator, compiled code and the simulator's own data structures, which dominate at
paper8's size. :data:`BACKEND_MEMORY` is a per-backend model measured for that:
``base + bytes_per_synapse x synapses`` for one worker's peak resident memory (plus the
shared terms other than the synapse arrays), and :func:`backend_estimate` applies it;
:func:`check_fits` refuses a spec that would not fit one worker of a named backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import SpecError
from .model import Constant, Distribution, NetworkSpec, Normal, TruncatedNormal, Uniform

BYTES_PER_SYNAPSE = 20 + 20
"""Materialised pre/post (int32), weight (float64), delay (int32), and an engine's copy."""

SYNAPSE_TERM = "synapse arrays"


@dataclass(frozen=True)
class BackendMemory:
    """One backend's measured peak resident memory per worker process: ``base_bytes`` +
    ``bytes_per_synapse`` x expected synapses (a least-squares line through the measured
    sizes; the base is its intercept, not the bare interpreter), and ``build_bytes``, what
    the compilers it starts (Brian2's ``make`` and ``g++``, Cython's) held together at most,
    beside the worker. Where that build moment is larger than the line (small networks),
    the estimate is ``base_bytes + build_bytes``: an approximation (the worker itself grows
    with the network while it generates code), close at the measured sizes."""

    base_bytes: float
    bytes_per_synapse: float
    build_bytes: float = 0.0

    def peak(self, synapses: float, other_bytes: float = 0.0) -> float:
        """Bytes for ``synapses`` expected synapses and ``other_bytes`` of the shared
        estimate's other terms (input stream, drives, ring buffer, neuron state)."""
        run = self.base_bytes + self.bytes_per_synapse * synapses
        return max(run, self.base_bytes + self.build_bytes) + other_bytes


MIB = 2.0**20

BACKEND_MEMORY_MEASURED_ON = (
    "paper8-like networks (adapters.spec.networks.pools_network: 8 pools x 1024 LIF, 1024 "
    "Poisson inputs, every connection probability scaled) with 1.0, 4.0 and 12.0 million "
    "synapses, float64, 50 ms, one fresh process per backend and size that builds from an "
    "empty cache (as a sweep worker's cold build), runs 10 chunks of 50 steps (open loop: "
    "one call) and reports its own VmHWM plus the resident binary's; 2-core AMD EPYC "
    "x86-64 Linux, 24 GiB, Python 3.11, numpy 2.3, JAX 0.10.2 (CPU), NEST 3.10, Brian2 "
    "2.9.0, one thread")
"""What :data:`BACKEND_MEMORY` was measured on. Reproduce (about 9 minutes; prints the rows
and the fit, and writes rows.json, rows.csv and fit.json):

    .venv/bin/python -m benchmarks.scripts.memory_model --out /tmp/spark-bench-memory-model
"""

BACKEND_MEMORY: Mapping[str, BackendMemory] = MappingProxyType({
    # name: base (fit intercept), bytes per synapse (slope), build (compilers, summed)
    "spark": BackendMemory(301 * MIB, 112.0),
    "spark-native": BackendMemory(256 * MIB, 116.0),
    "nest": BackendMemory(563 * MIB, 59.0),
    "brian2-cpp": BackendMemory(281 * MIB, 185.0, build_bytes=277 * MIB),
    "brian2-cpp-uninterrupted": BackendMemory(281 * MIB, 185.0, build_bytes=276 * MIB),
    "brian2-runtime-run-per-chunk": BackendMemory(506 * MIB, 105.0, build_bytes=271 * MIB),
    # the same objects but the input group (a NeuronGroup for a SpikeGeneratorGroup): the
    # per-chunk mode's measurement, not re-measured
    "brian2-runtime": BackendMemory(506 * MIB, 105.0, build_bytes=271 * MIB),
})
"""Peak resident memory of one worker per backend (:class:`BackendMemory`), measured as
:data:`BACKEND_MEMORY_MEASURED_ON` says; the lines fit the three sizes within 19 MiB.
Measured peaks (MiB) at 1 / 4 / 12 M synapses: spark 397 / 743 / 1580, spark-native 353 /
719 / 1581, nest 624 / 785 / 1245, brian2-cpp 464 / 974 / 2396 (of which the resident
binary 67 / 253 / 795; the same for brian2-cpp-uninterrupted: one build, one binary),
brian2-runtime 600 / 914 / 1702 (measured when that label ran a ``Network.run`` per chunk:
today's ``brian2-runtime-run-per-chunk``). The Brian2 C++ figures include code generation in the
worker (~1 GiB of the 12 M figure): a worker that finds its build in the cache holds less
(``--builds shared``: brian2-cpp-uninterrupted 284 MiB + 92 B per synapse). The neuron
count was held at 8,192, so no per-neuron figure is fitted; float32 runs and more threads
were not measured (float64 and one thread are the larger and the usual case). Backends not
listed (GPU labels, brian2-numpy, brian2-cpp-relaunch, brian2-cuda, nest-uninterrupted)
have no model and only the shared estimate applies to them."""


@dataclass(frozen=True)
class Estimate:
    """Bytes per named term; ``synapses`` is the expected synapse count."""

    terms: dict[str, float]
    synapses: float
    neurons: int
    backends: dict[str, float] = field(default_factory=dict)
    """Per measured backend: one worker's estimated peak (bytes), see :data:`BACKEND_MEMORY`."""

    @property
    def total(self) -> float:
        return sum(self.terms.values())

    @property
    def biggest(self) -> tuple[str, float]:
        return max(self.terms.items(), key=lambda item: item[1])

    def lines(self) -> list[str]:
        out = [f"estimated memory: {_human(self.total)} ({self.neurons:,d} neurons, "
               f"~{self.synapses:,.0f} synapses)"]
        for name, size in sorted(self.terms.items(), key=lambda item: -item[1]):
            out.append(f"  {name:<46} {_human(size):>10}")
        if self.backends:
            out.append("estimated peak of one worker per backend (measured model, "
                       "interpreter and simulator included):")
            for name, size in self.backends.items():
                out.append(f"  {name}: ~{_human(size)}")
        return out


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    return f"{n:.1f} TiB"


def estimate(spec: NetworkSpec, duration_ms: float | None = None) -> Estimate:
    """The memory a run of ``spec`` (``duration_ms``: default the spec's) will need, from
    the spec alone (nothing drawn). Valid specs only (sizes and references checked)."""
    sim = spec.simulation
    n_steps = int(round((duration_ms if duration_ms is not None else sim.duration) / sim.dt))
    neurons = sum(p.size for p in spec.populations)
    synapses = 0.0
    for proj in spec.projections:
        synapses += proj.connector.expected_count(spec.size_of(proj.source),
                                                  spec.size_of(proj.target),
                                                  proj.source == proj.target)
    receptors = 1 + len({(d.target, d.synapse) for d in (*spec.projections, *spec.drives)
                         if d.synapse.time_constant is not None})
    max_delay_steps = 1
    for proj in spec.projections:
        high = _upper_delay(proj.delay)
        if high is not None:
            max_delay_steps = max(max_delay_steps, int(round(high / sim.dt)))
    terms = {
        "synapse arrays": synapses * BYTES_PER_SYNAPSE,
        "neuron state": neurons * 8.0 * 8,
        # float64 uniforms, and the compiled stream's bool rows
        "input stream (a uniform and a spike per step and input)": float(n_steps) * spec.input.size * 9,
        "delay ring buffer": float(max_delay_steps + 1) * neurons * min(receptors, 8) * 8,
    }
    if spec.drives:
        terms["drive counts"] = sum(float(n_steps) * spec.size_of(d.target) * d.count_dtype.itemsize
                                    for d in spec.drives) * 2  # host table and engine copy
    other = sum(size for name, size in terms.items() if name != SYNAPSE_TERM)
    backends = {name: model.peak(synapses, other) for name, model in BACKEND_MEMORY.items()}
    return Estimate(terms=terms, synapses=synapses, neurons=neurons, backends=backends)


def backend_estimate(spec: NetworkSpec, backend: str,
                     duration_ms: float | None = None) -> float | None:
    """One ``backend`` worker's estimated peak resident memory (bytes) for ``spec``: the
    measured model (:data:`BACKEND_MEMORY`) at the spec's expected synapse count, plus the
    shared terms other than the synapse arrays (input stream, drives, ring buffer, neuron
    state: the model was measured where they were small). None for a backend without a
    measured model."""
    return estimate(spec, duration_ms).backends.get(backend)


def _upper_delay(dist: Distribution) -> float | None:
    """A delay distribution's largest likely value (ms): its bound, or mean + 5 std."""
    if isinstance(dist, Constant):
        return float(dist.value)
    if isinstance(dist, Uniform):
        return float(dist.high)
    if isinstance(dist, TruncatedNormal) and dist.high is not None:
        return float(dist.high)
    if isinstance(dist, (Normal, TruncatedNormal)):
        return float(dist.mean) + 5.0 * float(dist.std)
    return None


def available_memory() -> float:
    """Bytes the kernel reports as available now (``MemAvailable``), or infinity when it
    cannot be read (then only an explicit limit applies)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float("inf")


def check_fits(spec: NetworkSpec, source: str, limit_bytes: float | None = None,
               duration_ms: float | None = None,
               backends: Iterable[str | None] = ()) -> Estimate:
    """The estimate, or a :class:`SpecError` (one line: the total, the limit, the biggest
    term) when it exceeds ``limit_bytes`` (default: the memory available now). With
    ``backends``, also refused when one worker of a listed backend with a measured model
    would exceed the limit (naming the backend with the largest estimate, and its figure);
    backends without a model (and None) are passed over."""
    est = estimate(spec, duration_ms)
    limit = available_memory() if limit_bytes is None else float(limit_bytes)
    what = "the memory available now" if limit_bytes is None else "--max-memory"
    if est.total > limit:
        name, size = est.biggest
        raise SpecError(source, "", f"a network needing ~{_human(est.total)}",
                        f"at most {_human(limit)} ({what}); the biggest term is {name}: "
                        f"{_human(size)}")
    over = [b for b in dict.fromkeys(backends) if b in est.backends and est.backends[b] > limit]
    if over:
        name = max(over, key=lambda b: est.backends[b])  # the first of equals
        size, model = est.backends[name], BACKEND_MEMORY[name]
        rest = [b for b in over if b != name]
        others = f" (also over: {', '.join(rest)})" if rest else ""
        build = model.base_bytes + model.build_bytes
        floor = (f", {_human(build)} while it compiles" if
                 build > model.base_bytes + model.bytes_per_synapse * est.synapses else "")
        raise SpecError(source, "", f"a {name} worker needing ~{_human(size)}",
                        f"at most {_human(limit)} ({what}); {name}'s measured model is "
                        f"{_human(model.base_bytes)} + {model.bytes_per_synapse:.0f} B x "
                        f"{est.synapses:,.0f} synapses{floor}{others}")
    return est
