"""The CUDA kernels (spark/native/kernels_cuda.cu) against the pure-JAX engine on the CPU,
bit for bit: the comparisons of test_native.py, with every native run on the GPU and every
reference run on the CPU (spikes *and* final state arrays). Skipped where JAX sees no GPU;
run by ``benchmarks/device_check.sh`` on a GPU machine.

On a machine without a GPU, ``test_cuda_kernels_build_and_lower`` still compiles the CUDA
library with nvcc (when nvcc is on PATH) and checks that the chunk program lowers for the
CUDA platform with the FFI call in it.
"""

from __future__ import annotations

import shutil
from unittest import mock

import jax
import numpy as np
import pytest

import spark.native as native
from adapters.spark.translate import to_spark
from spark.engine import BatchedSimulator, Simulator, chunk_fn

from . import test_native as cpu_tests
from .nets import random_network


def _first(kind: str):
    try:
        return jax.devices(kind)[0]
    except RuntimeError:
        return None


GPU = _first("gpu")
CPU = jax.devices("cpu")[0]
needs_gpu = pytest.mark.skipif(GPU is None, reason="no GPU visible to JAX")


def _run(net, method: str, x: np.ndarray, k: int, **kwargs) -> Simulator:
    """test_native's runner, native on the GPU and the reference on the CPU."""
    device = GPU if method == "native" else CPU
    with jax.default_device(device):
        sim = Simulator(to_spark(net), method=method, record_spikes=True, **kwargs)
        assert sim.layout.method == method, f"{method} unavailable: {native.unavailable_reason()}"
        for start in range(0, len(x), k):
            sim.run_chunk(x[start:start + k])
    return sim


@pytest.fixture()
def on_gpu(monkeypatch):
    monkeypatch.setattr(cpu_tests, "_run", _run)


# The comparisons of test_native.py that go through its `_run`, re-run with the patch.
COMPARISONS = {
    "fused chunk (LIF, ALIF), k=1": (cpu_tests.test_fused_lif_alif_equals_pure_jax, 1),
    "fused chunk, k=7": (cpu_tests.test_fused_lif_alif_equals_pure_jax, 7),
    "fused chunk, k=300": (cpu_tests.test_fused_lif_alif_equals_pure_jax, 300),
    "several receptors, k=1": (cpu_tests.test_several_receptors_fused_equals_pure_jax, 1),
    "several receptors, k=100": (cpu_tests.test_several_receptors_fused_equals_pure_jax, 100),
    "drives, k=50": (cpu_tests.test_drives_fused_equals_pure_jax, 50),
}


@needs_gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(COMPARISONS))
def test_cuda_chunk_kernel_equals_pure_jax_on_cpu(on_gpu, case, dtype):
    fn, k = COMPARISONS[case]
    fn(dtype, k)


@needs_gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_step_kernel_with_trace(on_gpu, dtype):
    cpu_tests.test_step_kernel_with_readout_trace_equals_pure_jax(dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_propagation_with_euler_models(on_gpu, dtype):
    cpu_tests.test_native_propagation_with_euler_models_equals_pure_jax(dtype)


@needs_gpu
def test_cuda_propagation_with_plasticity(on_gpu):
    cpu_tests.test_native_propagation_with_plasticity_equals_pure_jax()


@needs_gpu
def test_cuda_paper8_fraction(on_gpu):
    cpu_tests.test_builtin_paper8_fraction_bitwise_over_200_steps()


@needs_gpu
def test_cuda_batched_equals_cpu_reference():
    """vmap: one block per instance; each instance's counts equal its own CPU run."""
    nets = [random_network("float64").materialise(s) for s in (11, 12, 13)]
    x = cpu_tests._inputs(nets[0], 300)  # noqa: SLF001
    with jax.default_device(GPU):
        batched = BatchedSimulator([to_spark(n) for n in nets], method="native")
        assert batched.layout.method == "native"
        out = [batched.run_chunk(np.broadcast_to(x[i:i + 100], (3, 100, x.shape[1])))
               for i in range(0, 300, 100)]
    for b, net in enumerate(nets):
        with jax.default_device(CPU):
            sim = Simulator(to_spark(net), method="event")
            seq = [sim.run_chunk(x[i:i + 100]).counts for i in range(0, 300, 100)]
        np.testing.assert_array_equal(np.stack([o[b] for o in out]), np.stack(seq))
        assert np.stack(seq).sum() > 0


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
def test_cuda_kernels_build_and_lower():
    """No GPU needed: nvcc builds the library, its three handlers register for the CUDA
    platform, and the engine's chunk program lowers for CUDA with the fused FFI call."""
    net = random_network("float32").materialise(3)
    with mock.patch.object(native, "platform", lambda: "gpu"):
        assert native.available(), native.unavailable_reason()
        with jax.default_device(CPU):
            sim = Simulator(to_spark(net), method="native")
        spikes = jax.ShapeDtypeStruct((5, net.spec.input.size), bool)
        modulator = jax.ShapeDtypeStruct((), np.float32)
        exported = jax.export.export(
            chunk_fn, platforms=["cuda"],
            disabled_checks=[jax.export.DisabledSafetyCheck.custom_call("spark_lif_chunk")],
        )(sim.params, sim.state, spikes, modulator, record=False)
    text = exported.mlir_module()
    assert exported.platforms == ("cuda",)
    assert "custom_call @spark_lif_chunk" in text
