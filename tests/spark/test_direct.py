"""spark.direct: the fused native chunk called without XLA, against the jitted native path.

Same spikes and the same bytes in every state array as ``Simulator(method="native")``
(which test_native.py holds to pure JAX bit for bit), in closed loop chunk after chunk;
networks it cannot run are refused with the reason; bad input is an error, not a crash.
"""

from __future__ import annotations

import ctypes
from dataclasses import replace

import numpy as np
import pytest

import spark.native as native
from adapters.spark.translate import to_spark
from adapters.spec.inputs import InputStream
from adapters.spec.materialise import materialise
from adapters.spec.model import STDP, Conductance, PoissonDrive
from spark.direct import DirectSimulator, DirectUnavailable
from spark.engine import Simulator

from .nets import random_network
from .test_native import REQUIRED, STATE_FIELDS
from .test_reference import euler_network, receptor_network

pytestmark = pytest.mark.skipif(not native.available() and not REQUIRED,
                                reason=f"native kernels unavailable: {native.unavailable_reason()}")


def _closed_loop_pair(net, chunks: list[int]) -> tuple[Simulator, DirectSimulator]:
    """Both simulators driven by the same closed-loop input stream (fed by the jitted
    path's readout), chunk sizes as given; every chunk's counts must agree."""
    jitted = Simulator(to_spark(net), method="native", record_spikes=True)
    direct = DirectSimulator(to_spark(net), record_spikes=True)
    stream = InputStream(net.spec, sum(chunks))
    last = None
    for k in chunks:
        x = stream.next_chunk(k, last)
        a, b = jitted.run_chunk(x), direct.run_chunk(x)
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.readout, b.readout)
        last = a.readout
    return jitted, direct


def _assert_same(jitted: Simulator, direct: DirectSimulator) -> None:
    (sa, ia), (sb, ib) = jitted.recorded(), direct.recorded()
    assert sa.size > 50, "the network must spike for the comparison to mean anything"
    np.testing.assert_array_equal(sa, sb)
    np.testing.assert_array_equal(ia, ib)
    assert int(np.asarray(jitted.state.t)) == int(direct.state.t)
    for name in STATE_FIELDS:
        x, y = np.asarray(getattr(jitted.state, name)), getattr(direct.state, name)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x.view(np.uint8), y.view(np.uint8)), f"state.{name} differs"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_paper8_fraction_same_as_jitted_native_at_k1_and_mixed_k(dtype):
    from adapters.spec.networks import paper8

    spec = paper8().overridden(dtype=dtype, duration=40.0)
    net = materialise(spec)
    _assert_same(*_closed_loop_pair(net, [1] * 150 + [7] * 20 + [110]))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_euler_models_and_receptors_same_as_jitted_native(dtype):
    """AdEx/Izhikevich (pinned exp) and LIF/ALIF with two receptors each."""
    for builder in (euler_network(), receptor_network()):
        builder.dtype = dtype
        net = builder.materialise(5)
        _assert_same(*_closed_loop_pair(net, [1] * 50 + [13] * 10 + [100]))


def test_drives_same_as_jitted_native():
    builder = receptor_network()
    spec = builder.spec()
    keep = {"e", "a"}
    spec = replace(spec, populations=tuple(p for p in spec.populations if p.name in keep),
                   projections=tuple(p for p in spec.projections
                                     if p.target in keep and p.source in keep | {"input"}),
                   drives=(PoissonDrive(name="bg", target="e", rate=30.0, n_sources=40,
                                        weight=0.4),))
    net = materialise(spec.overridden(duration=30.0), 2)
    jitted, direct = _closed_loop_pair(net, [1] * 100 + [50] * 4)
    assert jitted.params.drive is not None
    _assert_same(jitted, direct)


def test_reset_replays_the_same_run():
    net = random_network("float32").materialise(3)
    direct = DirectSimulator(to_spark(net))
    x = InputStream(net.spec, 200).open_loop()
    first = [direct.run_chunk(x[i:i + 1]).counts for i in range(200)]
    assert int(direct.state.t) == 200
    direct.reset()
    assert int(direct.state.t) == 0
    again = [direct.run_chunk(x[i:i + 1]).counts for i in range(200)]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    assert np.stack(first).sum() > 0


def test_networks_outside_the_fused_kernel_are_refused_with_the_reason():
    plastic = random_network("float64")
    proj = plastic._projs[0]
    plastic._projs[0] = replace(proj, plasticity=STDP())
    with pytest.raises(DirectUnavailable, match="plastic synapses outside complete all-to-all blocks"):
        DirectSimulator(to_spark(plastic.materialise(1)))

    cobalike = random_network("float64")
    proj = cobalike._projs[1]  # input -> b (LIF), exponential
    cobalike._projs[1] = replace(proj, synapse=Conductance(tau_syn=3.0, e_rev=0.0))
    with pytest.raises(DirectUnavailable, match="fused native step covers"):
        DirectSimulator(to_spark(cobalike.materialise(1)))


def test_bad_input_is_an_error_not_a_crash():
    net = random_network("float32").materialise(3)
    direct = DirectSimulator(to_spark(net))
    with pytest.raises(ValueError, match="input spikes must have shape"):
        direct.run_chunk(np.zeros((1, net.spec.input.size + 1), bool))
    # The C side checks the struct as the XLA handler checks its operands: a size that does
    # not match comes back as the kernel's message, and nothing ran.
    direct._chunk.counts_size += 1  # noqa: SLF001  (corrupt the binding on purpose)
    with pytest.raises(ValueError, match="spark native kernel: counts must have one entry"):
        direct.run_chunk(np.zeros((1, net.spec.input.size), bool))
    assert int(direct.state.t) == 0


def test_entry_point_is_typed_and_the_struct_layouts_agree():
    """ctypes would otherwise pass 64-bit sizes as C ints; a field added on one side only
    would shift every pointer after it."""
    from spark.direct import _Chunk

    lib = native.cpu_library()
    DirectSimulator(to_spark(random_network("float32").materialise(3)))
    fn = lib.spark_lif_chunk_direct
    assert fn.restype is ctypes.c_int64 and fn.argtypes[2] is ctypes.c_int64
    assert lib.spark_direct_chunk_size() == ctypes.sizeof(_Chunk) == 8 * (5 + 2 * 22)
