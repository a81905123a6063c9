"""The native plastic kernels against the pure-JAX block walk: the whole chunk in one call
(``spark_plastic_chunk``: fused neurons, plastic blocks, spike history, readout trace) and
the plastic phase alone inside XLA's step loop (``spark_plastic_step``, where the neurons
cannot be fused). The same spikes and every state array, membranes and trace included,
byte for byte, in float32 and float64, single and batched; what they do not take (general
tables) stays in XLA, and a block table that does not fit its operands is refused by the
CPU kernel, not run. test_native_gpu.py runs this module with the CUDA kernels too (on a
GPU, or under their CPU emulation)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spark.native as native
import spark.network as netmod
from adapters.spark.translate import to_spark
from adapters.spec.model import LIF, STDP, Constant, FixedProbability
from spark.engine import BatchedSimulator, Simulator

from .nets import NetworkBuilder, assert_bytes_equal
from .test_native import REQUIRED  # noqa: F401  (fails the module when kernels are required)
from .test_plastic_blocks import PLASTIC_FIELDS, _agent, _drive, mixed_rectangles

pytestmark = pytest.mark.skipif(not native.available(),
                                reason=f"native kernels unavailable: {native.unavailable_reason()}")

FIELDS = ("v", "g", "aux", "lastspike", "buffer", "history") + tuple(
    f"plastic.{f}" for f in PLASTIC_FIELDS)


@pytest.fixture(params=["chunk", "step"])
def kernel(request, monkeypatch):
    """Which native plastic kernel runs: the whole chunk (fused neurons), or the plastic
    step inside XLA's loop (made here by refusing to fuse the neurons)."""
    if request.param == "step":
        monkeypatch.setattr(netmod, "fuse_cells", lambda *args, **kwargs: None)
    return request.param


def _pair(net, kernel: str, readout_tau: float | None = None) -> tuple[Simulator, Simulator]:
    """The pure-JAX engine (event-driven propagation, blocks in XLA) and the native one."""
    pure = Simulator(net, method="event", record_spikes=True, readout_tau=readout_tau)
    fast = Simulator(net, method="native", record_spikes=True, readout_tau=readout_tau)
    assert not pure.params.plastic.native and fast.params.plastic.native
    assert (fast.params.fused is not None) == (kernel == "chunk")
    assert "native plastic blocks" in fast.notes
    return pure, fast


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_native_plastic_kernels_equal_pure_jax_bit_for_bit(dtype, kernel):
    pure, fast = _pair(_agent(dtype), kernel, readout_tau=20.0)
    for a, b in zip(_drive(pure, 40), _drive(fast, 40)):
        np.testing.assert_array_equal(a, b)
    assert_bytes_equal(pure, fast, FIELDS + ("trace",), min_spikes=100)
    moved = np.asarray(fast.state.plastic.weight) != np.asarray(fast.params.plastic.initial_weight)
    assert moved.mean() > 0.5, "the modulators must have moved most weights"


def test_stdp_and_reward_blocks_with_other_delays_beside_a_static_projection(kernel):
    pure, fast = _pair(mixed_rectangles(), kernel)
    assert len(fast.layout.plastic_blocks) == 2
    for a, c in zip(_drive(pure, 8, chunks=20, k=25), _drive(fast, 8, chunks=20, k=25)):
        np.testing.assert_array_equal(a, c)
    assert_bytes_equal(pure, fast, FIELDS, min_spikes=50)
    stdp = np.asarray(fast.state.plastic.weight[:48])
    assert np.any(stdp != np.asarray(fast.params.plastic.initial_weight[:48])), \
        "STDP must have moved the first block's weights"


def test_batched_native_plastic_equals_pure_jax(kernel):
    outputs = []
    for method in ("event", "native"):
        sim = BatchedSimulator([_agent("float32", seed) for seed in range(3)], method=method)
        assert sim.params.plastic.native == (method == "native")
        rng = np.random.default_rng(3)
        counts = [sim.run_chunk(rng.random((3, 20, 40)) < 0.3, rng.normal(0.0, 0.5, 3))
                  for _ in range(20)]
        outputs.append((np.stack(counts),
                        *(np.asarray(getattr(sim.state, f)) for f in ("v", "buffer", "history")),
                        *(np.asarray(getattr(sim.state.plastic, f)) for f in PLASTIC_FIELDS)))
    assert outputs[0][0].sum() > 100
    for a, b in zip(*outputs):
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


def test_poisson_input_runs_the_plastic_chunk_one_step_at_a_time():
    """run_poisson draws its input inside the step loop, so the fused plastic network runs
    a chunk of one step per step there."""
    sims = _pair(_agent("float64"), "chunk", readout_tau=20.0)
    for sim in sims:
        for chunk in range(5):
            sim.run_poisson(np.full(40, 200.0), jax.random.key(chunk), k=20, modulator=0.3)
    assert_bytes_equal(*sims, FIELDS + ("trace",), min_spikes=20)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_direct_entry_runs_the_plastic_chunk_as_the_jitted_kernel(dtype):
    """spark-native-direct (ctypes, no XLA) against spark-native: every chunk's counts, then
    the spikes and every state array; reset replays the run."""
    from spark.direct import DirectSimulator

    net = _agent(dtype)
    jitted = Simulator(net, method="native", record_spikes=True)
    direct = DirectSimulator(net, record_spikes=True)
    runs = []
    for _ in range(2):
        runs.append(_drive(direct, 40))
        for a, b in zip(runs[-1], _drive(jitted, 40)):
            np.testing.assert_array_equal(a, b)
        assert_bytes_equal(jitted, direct, FIELDS, min_spikes=100)
        np.testing.assert_array_equal(direct.weights(), jitted.weights())
        direct.reset()
        jitted.reset()
    np.testing.assert_array_equal(np.stack(runs[0]), np.stack(runs[1]))


def test_general_tables_keep_the_xla_walk_and_gpus_take_blocks(monkeypatch):
    b = NetworkBuilder("sparse", dt=0.1, dtype="float64")
    b.population("p", 5, LIF(i_offset=14.0, t_ref=0.3))
    b.inputs(6)
    b.connect("input", "p", FixedProbability(p=0.5), weight=Constant(value=2.0),
              delay=Constant(value=0.1), plasticity=STDP())
    assert not Simulator(to_spark(b.materialise(3)), method="native").params.plastic.native
    layout = netmod.make_layout([_agent("float32")], "native")
    assert netmod.native_plastic(layout)
    monkeypatch.setattr(native, "platform", lambda: "gpu")
    assert netmod.native_plastic(layout), "kernels_cuda.cu walks block tables too"
    with pytest.raises(ValueError, match="block tables only"):
        netmod.build_plastic([], 0, 1, 2, 1.0, np.dtype("float32"), native=True)


def _kernel_operands(bad_column: int = 0):
    """One 2 x 3 reward block reading history row (t - 1) % 2 of 5 presynaptic rows."""
    f = np.float32
    ints = np.array([[0, 2, 3, 1, 0, bad_column, 1, 1]], np.int32)
    floats = np.array([[0.1, 0.2, 0.0, 2.0, 0.9, 0.8, 0.7, 0.5]], f)
    history = np.zeros((2, 5), bool)
    history[0, 2] = True  # step 0: presynaptic row 2 (the block's second row) spiked
    return (jnp.full(6, 0.5, f), jnp.zeros(6, f), jnp.zeros(6, f), jnp.zeros(6, f),
            jnp.asarray(history), jnp.array([True, False, True]), jnp.int32(1),
            jnp.zeros(4, f), jnp.asarray(ints), jnp.asarray(floats))


def test_the_kernel_delivers_the_arrived_row_and_updates_the_traces():
    w, x_pre, x_post, elig, current = native.plastic_step(*_kernel_operands())
    np.testing.assert_array_equal(np.asarray(current), [0.5, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(np.asarray(x_pre), [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(np.asarray(x_post), [1, 0, 1, 1, 0, 1])
    # potentiation lands on the eligibility (reward rule) where the target spiked
    np.testing.assert_array_equal(np.asarray(elig), np.float32([0, 0, 0, 0.1, 0, 0.1]))
    np.testing.assert_array_equal(np.asarray(w), np.full(6, 0.5, np.float32))


@pytest.mark.skipif(native.emulating_cuda(), reason="the CUDA kernels trust the block tables' "
                    "contents (device memory; checking them would cost a round trip)")
def test_a_block_outside_the_ring_row_is_refused():
    with pytest.raises(Exception, match="outside the table, history, spikes or current"):
        native.plastic_step(*_kernel_operands(bad_column=2))  # columns 2..4 of a 4-column row
