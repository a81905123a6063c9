"""A spec that names no execution timesteps gets the defaults that fit its run (issue 37,
point 5: the first `spec validate` of a user's dt = 0.5 ms network failed on a k it never
wrote)."""

from __future__ import annotations

import re

from adapters.spec import load_spec, write_spec_file
from adapters.spec.model import DEFAULT_TIMESTEPS, Simulation, default_timesteps


def test_the_default_k_are_those_that_divide_the_run():
    assert Simulation().timesteps == DEFAULT_TIMESTEPS  # 10 000 steps: all of them
    assert Simulation(dt=0.5, duration=1000.0).timesteps == (1, 10, 100, 1000)
    assert Simulation(dt=0.1, duration=50.0).timesteps == (1, 10, 100)
    assert Simulation(dt=0.1, duration=0.3).timesteps == (1,)
    assert Simulation(timesteps=(7,)).timesteps == (7,)  # as written
    assert default_timesteps(0.0, 10.0) == DEFAULT_TIMESTEPS  # validation says why, not this


def test_a_file_without_timesteps_is_valid_and_show_says_what_was_left_out(tmp_path, capsys):
    from dataclasses import replace

    from benchmarks.cli import main

    spec = load_spec("brunel2000_small")
    spec = replace(spec, simulation=Simulation(dt=0.5, duration=1000.0, dtype="float64"))
    path = tmp_path / "mine.toml"
    write_spec_file(spec, path)
    path.write_text(re.sub(r"timesteps = \[[^\]]*\]\n", "", path.read_text()))
    assert "timesteps" not in path.read_text()
    assert load_spec(str(path)).simulation.timesteps == (1, 10, 100, 1000)
    assert main(["spec", "validate", str(path)]) == 0
    assert main(["spec", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "k in [1, 10, 100, 1000] (the defaults that divide 2000 steps; not 10000)" in out
