"""Spike-train agreement between two runs of the same network: is a timing comparing the
same computation?

Every backend simulates the same materialised network with the same input spikes, and
records ``{population: (steps, indices)}`` (int arrays, steps since the start of the run,
time = step * dt). :func:`compare_spikes` measures how far a *candidate* run agrees with a
*reference* run, at four levels of strictness:

1. **Exact window** — the time of the first spike present in one run but not the other
   (over all populations); the full duration when none differs. For a float64 run of a
   small network every backend should agree bit for bit, so this is the full duration.
2. **Identical fraction** — spikes present in both runs with the same (population, step,
   index), divided by the larger of the two spike counts (1.0 when both are empty).
3. **Rates** — the mean rate of each population (Hz) in each run and the relative error
   ``|rate_c - rate_r| / rate_r``. Zero-rate rule: 0 when both rates are zero, ``inf`` when
   the reference is silent and the candidate is not (no finite tolerance accepts spikes
   from a population that should be silent).
4. **SPIKE-distance** — a time-resolved, parameter-free dissimilarity of spike timing
   (below), together with a **shuffle control**: the same distance with the candidate's
   neuron identities permuted within each population. The control is what "unrelated
   trains from this population" score; a distance near the control means the two runs
   agree on rates at most, not on spike timing.

The SPIKE-distance (Kreuz, Chicharro, Houghton, Andrzejak & Mormann 2013, J Neurophysiol
109:1457) of two trains on ``[0, T]``, computed here on the integer step grid (so it is
dimensionless and independent of dt):

* For train *n* at time *t*, let ``P_n <= t <= F_n`` be its previous and following spike,
  ``x_n = F_n - P_n`` the current inter-spike interval, ``xP = t - P_n``, ``xF = F_n - t``.
  Each spike *s* of train *n* carries ``delta(s)``: the distance to the nearest spike of the
  other train. The local dissimilarity of train *n* interpolates between the deltas of its
  two enclosing spikes: ``S_n(t) = (delta(P_n) * xF + delta(F_n) * xP) / x_n``.
* The two are combined with weights from the other train's interval and normalised by the
  mean interval: ``S(t) = (S_1 x_2 + S_2 x_1) / (2 <x>^2)`` with ``<x> = (x_1 + x_2) / 2``.
  ``S`` is 0 only where both trains have coincident spikes, and ``D = (1/T) ∫ S(t) dt``.
  ``S`` is linear between consecutive spikes of the merged trains, so the integral here is
  exact (no time grid).
* Edges: auxiliary spikes at ``0`` (unless a real spike is there) and at ``T`` close the
  first and last intervals, as in Kreuz et al. (2013). Unlike the original, the auxiliary
  spikes are *not* candidates for the nearest-spike search, and an auxiliary spike's delta
  is that of the adjacent real spike of its own train (the spirit of the later edge
  correction of Kreuz and colleagues): otherwise an edge would count as a perfectly
  coincident spike pair and two sparse, quite different trains such as {10} and {990} on
  [0, 1000] would score close to 0 (they score 0.99 here). Because edge intervals can then
  carry deltas larger than the local intervals, ``S(t)`` is clipped to 1 (this only binds in
  edge intervals); ``D`` lies in [0, 1].
* Conventions: a pair where one train is empty and the other is not scores 1 (maximal);
  pairs with no spike in either train are left out of every average.
* Typical values: 0 for identical trains; independent Poisson trains of equal rate score
  about 0.2-0.3, and the shuffle control shows the value for the network at hand.

The distance is computed per neuron (reference neuron *i* vs candidate neuron *i*) on a
deterministic subsample of at most ``max_neurons`` neurons per population — evenly spaced
over the sorted neurons that spiked in either run — and averaged over all sampled neurons
with spikes in either train (pooled over populations; per-population means are kept too).
The control pairs the same reference neurons with candidate neuron ``sigma(i)``, where
``sigma`` is a random cyclic derangement of the population (no neuron is paired with
itself) drawn from ``numpy.random.default_rng([seed, crc32(population name)])``; same seed,
same control. A population of one neuron has no derangement and contributes no control
pair.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

Spikes = Mapping[str, tuple[np.ndarray, np.ndarray]]

__all__ = ["Agreement", "Thresholds", "compare_spikes", "format_rate_table", "format_table",
           "spike_distance"]


# --------------------------------------------------------------------------------------
# Thresholds


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """What counts as "the same computation".

    The defaults are for float64: the whole (small) run must match exactly — the exact
    window must cover the full duration and every spike must be identical — and every
    population's rate must be within 1 %. :meth:`for_dtype` gives the float32 thresholds:
    rounding differences between backends make trajectories of a recurrent network diverge,
    so no exact window or identical fraction is required, only rates within 2 %.

    ``distance_ratio_max`` (off by default): when set, the SPIKE-distance must be at most
    this fraction of the shuffle control (e.g. 0.5: "clearly closer than unrelated trains").
    """

    exact_window_fraction_min: float = 1.0  # exact window >= this fraction of the duration
    identical_fraction_min: float = 1.0
    rate_rel_error_max: float = 0.01
    distance_ratio_max: float | None = None

    @classmethod
    def for_dtype(cls, dtype: str) -> Thresholds:
        if dtype == "float64":
            return cls()
        if dtype == "float32":
            return cls(exact_window_fraction_min=0.0, identical_fraction_min=0.0,
                       rate_rel_error_max=0.02)
        raise ValueError(f"no fidelity thresholds for dtype {dtype!r}")


# --------------------------------------------------------------------------------------
# Agreement


@dataclass(frozen=True, kw_only=True)
class Agreement:
    """How far ``candidate`` agrees with ``reference`` (see the module docstring for the
    definitions). Times in ms, rates in Hz; dict fields are keyed by population name.
    ``first_difference`` is ``(population, step, index)`` of the earliest spike present in
    one run only (the lowest index at that step), ``None`` when the runs are identical.
    Distances are NaN when no sampled neuron spiked in either run (nothing to compare);
    ``distance_control`` is also NaN when no population has two or more neurons."""

    reference: str
    candidate: str
    duration_ms: float
    n_spikes_reference: int
    n_spikes_candidate: int
    exact_window_ms: float
    first_difference: tuple[str, int, int] | None
    identical_fraction: float
    rates_reference_hz: dict[str, float] = field(default_factory=dict)
    rates_candidate_hz: dict[str, float] = field(default_factory=dict)
    rate_rel_error: dict[str, float] = field(default_factory=dict)
    rate_rel_error_max: float = 0.0
    distance: float = math.nan
    distance_control: float = math.nan
    distance_by_population: dict[str, float] = field(default_factory=dict)
    distance_control_by_population: dict[str, float] = field(default_factory=dict)
    n_neurons_compared: int = 0

    __hash__ = None  # holds dicts

    @property
    def identical(self) -> bool:
        return self.first_difference is None

    def failures(self, thresholds: Thresholds | None = None) -> list[str]:
        """Human-readable reasons this agreement falls short of ``thresholds`` (default:
        float64 thresholds); empty when it passes."""
        th = thresholds or Thresholds()
        out: list[str] = []
        need_window = th.exact_window_fraction_min * self.duration_ms
        # Compare in steps of the run: a tiny tolerance absorbs float rounding of step*dt.
        if self.exact_window_ms < need_window - 1e-9 * max(1.0, self.duration_ms):
            where = ""
            if self.first_difference is not None:
                pop, step, idx = self.first_difference
                where = f" (population {pop!r}, step {step}, neuron {idx})"
            out.append(
                f"exact window {self.exact_window_ms:g} ms < required {need_window:g} ms of "
                f"{self.duration_ms:g} ms: first differing spike at {self.exact_window_ms:g} ms"
                f"{where}")
        if not self.identical_fraction >= th.identical_fraction_min:
            out.append(
                f"identical fraction {self.identical_fraction:.6f} < required "
                f"{th.identical_fraction_min:.6f} ({self.n_spikes_reference} reference vs "
                f"{self.n_spikes_candidate} candidate spikes)")
        for pop, err in self.rate_rel_error.items():
            if not err <= th.rate_rel_error_max:
                out.append(
                    f"rate of {pop!r} differs by {_pct(err)} > {_pct(th.rate_rel_error_max)} "
                    f"(reference {self.rates_reference_hz[pop]:.4g} Hz, candidate "
                    f"{self.rates_candidate_hz[pop]:.4g} Hz)")
        if th.distance_ratio_max is not None:
            d, c = self.distance, self.distance_control
            if math.isnan(d) or d == 0.0:
                pass  # nothing spiked, or identical timing: nothing to fail on
            elif math.isnan(c) or c == 0.0:
                out.append(f"SPIKE-distance {d:.4g} cannot be judged: no shuffle control")
            elif d > th.distance_ratio_max * c:
                out.append(
                    f"SPIKE-distance {d:.4g} > {th.distance_ratio_max:g} x shuffle control "
                    f"{c:.4g} (ratio {d / c:.3f}): spike timing barely agrees")
        return out

    def passes(self, thresholds: Thresholds | None = None) -> bool:
        return not self.failures(thresholds)

    def as_row_fields(self) -> dict[str, object]:
        """The ``fidelity_*`` columns of :class:`benchmarks.results.ResultRow`."""
        return {
            "fidelity_reference": self.reference,
            "fidelity_exact_window_ms": float(self.exact_window_ms),
            "fidelity_identical_fraction": float(self.identical_fraction),
            "fidelity_rate_rel_error_max": float(self.rate_rel_error_max),
            "fidelity_distance": float(self.distance),
            "fidelity_distance_control": float(self.distance_control),
        }


def _pct(x: float) -> str:
    return "inf %" if math.isinf(x) else f"{100.0 * x:.3g} %"


# --------------------------------------------------------------------------------------
# Input handling


def _normalise(spikes: Spikes, sizes: Mapping[str, int], n_steps: int,
               what: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validated ``{pop: (steps, indices)}`` int64 arrays for every population of
    ``sizes`` (missing populations are empty), sorted by (step, index)."""
    unknown = set(spikes) - set(sizes)
    if unknown:
        raise ValueError(f"{what} spikes name unknown populations: {sorted(unknown)}")
    out = {}
    for pop, size in sizes.items():
        if pop not in spikes:
            out[pop] = (np.zeros(0, np.int64), np.zeros(0, np.int64))
            continue
        steps, idx = spikes[pop]
        steps = np.asarray(steps).astype(np.int64, copy=False).ravel()
        idx = np.asarray(idx).astype(np.int64, copy=False).ravel()
        if steps.shape != idx.shape:
            raise ValueError(f"{what} spikes of {pop!r}: {steps.size} steps but "
                             f"{idx.size} indices")
        if steps.size:
            if steps.min() < 0 or steps.max() >= n_steps:
                raise ValueError(f"{what} spikes of {pop!r}: steps outside [0, {n_steps})")
            if idx.min() < 0 or idx.max() >= size:
                raise ValueError(f"{what} spikes of {pop!r}: indices outside [0, {size})")
            key = steps * size + idx
            if np.any(key[1:] < key[:-1]):
                order = np.argsort(key, kind="stable")
                steps, idx = steps[order], idx[order]
        out[pop] = (steps, idx)
    return out


def _match(ref: tuple[np.ndarray, np.ndarray], cand: tuple[np.ndarray, np.ndarray],
           size: int) -> tuple[int, tuple[int, int] | None]:
    """(number of spikes present in both, (step, index) of the first differing spike).
    Spikes are compared as multisets of (step, index)."""
    kr = ref[0] * size + ref[1]
    kc = cand[0] * size + cand[1]
    ur, cr = np.unique(kr, return_counts=True)
    uc, cc = np.unique(kc, return_counts=True)
    common, ir, ic = np.intersect1d(ur, uc, assume_unique=True, return_indices=True)
    n_common = int(np.minimum(cr[ir], cc[ic]).sum())
    # Keys whose multiplicity differs: in one run only, or in both with unequal counts.
    differ = [np.setxor1d(ur, uc, assume_unique=True), common[cr[ir] != cc[ic]]]
    differ = np.concatenate(differ)
    if differ.size == 0:
        return n_common, None
    first = int(differ.min())
    return n_common, (first // size, first % size)


def _rate_rel_error(rate_r: float, rate_c: float) -> float:
    if rate_r > 0.0:
        return abs(rate_c - rate_r) / rate_r
    return 0.0 if rate_c == 0.0 else math.inf


# --------------------------------------------------------------------------------------
# SPIKE-distance, vectorised over many train pairs


def _nearest_distance(t: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Distance from each ``t`` to the nearest element of sorted, non-empty ``other``."""
    k = np.searchsorted(other, t)
    last = other.size - 1
    left = other[np.clip(k - 1, 0, last)]
    right = other[np.clip(k, 0, last)]
    return np.minimum(np.abs(t - left), np.abs(t - right))


def _with_edges(g: np.ndarray, blk: np.ndarray, delta: np.ndarray, blocks: np.ndarray,
                stride: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Add auxiliary spikes at each block's 0 (unless a real spike is there) and T, with
    the delta of the adjacent real spike; return (times, deltas) sorted by time."""
    first = np.searchsorted(blk, blocks, side="left")
    last = np.searchsorted(blk, blocks, side="right") - 1
    start = blocks * stride
    need = g[first] > start
    times = np.concatenate([g, start[need], start + T])
    deltas = np.concatenate([delta, delta[first][need], delta[last]])
    order = np.argsort(times, kind="stable")
    return times[order], deltas[order]


def _clipped_area(y0: np.ndarray, y1: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Integral of min(y, 1) for y linear from y0 to y1 (both >= 0) over ``length``."""
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    area = 0.5 * (y0 + y1) * length
    above = lo >= 1.0
    area[above] = length[above]
    cross = (hi > 1.0) & ~above
    if cross.any():
        f = (1.0 - lo[cross]) / (hi[cross] - lo[cross])  # fraction of the interval below 1
        area[cross] = length[cross] * (f * 0.5 * (lo[cross] + 1.0) + (1.0 - f))
    return area


def _block_spike_distance(t1: np.ndarray, b1: np.ndarray, t2: np.ndarray, b2: np.ndarray,
                          n_blocks: int, T: int) -> np.ndarray:
    """SPIKE-distance of ``n_blocks`` independent train pairs at once.

    Pair ``j`` is train 1 = ``t1[b1 == j]`` and train 2 = ``t2[b2 == j]`` (integer times in
    ``[0, T)``, no duplicates within a train). Returns one value per pair; NaN where both
    trains are empty, 1 where exactly one is. The pairs are laid end to end on one time
    axis with a stride of ``2T + 2``, so each pair's nearest-spike searches never reach
    another pair (any spike of another pair is more than ``T`` away, any spike of its own
    less than ``T``).
    """
    out = np.full(n_blocks, np.nan)
    n1 = np.bincount(b1, minlength=n_blocks)
    n2 = np.bincount(b2, minlength=n_blocks)
    out[(n1 > 0) != (n2 > 0)] = 1.0
    both = (n1 > 0) & (n2 > 0)
    if not both.any():
        return out
    stride = 2 * T + 2
    k1, k2 = both[b1], both[b2]
    b1, b2 = b1[k1], b2[k2]
    g1 = (b1 * stride + t1[k1]).astype(np.float64)
    g2 = (b2 * stride + t2[k2]).astype(np.float64)
    o1, o2 = np.argsort(g1, kind="stable"), np.argsort(g2, kind="stable")
    g1, b1, g2, b2 = g1[o1], b1[o1], g2[o2], b2[o2]
    d1 = _nearest_distance(g1, g2)
    d2 = _nearest_distance(g2, g1)
    blocks = np.flatnonzero(both)
    s1, e1 = _with_edges(g1, b1, d1, blocks, stride, T)
    s2, e2 = _with_edges(g2, b2, d2, blocks, stride, T)

    events = np.union1d(s1, s2)
    a, b = events[:-1], events[1:]
    blk = (a // stride).astype(np.int64)
    inside = blk == (b // stride).astype(np.int64)  # drop the gaps between pairs
    a, b, blk = a[inside], b[inside], blk[inside]

    def local(s: np.ndarray, e: np.ndarray):
        p = np.searchsorted(s, a, side="right") - 1
        P, F, dP, dF = s[p], s[p + 1], e[p], e[p + 1]
        x = F - P

        def at(t):
            return (dP * (F - t) + dF * (t - P)) / x

        return at(a), at(b), x

    sa1, sb1, x1 = local(s1, e1)
    sa2, sb2, x2 = local(s2, e2)
    norm = 2.0 / (x1 + x2) ** 2  # 1 / (2 <x>^2)
    ya = (sa1 * x2 + sa2 * x1) * norm
    yb = (sb1 * x2 + sb2 * x1) * norm
    area = _clipped_area(ya, yb, b - a)
    out[both] = np.bincount(blk, weights=area, minlength=n_blocks)[both] / T
    return out


def spike_distance(train1, train2, T: int) -> float:
    """SPIKE-distance (module docstring) of two trains of integer times in ``[0, T)``;
    NaN when both are empty."""
    t1 = np.unique(np.asarray(train1, dtype=np.int64))
    t2 = np.unique(np.asarray(train2, dtype=np.int64))
    for t in (t1, t2):
        if t.size and (t[0] < 0 or t[-1] >= T):
            raise ValueError(f"spike times outside [0, {T})")
    return float(_block_spike_distance(t1, np.zeros(t1.size, np.int64), t2,
                                       np.zeros(t2.size, np.int64), 1, T)[0])


def _subsample(active: np.ndarray, max_neurons: int) -> np.ndarray:
    """At most ``max_neurons`` of sorted ``active``, evenly spaced (deterministic)."""
    if active.size <= max_neurons:
        return active
    return active[(np.arange(max_neurons) * active.size) // max_neurons]


def _derangement(size: int, seed: int, pop: str) -> np.ndarray | None:
    """A random cyclic permutation of ``range(size)`` with no fixed point."""
    if size < 2:
        return None
    rng = np.random.default_rng([seed, zlib.crc32(pop.encode())])
    order = rng.permutation(size)
    sigma = np.empty(size, np.int64)
    sigma[order] = np.roll(order, -1)
    return sigma


def _pair_distances(ref: tuple[np.ndarray, np.ndarray], cand: tuple[np.ndarray, np.ndarray],
                    neurons: np.ndarray, partners: np.ndarray, size: int,
                    T: int) -> np.ndarray:
    """SPIKE-distance of reference neuron ``neurons[j]`` vs candidate neuron
    ``partners[j]`` for every j (NaN where both are silent). ``partners`` is injective."""
    n = neurons.size
    block_r = np.full(size, -1, np.int64)
    block_r[neurons] = np.arange(n)
    block_c = np.full(size, -1, np.int64)
    block_c[partners] = np.arange(n)
    br, bc = block_r[ref[1]], block_c[cand[1]]
    kr, kc = br >= 0, bc >= 0
    tr, br = ref[0][kr], br[kr]
    tc, bc = cand[0][kc], bc[kc]
    # A train must not repeat a time (a neuron spikes once per step); drop duplicates.
    tr, br = _dedupe(tr, br, T)
    tc, bc = _dedupe(tc, bc, T)
    return _block_spike_distance(tr, br, tc, bc, n, T)


def _dedupe(t: np.ndarray, b: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    key = np.unique(b * T + t)
    return key % T, key // T


def _mean(values: list[np.ndarray]) -> float:
    v = np.concatenate(values) if values else np.zeros(0)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else math.nan


# --------------------------------------------------------------------------------------
# The comparison


def compare_spikes(reference: Spikes, candidate: Spikes, sizes: Mapping[str, int],
                   n_steps: int, dt_ms: float, *, labels: tuple[str, str] = ("ref", "cand"),
                   max_neurons: int = 256, seed: int = 0) -> Agreement:
    """Compare two recordings ``{population: (steps, indices)}`` of the same network over
    ``n_steps`` steps of ``dt_ms``; ``sizes`` gives every population's size (populations
    absent from a recording are taken as silent). See the module docstring."""
    if n_steps <= 0:
        raise ValueError(f"n_steps must be positive, got {n_steps}")
    if not dt_ms > 0:
        raise ValueError(f"dt_ms must be positive, got {dt_ms}")
    if not sizes:
        raise ValueError("no populations to compare")
    if max_neurons < 1:
        raise ValueError(f"max_neurons must be >= 1, got {max_neurons}")
    sizes = {pop: int(n) for pop, n in sizes.items()}
    ref = _normalise(reference, sizes, n_steps, "reference")
    cand = _normalise(candidate, sizes, n_steps, "candidate")
    duration_ms = n_steps * dt_ms
    duration_s = duration_ms / 1000.0

    n_ref = sum(s.size for s, _ in ref.values())
    n_cand = sum(s.size for s, _ in cand.values())
    n_common = 0
    first: tuple[str, int, int] | None = None
    rates_r, rates_c, rel = {}, {}, {}
    dist, ctrl, dist_all, ctrl_all = {}, {}, [], []
    n_compared = 0
    for pop, size in sizes.items():
        r, c = ref[pop], cand[pop]
        common, diff = _match(r, c, size)
        n_common += common
        if diff is not None and (first is None or diff[0] < first[1]):
            first = (pop, diff[0], diff[1])
        denom = size * duration_s
        rates_r[pop] = r[0].size / denom if size else 0.0
        rates_c[pop] = c[0].size / denom if size else 0.0
        rel[pop] = _rate_rel_error(rates_r[pop], rates_c[pop])

        active = np.union1d(r[1], c[1])
        neurons = _subsample(active, max_neurons)
        d = _pair_distances(r, c, neurons, neurons, size, n_steps)
        n_compared += int(np.count_nonzero(~np.isnan(d)))
        dist[pop] = _mean([d])
        dist_all.append(d)
        sigma = _derangement(size, seed, pop)
        if sigma is not None and neurons.size:
            dc = _pair_distances(r, c, neurons, sigma[neurons], size, n_steps)
            ctrl[pop] = _mean([dc])
            ctrl_all.append(dc)
        else:
            ctrl[pop] = math.nan

    if n_ref == 0 and n_cand == 0:
        identical_fraction = 1.0
    else:
        identical_fraction = n_common / max(n_ref, n_cand)
    return Agreement(
        reference=labels[0],
        candidate=labels[1],
        duration_ms=duration_ms,
        n_spikes_reference=n_ref,
        n_spikes_candidate=n_cand,
        exact_window_ms=duration_ms if first is None else first[1] * dt_ms,
        first_difference=first,
        identical_fraction=identical_fraction,
        rates_reference_hz=rates_r,
        rates_candidate_hz=rates_c,
        rate_rel_error=rel,
        rate_rel_error_max=max(rel.values()),
        distance=_mean(dist_all),
        distance_control=_mean(ctrl_all),
        distance_by_population=dist,
        distance_control_by_population=ctrl,
        n_neurons_compared=n_compared,
    )


# --------------------------------------------------------------------------------------
# Reporting


def format_table(agreements: Iterable[Agreement], thresholds: Thresholds | None = None) -> str:
    """A plain-text table, one line per candidate: exact window (and its share of the
    duration), identical fraction, worst rate error, SPIKE-distance and its shuffle
    control; with ``thresholds`` also a verdict column (PASS/FAIL)."""
    header = ["reference", "candidate", "exact window ms", "identical", "rate err max",
              "distance", "control"]
    if thresholds is not None:
        header.append("verdict")
    rows = []
    for a in agreements:
        share = a.exact_window_ms / a.duration_ms if a.duration_ms else math.nan
        row = [a.reference, a.candidate,
               f"{a.exact_window_ms:.6g} ({100.0 * share:.1f} %)",
               f"{a.identical_fraction:.6f}",
               _pct(a.rate_rel_error_max),
               _fmt(a.distance), _fmt(a.distance_control)]
        if thresholds is not None:
            row.append("PASS" if a.passes(thresholds) else "FAIL")
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    left = {0, 1, 7}  # labels and verdict left-aligned, numbers right-aligned

    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4f}"


def format_rate_table(agreements: Sequence[Agreement], tolerance: float | None = None) -> str:
    """Per-population firing rates: one line per population with the reference's rate,
    then each candidate's rate and its relative error (:class:`Agreement` rates, same
    zero-rate rule); with ``tolerance`` a last column says ``ok`` or ``ABOVE`` (some
    candidate's error exceeds it). The agreements must share one reference and its
    populations (e.g. several float32 runs against one float64 run)."""
    agreements = list(agreements)
    if not agreements:
        raise ValueError("no agreements to tabulate")
    ref = agreements[0]
    pops = list(ref.rates_reference_hz)
    for a in agreements[1:]:
        if a.reference != ref.reference or list(a.rates_reference_hz) != pops:
            raise ValueError("rate table: agreements must share one reference and its populations")
    header = ["population", f"{ref.reference} Hz"]
    for a in agreements:
        header += [f"{a.candidate} Hz", "rel err"]
    if tolerance is not None:
        header.append("verdict")
    rows = []
    for pop in pops:
        row = [pop, f"{ref.rates_reference_hz[pop]:.4f}"]
        worst = 0.0
        for a in agreements:
            err = a.rate_rel_error[pop]
            worst = max(worst, err)
            row += [f"{a.rates_candidate_hz[pop]:.4f}", _pct(err)]
        if tolerance is not None:
            row.append("ok" if worst <= tolerance else "ABOVE")
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    left = {0, len(header) - 1} if tolerance is not None else {0}

    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])



# --------------------------------------------------------------------------- what a network did


def activity(spikes: Spikes, sizes: Mapping[str, int], n_steps: int, dt_ms: float,
             ) -> dict[str, tuple[float, float]]:
    """Per population: mean firing rate (Hz, over all its neurons and the whole run) and the
    mean coefficient of variation of the inter-spike intervals over neurons with at least
    three spikes (NaN when none has), so nobody has to parse spike files to see what a
    network did."""
    out = {}
    seconds = n_steps * dt_ms * 1e-3
    for pop, size in sizes.items():
        steps, idx = spikes.get(pop, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        rate = len(steps) / (size * seconds) if size and seconds else float("nan")
        cvs = []
        if len(steps):
            order = np.lexsort((steps, idx))
            s, i = np.asarray(steps)[order], np.asarray(idx)[order]
            bounds = np.flatnonzero(np.diff(i)) + 1
            for train in np.split(s, bounds):
                if train.size >= 3:
                    isi = np.diff(train).astype(np.float64)
                    if isi.mean() > 0:
                        cvs.append(isi.std() / isi.mean())
        out[pop] = (rate, float(np.mean(cvs)) if cvs else float("nan"))
    return out


def format_activity_table(per_backend: Mapping[str, Mapping[str, tuple[float, float]]]) -> str:
    """``backend  population  rate Hz  ISI CV`` rows."""
    lines = [f"{'backend':<26}{'population':<14}{'rate Hz':>10}{'ISI CV':>9}", "-" * 59]
    for backend, pops in per_backend.items():
        for pop, (rate, cv) in pops.items():
            lines.append(f"{backend:<26}{pop:<14}{rate:>10.3f}{_fmt(cv):>9}")
    return "\n".join(lines)
