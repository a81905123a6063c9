"""``spark-bench spec show|export`` on built-in networks."""

from __future__ import annotations

from pathlib import Path

from adapters.spec import load_spec, materialise
from benchmarks.cli import main


def test_show_tiny_lists_every_projection_with_counts(capsys):
    assert main(["spec", "show", "tiny"]) == 0
    out = capsys.readouterr().out
    net = materialise(load_spec("tiny"))
    for proj in net.projections:
        assert proj.name in out
        assert f"{proj.n_synapses:,d} synapses" in out
    assert f"{net.n_synapses:,d} synapses" in out


def test_export_then_show_file(tmp_path: Path, capsys):
    out = tmp_path / "tiny.toml"
    assert main(["spec", "export", "tiny", "--format", "toml", "--out", str(out)]) == 0
    assert load_spec(out) == load_spec("tiny")
    assert main(["spec", "show", str(out), "--no-synapses"]) == 0
    assert "network tiny" in capsys.readouterr().out


def test_unknown_network_is_a_clear_error(capsys):
    assert main(["spec", "show", "paper9"]) == 2
    err = capsys.readouterr().err
    assert "paper9" in err and "built-in network" in err
