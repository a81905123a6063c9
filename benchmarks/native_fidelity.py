"""Statistical fidelity of the native comparison class: does a simulator running the model
its own way (its standard models, integrators and Poisson generators) produce the network
the exact class produces?

Spike-for-spike agreement is not expected across classes, so the test is on what a
researcher reads off a network: each population's firing rate and mean ISI CV. Both
classes run the same network on ``n`` instance seeds (connectivity, initial state; NEST's
own generators draw from the same seed), open loop on the same input spikes. A statistic
passes when the native mean over seeds lies within the exact class's own seed-to-seed
spread of the exact mean: ``|mean_native - mean_exact| <= max(SPREAD * sd_exact,
FLOOR * |mean_exact|)``. The floor keeps a statistic the exact class pins almost exactly
(a deterministic drive) from demanding bit-equality of the native one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Activity = Mapping[str, tuple[float, float]]
"""Per population: (rate Hz, mean ISI CV) of one run (:func:`benchmarks.fidelity.activity`)."""

SPREAD = 2.0
"""How many exact-class standard deviations (over seeds) the native mean may differ by."""
FLOOR = 0.05
"""The smallest tolerance, relative to the exact mean (5 %)."""
STATISTICS = ("rate Hz", "ISI CV")


@dataclass(frozen=True)
class StatisticCheck:
    """One population's statistic: both classes' mean and sd over seeds, and the verdict."""

    population: str
    statistic: str
    exact_mean: float
    exact_sd: float
    native_mean: float
    native_sd: float
    tolerance: float
    passed: bool

    @property
    def difference(self) -> float:
        return self.native_mean - self.exact_mean


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else 0.0


def judge(exact: Sequence[Activity], native: Sequence[Activity], spread: float = SPREAD,
          floor: float = FLOOR) -> list[StatisticCheck]:
    """Compare per-seed activities of the two classes (one entry per seed, each class).
    A statistic undefined in both (a silent population has no ISI CV) passes; undefined in
    one class only fails."""
    if len(exact) < 2 or len(native) < 2:
        raise ValueError("the statistical comparison needs at least 2 seeds per class")
    checks = []
    for pop in exact[0]:
        for index, statistic in enumerate(STATISTICS):
            e_mean, e_sd = _mean_sd([run[pop][index] for run in exact])
            n_mean, n_sd = _mean_sd([run[pop][index] for run in native])
            if math.isnan(e_mean) or math.isnan(n_mean):
                tolerance = float("nan")
                passed = math.isnan(e_mean) and math.isnan(n_mean)
            else:
                tolerance = max(spread * e_sd, floor * abs(e_mean))
                passed = abs(n_mean - e_mean) <= tolerance
            checks.append(StatisticCheck(pop, statistic, e_mean, e_sd, n_mean, n_sd,
                                         tolerance, passed))
    return checks


def seed_activities(record: Callable[[int], Activity], seeds: Sequence[int]) -> list[Activity]:
    """``record(seed)`` for every seed: one class's per-seed activity."""
    return [record(seed) for seed in seeds]


def format_checks(native_name: str, exact_name: str, checks: Sequence[StatisticCheck],
                  n_seeds: int) -> str:
    """The table the command prints: one line per population and statistic, PASS/FAIL."""
    head = (f"{native_name} (native) against {exact_name} (exact), {n_seeds} seeds; a "
            f"statistic passes within max({SPREAD:g} sd of the exact class, "
            f"{FLOOR:.0%} of its mean)")
    lines = [head, f"{'population':<14}{'statistic':<10}{'exact mean':>12}{'sd':>9}"
                   f"{'native mean':>13}{'sd':>9}{'diff':>9}{'tol':>9}  verdict", "-" * 92]
    for c in checks:
        lines.append(f"{c.population:<14}{c.statistic:<10}{c.exact_mean:>12.3f}{c.exact_sd:>9.3f}"
                     f"{c.native_mean:>13.3f}{c.native_sd:>9.3f}{c.difference:>9.3f}"
                     f"{c.tolerance:>9.3f}  {'PASS' if c.passed else 'FAIL'}")
    failed = sum(not c.passed for c in checks)
    lines.append(f"{len(checks) - failed} of {len(checks)} statistics pass")
    return "\n".join(lines)
