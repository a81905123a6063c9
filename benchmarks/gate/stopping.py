"""When the gate's wall-clock A/B may stop: a distribution-free interval for the median.

Why: a fixed 15 rounds per cell spends most of the gate's wall-clock stage on cells whose
answer was clear after a handful of rounds (an unchanged commit sits near 1.00 against a
limit of 1.15). Each cell stops as soon as a confidence interval for the median of its
per-round head/base ratios lies wholly below the limit (it passes) or wholly above it (it
goes on to the confirming A/B); a cell still straddling the limit runs to the maximum.

The interval is the order-statistic one (no assumption on the ratios' distribution, which
has heavy right tails from bursts of load): for ``n`` sorted ratios the ``j``-th smallest
and ``j``-th largest, with ``j`` the largest index such that a Binomial(n, 1/2) falls below
``j`` with probability at most ``alpha / 2``. It first exists at n = 6 for 95 %.
"""

from __future__ import annotations

from math import comb
from typing import Literal, Sequence

CONFIDENCE = 0.95

Decision = Literal["inside", "outside"]


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """``(low, high)`` covering the median with at least ``confidence``, or ``None`` when
    ``values`` are too few for any such interval."""
    n = len(values)
    alpha_half = (1.0 - confidence) / 2.0
    tail, j = 0.0, 0
    # tail = P(Binomial(n, 1/2) <= j - 1) after each step; stop before it exceeds alpha/2.
    while j < n // 2:
        next_tail = tail + comb(n, j) / 2.0 ** n
        if next_tail > alpha_half:
            break
        tail, j = next_tail, j + 1
    if j == 0:
        return None
    ordered = sorted(values)
    return ordered[j - 1], ordered[n - j]


def min_rounds(confidence: float = CONFIDENCE) -> int:
    """The fewest rounds for which :func:`median_interval` exists."""
    n = 1
    while median_interval([0.0] * n, confidence) is None:
        n += 1
    return n


def decide(values: Sequence[float], limit: float, confidence: float = CONFIDENCE) -> Decision | None:
    """``"inside"`` when the median is below ``limit`` with ``confidence``, ``"outside"``
    when above it, ``None`` while the interval still contains the limit (or does not exist)."""
    interval = median_interval(values, confidence)
    if interval is None:
        return None
    low, high = interval
    if high < limit:
        return "inside"
    if low > limit:
        return "outside"
    return None
