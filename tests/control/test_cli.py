"""``spark-bench cartpole learn|bench``: the files each job writes and the one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("gymnasium")

from benchmarks.cli import main  # noqa: E402


def test_learn_writes_every_agents_returns_summary_and_figures(tmp_path):
    out = tmp_path / "learn"
    assert main(["cartpole", "learn", "--agents", "2", "--train", "3", "--test", "2",
                 "--k", "10", "--out", str(out)]) == 0
    returns = pd.read_csv(out / "returns.csv")
    assert sorted(returns.agent.unique()) == [0, 1]
    assert (returns.groupby(["agent", "phase"]).size() == [2, 3, 2, 3]).all()
    assert (returns["return"] >= 8).all()  # CartPole-v1 cannot fail in fewer steps
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.agent) == [0, 1]
    for name in ("learning_curves.png", "test_returns.png", "summary.md", "provenance.json"):
        assert (out / name).stat().st_size > 0
    assert "| 1 |" in (out / "summary.md").read_text()


def test_bench_times_capable_backends_and_lists_the_others_with_their_reason(tmp_path):
    out = tmp_path / "bench"
    assert main(["cartpole", "bench", "--backends", "spark", "nest", "--k", "10",
                 "--episodes", "2", "--out", str(out), ]) == 0
    table = pd.read_csv(out / "loop_bench.csv")
    spark, brian = table.iloc[0], table.iloc[1]
    assert spark.status == "ok" and spark.env_steps >= 16
    assert spark.network_s > 0 and spark.env_s > 0
    assert spark.loop_per_env_step_s >= spark.network_per_env_step_s
    assert brian.status.startswith("skipped") and "float64 only" in brian.status


def test_an_out_path_that_is_a_file_is_one_line_and_exit_2(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["cartpole", "learn", "--agents", "1", "--train", "1", "--test", "0",
                 "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a directory" in err[0]


def test_a_bench_cell_compiles_its_k_before_the_clock_starts(monkeypatch, tmp_path):
    """k = 30 is none of the agent's execution timesteps (10, 50, 100): the cell must still
    have Spark's k = 30 program ready when the timed episodes begin."""
    from adapters.spark.backend import SparkBackend
    from adapters.spec.networks import cartpole_agent
    from benchmarks.control import runs
    from benchmarks.control.cartpole import CartpoleTask

    ready = []
    original = SparkBackend.run_chunk

    def watched(self, chunk):
        ready.append(self._require().is_compiled(chunk.spikes.shape[0]))
        return original(self, chunk)

    monkeypatch.setattr(SparkBackend, "run_chunk", watched)
    row = runs.bench_cell(cartpole_agent(), CartpoleTask(k=30), "spark", 1, 0, tmp_path)
    assert row["status"] == "ok" and ready and all(ready)
