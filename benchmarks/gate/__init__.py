"""The CI regression gate: the commit under test against its parent, measured in one job.

Why a gate of its own rather than ``asv continuous``: CI runs on shared, noisy machines
where identical commits vary 0.6-1.5x in wall clock, so a wall-clock factor alone can only
catch large regressions. The gate leans on figures noise cannot move, and gates wall clock
only through interleaved rounds with a threshold calibrated against the same commit.

* :mod:`.measure` (run by path on each tree): spike-train digests of every backend on
  ``tiny`` and a reduced paper network, compile-cache hits and compiled-program counts,
  callgrind instruction counts of the native kernels and of Brian2's ``Network::run``.
* :mod:`.ab` / :mod:`.ab_worker`: the asv closed-loop cells timed base/head alternately
  (ABBA) on one core; the figure is the median per-round head/base ratio. ``--calibrate N``
  runs the same tree against itself N times (A/A).
* :mod:`.compare`: the rules (digest: any change needs a ``Behaviour-change:`` trailer;
  exact: equal; counts: +1 %; wall: the calibrated ratio; ``Accept-regression:`` excuses a
  regression) and the table.
* ``python -m benchmarks.gate`` (``make gate``; ``.ci/run`` calls it): checkout, measure,
  compare, exit 1 on a failing figure.
"""
