"""The gate's judgement: each figure of the commit under test against its parent's.

Plain functions on the JSON that :mod:`measure` writes (``{"figures": {key: figure}}``, a
figure being ``{"kind": ..., "value": ...}`` or ``{"skipped": reason}``), so the rules are
unit-tested without measuring anything:

* ``digest`` (spike trains): any difference is a behaviour change. It fails unless a commit
  in ``base..head`` carries a ``Behaviour-change: <why>`` trailer, which the table shows.
* ``exact`` (compile-cache hits, numbers of compiled programs): must be equal.
* ``count`` (instructions executed, callgrind): fails above ``count_threshold`` (1 %: the
  counts repeat within 0.02 % here, see the README); an improvement is reported, not failed.
* ``ratio`` (wall clock, interleaved A/B rounds: the median head/base ratio): fails above
  the calibrated ``wall_threshold``.

A regression (``exact``, ``count``, ``ratio``) fails unless a commit carries an
``Accept-regression: <why>`` trailer. A figure the parent measured and the head cannot
(``skipped`` in head only) fails: a gate that quietly stops measuring gates nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

COUNT_THRESHOLD = 0.01
"""Instruction counts may grow by at most 1 % (they repeat within 0.02 % here)."""

WALL_THRESHOLD = 1.15
"""The median head/base ratio of 15 interleaved wall-clock rounds may reach this, per cell,
confirmed by a second A/B before it fails. A/A calibration on the 2-core CI kind of machine
(2026-12-04, README): quiet, 30 repetitions x 5 cells, every ratio within 0.925-1.042 (worst
cell sd 0.022); under load from other jobs, 60 repetitions, 2 had one cell above 1.25."""

FAILING = frozenset({"changed", "regressed", "lost"})


@dataclass(frozen=True)
class Trailers:
    """What the commits between base and head say about themselves."""

    behaviour_change: tuple[str, ...] = ()
    accept_regression: tuple[str, ...] = ()


_TRAILER = re.compile(r"^(Behaviour-change|Behavior-change|Accept-regression):\s*(\S.*)$",
                      re.IGNORECASE | re.MULTILINE)


def parse_trailers(messages: list[str]) -> Trailers:
    """The ``Behaviour-change:`` and ``Accept-regression:`` lines of commit messages (a
    reason is required: an empty trailer does not count)."""
    change, accept = [], []
    for message in messages:
        for key, reason in _TRAILER.findall(message):
            (accept if key.lower() == "accept-regression" else change).append(reason.strip())
    return Trailers(tuple(change), tuple(accept))


@dataclass(frozen=True)
class Verdict:
    figure: str
    kind: str
    base: str
    head: str
    change: str
    status: str  # ok | improved | new | skipped | changed | regressed | lost | explained | accepted
    note: str = ""

    @property
    def fails(self) -> bool:
        return self.status in FAILING


def _show(figure: dict | None) -> str:
    if figure is None:
        return "-"
    if "skipped" in figure:
        return "skipped"
    value = figure["value"]
    if figure["kind"] == "digest":
        return f"{str(value)[:10]} ({figure.get('spikes', '?')} spikes)"
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def judge_one(key: str, base: dict | None, head: dict | None, trailers: Trailers,
              count_threshold: float, wall_threshold: float) -> Verdict:
    kind = (head or base or {}).get("kind", "")
    shown = dict(figure=key, kind=kind, base=_show(base), head=_show(head))
    if head is None or (base is not None and "skipped" in head and "skipped" not in base):
        why = head["skipped"] if head else "not measured"
        return Verdict(**shown, change="", status="lost", note=f"head: {why}")
    if "skipped" in head:
        return Verdict(**shown, change="", status="skipped", note=head["skipped"][:80])
    if base is None or "skipped" in base:
        return Verdict(**shown, change="", status="new", note="no parent figure")
    b, h = base["value"], head["value"]
    if kind == "digest":
        if b == h:
            return Verdict(**shown, change="same", status="ok")
        if trailers.behaviour_change:
            return Verdict(**shown, change="differs", status="explained",
                           note="Behaviour-change: " + "; ".join(trailers.behaviour_change))
        return Verdict(**shown, change="differs", status="changed",
                       note="spikes changed; say why with a 'Behaviour-change:' trailer")
    if kind == "exact":
        regressed, change = b != h, ("same" if b == h else f"{b} -> {h}")
        improved = False
    else:
        ratio = (h / b) if kind == "count" else float(h)
        limit = 1.0 + (count_threshold if kind == "count" else wall_threshold - 1.0)
        change = f"{(ratio - 1.0) * 100:+.2f} %" if math.isfinite(ratio) else "?"
        regressed = not math.isfinite(ratio) or ratio > limit
        improved = math.isfinite(ratio) and ratio < 2.0 - limit
    if not regressed:
        return Verdict(**shown, change=change, status="improved" if improved else "ok")
    if trailers.accept_regression:
        return Verdict(**shown, change=change, status="accepted",
                       note="Accept-regression: " + "; ".join(trailers.accept_regression))
    limit_text = (f"limit +{count_threshold:.0%}" if kind == "count" else
                  f"limit x{wall_threshold:.2f}" if kind == "ratio" else "must be equal")
    return Verdict(**shown, change=change, status="regressed", note=limit_text)


def judge(base: dict, head: dict, trailers: Trailers = Trailers(), *,
          count_threshold: float = COUNT_THRESHOLD,
          wall_threshold: float = WALL_THRESHOLD) -> list[Verdict]:
    """Every figure either side has, in a stable order."""
    keys = sorted(set(base) | set(head))
    return [judge_one(k, base.get(k), head.get(k), trailers, count_threshold, wall_threshold)
            for k in keys]


def table(verdicts: list[Verdict]) -> str:
    """A fixed-width table a person reads in a CI log; failing rows first."""
    rows = sorted(verdicts, key=lambda v: (not v.fails, v.figure))
    header = ("figure", "kind", "base", "head", "change", "status", "note")
    cells = [header] + [(v.figure, v.kind, v.base, v.head, v.change,
                         v.status.upper() if v.fails else v.status, v.note) for v in rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(header) - 1)]
    lines = []
    for r in cells:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + str(r[-1]))
    failed = sum(v.fails for v in verdicts)
    lines.append(f"{len(verdicts)} figures, {failed} failing")
    return "\n".join(lines)
