"""What a spec will cost before anything is drawn, and the refusal of a spec that cannot fit.

A spec of 10^9 neurons, or of two 10^6 populations connected with p = 1, is valid in every
field and still takes the machine down when it is materialised. :func:`estimate` adds up,
from the spec alone, the memory of what materialisation and the smallest engine build hold
at once: the synapse arrays (pre, post, weight, delay: 20 bytes per expected synapse, plus
the engine's own copy of the same size), the per-neuron state, the input stream's uniforms,
the drives' counts and the delay ring buffer. :func:`check_fits` refuses a spec whose
estimate exceeds the memory available now (``MemAvailable``) or a limit the user gives,
naming the biggest term.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SpecError
from .model import NetworkSpec

BYTES_PER_SYNAPSE = 20 + 20
"""Materialised pre/post (int32), weight (float64), delay (int32), and an engine's copy."""


@dataclass(frozen=True)
class Estimate:
    """Bytes per named term; ``synapses`` is the expected synapse count."""

    terms: dict[str, float]
    synapses: float
    neurons: int

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
        "input stream (one uniform per step and input)": float(n_steps) * spec.input.size * 8,
        "delay ring buffer": float(max_delay_steps + 1) * neurons * min(receptors, 8) * 8,
    }
    if spec.drives:
        terms["drive counts"] = sum(float(n_steps) * spec.size_of(d.target) * d.count_dtype.itemsize
                                    for d in spec.drives) * 2  # host table and engine copy
    return Estimate(terms=terms, synapses=synapses, neurons=neurons)


def _upper_delay(dist) -> float | None:
    """A delay distribution's largest likely value (ms): its bound, or mean + 5 std."""
    for attribute in ("value", "high"):
        value = getattr(dist, attribute, None)
        if value is not None:
            return float(value)
    mean, std = getattr(dist, "mean", None), getattr(dist, "std", None)
    return None if mean is None else float(mean) + 5.0 * float(std or 0.0)


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
               duration_ms: float | None = None) -> Estimate:
    """The estimate, or a :class:`SpecError` (one line: the total, the limit, the biggest
    term) when it exceeds ``limit_bytes`` (default: the memory available now)."""
    est = estimate(spec, duration_ms)
    limit = available_memory() if limit_bytes is None else float(limit_bytes)
    if est.total > limit:
        name, size = est.biggest
        what = "the memory available now" if limit_bytes is None else "--max-memory"
        raise SpecError(source, "", f"a network needing ~{_human(est.total)}",
                        f"at most {_human(limit)} ({what}); the biggest term is {name}: "
                        f"{_human(size)}")
    return est
