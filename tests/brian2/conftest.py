"""Shared, session-scoped builds: every Brian2 build of a network is made once per session.

Build directories live under ``$SPARK_BENCH_TEST_CACHE`` when set (reruns are warm),
otherwise under a session temporary directory (cold, as on CI).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("brian2")

from adapters.base import BackendOptions  # noqa: E402
from adapters.spec.inputs import InputStream  # noqa: E402
from adapters.spec.materialise import materialise  # noqa: E402
from adapters.spec.model import (  # noqa: E402
    ALIF,
    LIF,
    Constant,
    Explicit,
    Exponential,
    NetworkSpec,
    PoissonInput,
    Population,
    Projection,
    Simulation,
    Uniform,
)
from adapters.spec.networks import tiny  # noqa: E402

from .reference import simulate  # noqa: E402


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    env = os.environ.get("SPARK_BENCH_TEST_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("brian2-cache")


@pytest.fixture(scope="session")
def options(cache_dir) -> BackendOptions:
    return BackendOptions(cache_dir=cache_dir, record_spikes=True)


@pytest.fixture(scope="session")
def tiny_net():
    return materialise(tiny())


@pytest.fixture(scope="session")
def tiny_inputs(tiny_net) -> np.ndarray:
    return InputStream(tiny_net.spec).open_loop()


@pytest.fixture(scope="session")
def tiny_reference(tiny_net, tiny_inputs):
    return simulate(tiny_net, tiny_inputs)


@pytest.fixture(scope="session")
def nvcc_net():
    """``tiny`` with two of its five projections, one of each synapse model and delay kind:
    ``input_to_a`` (delta, one delay) and ``a_to_b`` (exponential, delays of 1-3 steps).

    Why: the nvcc compile test's network. brian2cuda compiles one file per code object and
    each costs ~10 s of one core (cudafe++, cicc and g++ over its headers: ``nvcc --time``),
    so a project is ~40 such calls on tiny; these three fewer projections are 12 fewer. The
    GPU check (:func:`benchmarks.scripts.brian2cuda_smoke.smoke`) runs the whole of ``tiny``."""
    spec = tiny()
    kept = {p.name: p for p in spec.projections if p.name in ("input_to_a", "a_to_b")}
    kept["a_to_b"] = dataclasses.replace(kept["a_to_b"], delay=Uniform(low=0.1, high=0.3))
    return materialise(dataclasses.replace(spec, name="tiny_nvcc",
                                           projections=tuple(kept.values())))


def handmade_spec() -> NetworkSpec:
    """One input, three single neurons: ``n`` (delta synapse, delay 3 steps, R = 5 steps)
    for the refractory/delay rule, ``m`` (exponential synapse + drive) and ``alif``
    (adaptive threshold + drive) for the exact update formulas."""
    n_model = LIF(tau_m=10.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=0.5, i_offset=0.0)
    m_model = LIF(tau_m=10.0, v_rest=-65.0, v_reset=-70.0, v_thresh=-50.0, t_ref=0.3, i_offset=60.0)
    a_model = ALIF(tau_m=20.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=0.2,
                   i_offset=60.0, tau_adapt=30.0, beta=2.0)
    one = Explicit(pre=(0,), post=(0,))
    return NetworkSpec(
        name="handmade",
        populations=(Population(name="n", size=1, model=n_model),
                     Population(name="m", size=1, model=m_model),
                     Population(name="alif", size=1, model=a_model)),
        input=PoissonInput(name="input", size=1, rate=0.0),
        projections=(
            Projection(name="in_n", source="input", target="n", connector=one,
                       weight=Constant(value=20.0), delay=Constant(value=0.3)),
            Projection(name="in_m", source="input", target="m", connector=one,
                       weight=Constant(value=3.0), delay=Constant(value=0.1),
                       synapse=Exponential(tau_syn=2.0)),
        ),
        simulation=Simulation(dt=0.1, duration=50.0, timesteps=(1, 500), dtype="float64"),
    )


HANDMADE_INPUT_STEPS = (10, 15, 16, 40, 41, 42, 100, 150, 151)


@pytest.fixture(scope="session")
def handmade_net():
    return materialise(handmade_spec())


@pytest.fixture(scope="session")
def handmade_inputs(handmade_net) -> np.ndarray:
    spikes = np.zeros((handmade_net.n_steps, 1), dtype=bool)
    spikes[list(HANDMADE_INPUT_STEPS), 0] = True
    return spikes
