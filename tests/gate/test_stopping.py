"""The gate's early stop (benchmarks/gate/stopping.py and ab.ab with a limit): the interval
covers the median as often as it claims, and a cell stops only once its answer is clear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.gate import ab as ab_module
from benchmarks.gate.stopping import decide, median_interval, min_rounds


def test_no_interval_until_six_rounds_then_the_extremes():
    assert min_rounds() == 6
    assert median_interval([1.0, 1.1, 0.9, 1.05, 0.95]) is None
    assert median_interval([1.3, 1.0, 1.1, 0.9, 1.05, 0.95]) == (0.9, 1.3)
    # at 15 rounds the 95 % interval drops the three smallest and three largest
    values = list(range(15))
    assert median_interval(values) == (3, 11)


def test_the_interval_covers_the_true_median_at_least_as_often_as_claimed():
    rng = np.random.default_rng(7)
    # heavy right tail, like per-round ratios under bursts of load
    true_median = float(np.exp(0.0))
    for n in (6, 9, 15):
        hits = 0
        for _ in range(4000):
            low, high = median_interval(rng.lognormal(0.0, 0.1, n).tolist())
            hits += low <= true_median <= high
        assert hits / 4000 >= 0.95 - 0.01, n


def test_decide_inside_outside_or_not_yet():
    quiet = [0.98, 1.01, 1.0, 0.99, 1.02, 1.03]
    assert decide(quiet, 1.15) == "inside"
    assert decide([1.3, 1.25, 1.32, 1.28, 1.31, 1.27], 1.15) == "outside"
    assert decide([1.10, 1.2, 1.12, 1.18, 1.14, 1.16], 1.15) is None
    assert decide(quiet[:5], 1.15) is None


class FakeWorker:
    """Stands in for ab.Worker: a tree's time per request is its factor, times +-3 % noise."""

    factors = {"base": 1.0, "head": 1.0}

    def __init__(self, tree: Path, core, log):
        self.name = tree.name
        self.noise = np.random.default_rng(len(self.name))

    def ask(self, **request) -> dict:
        if request["op"] == "setup":
            return {"ok": True}
        return {"ok": True, "seconds": self.factors[self.name] * self.noise.uniform(0.97, 1.03)}

    def close(self) -> None:
        pass


@pytest.fixture
def fake_workers(monkeypatch):
    monkeypatch.setattr(ab_module, "Worker", FakeWorker)
    return FakeWorker


def run(fake_workers, head_factor, cells=(("a", 1), ("a", 100)), rounds=15):
    fake_workers.factors = {"base": 1.0, "head": head_factor}
    return ab_module.ab(Path("base"), Path("head"), rounds=rounds, cells=cells, limit=1.15)


def test_an_unchanged_tree_stops_at_the_first_possible_round(fake_workers):
    figures = run(fake_workers, 1.0)
    for figure in figures.values():
        assert len(figure["rounds"]) == min_rounds()
        assert figure["decided"] == "inside"
        assert figure["interval"][1] < 1.15


def test_a_clear_regression_is_decided_outside_early(fake_workers):
    figures = run(fake_workers, 1.40)
    for figure in figures.values():
        assert figure["decided"] == "outside"
        assert len(figure["rounds"]) == min_rounds()
        assert figure["value"] > 1.15


def test_a_ratio_at_the_limit_runs_every_round(fake_workers):
    figures = run(fake_workers, 1.15)
    for figure in figures.values():
        assert len(figure["rounds"]) == 15
        assert figure["decided"] == "undecided"


def test_without_a_limit_every_cell_runs_every_round(fake_workers):
    fake_workers.factors = {"base": 1.0, "head": 1.0}
    figures = ab_module.ab(Path("base"), Path("head"), rounds=9, cells=(("a", 1),))
    assert len(figures["wall/a/k1"]["rounds"]) == 9
    assert "decided" not in figures["wall/a/k1"]
