from __future__ import annotations

import pytest

import reports

from .synthetic import write_synthetic_results


@pytest.fixture(scope="session")
def results_a(tmp_path_factory):
    return write_synthetic_results(tmp_path_factory.mktemp("results") / "a", seed=0)


@pytest.fixture(scope="session")
def results_b(tmp_path_factory):
    # B: spark twice as fast, brian2-cpp 1.5x slower, another CPU
    return write_synthetic_results(tmp_path_factory.mktemp("results") / "b", seed=1,
                                   speed={"spark": 0.5, "brian2-cpp": 1.5}, cpu="Other CPU")


@pytest.fixture(scope="session")
def report(results_a, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, reports.build_report(results_a, out)
