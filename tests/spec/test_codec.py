"""TOML and JSON round-trip exactly, and the file is plain data."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.spec import BUILTIN, load_spec, read_spec_file, write_spec_file
from adapters.spec.codec import dumps_json, dumps_toml, parse_text
from adapters.spec.model import (
    STDP,
    AdEx,
    Constant,
    Explicit,
    Exponential,
    FixedInDegree,
    Izhikevich,
    NetworkSpec,
    OneToOne,
    PoissonInput,
    Population,
    Projection,
    Simulation,
)


def _every_feature() -> NetworkSpec:
    """A spec that uses every model, connector, synapse and plasticity type."""
    return NetworkSpec(
        name="features",
        populations=(
            Population(name="ad", size=5, model=AdEx(), initial={"w": Constant(value=0.5)}),
            Population(name="iz", size=5, model=Izhikevich(a=0.1)),
        ),
        input=PoissonInput(size=3, rate=10.0),
        projections=(
            Projection(name="p1", source="input", target="ad", connector=FixedInDegree(n=2),
                       weight=Constant(value=1.25), synapse=Exponential(tau_syn=3.0)),
            Projection(name="p2", source="ad", target="iz", connector=OneToOne(),
                       weight=Constant(value=0.1), plasticity=STDP(a_plus=0.02)),
            Projection(name="p3", source="iz", target="ad",
                       connector=Explicit(pre=(0, 4), post=(1, 2)), weight=Constant(value=-0.3)),
        ),
        readouts=("iz",),
        simulation=Simulation(dt=0.125, duration=10.0, timesteps=(1, 2, 80), dtype="float64"),
    )


@pytest.mark.parametrize("name", [*BUILTIN, "features"])
@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_round_trip_exact(name: str, fmt: str, tmp_path: Path):
    spec = _every_feature() if name == "features" else BUILTIN[name]()
    path = tmp_path / f"net.{fmt}"
    write_spec_file(spec, path)
    again = read_spec_file(path)
    assert again == spec
    # And writing the re-read spec gives the same bytes (a fixed point).
    assert (dumps_toml(again) if fmt == "toml" else dumps_json(again)) == path.read_text()


def test_number_shorthand_for_constant():
    text = dumps_toml(BUILTIN["tiny"]()).replace(
        '[projections.weight]\nkind = "constant"\nvalue = 2.0', "", 1)
    text = text.replace('name = "input_to_a"', 'name = "input_to_a"\nweight = 2', 1)
    spec = parse_text(text, "toml", "<test>")
    assert spec.projections[0].weight == Constant(value=2.0)


def test_file_loaded_by_path_is_validated(tmp_path: Path):
    path = tmp_path / "features.toml"
    write_spec_file(_every_feature(), path)
    assert load_spec(path) == _every_feature()
