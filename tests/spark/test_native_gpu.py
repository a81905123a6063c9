"""The CUDA kernels (spark/native/kernels_cuda.cu) against the pure-JAX engine on the CPU,
bit for bit: the comparisons of test_native.py, with every native run on the GPU and every
reference run on the CPU (spikes *and* final state arrays). Skipped where JAX sees no GPU;
run by ``benchmarks/device_check.sh`` on a GPU machine.

With ``SPARK_NATIVE_EMULATE_CUDA=1`` (spark.native.emulating_cuda) the same tests run the
CUDA kernels' code on the CPU under its CUDA emulation (spark/native/cuda_emulation.h), the
"GPU" being the CPU device: ``test_cuda_kernels_pass_under_the_cpu_emulation`` does that in
a subprocess, so that CI checks the GPU kernels' logic without a GPU.

On a machine without a GPU, ``test_cuda_kernels_build_and_lower`` still compiles the CUDA
library with nvcc (when nvcc is on PATH) and checks that the chunk program lowers for the
CUDA platform with the FFI call in it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import jax
import numpy as np
import pytest

import spark.native as native
import spark.network as netmod
from adapters.spark.translate import to_spark
from spark.engine import BatchedSimulator, Simulator, chunk_fn

from . import test_native as cpu_tests
from .nets import random_network


def _first(kind: str):
    try:
        return jax.devices(kind)[0]
    except RuntimeError:
        return None


EMULATED = native.emulating_cuda()
CPU = jax.devices("cpu")[0]
GPU = CPU if EMULATED else _first("gpu")
needs_gpu = pytest.mark.skipif(GPU is None, reason="no GPU visible to JAX")


def _run(net, method: str, x: np.ndarray, k: int, **kwargs) -> Simulator:
    """test_native's runner, native on the GPU and the reference on the CPU."""
    device = GPU if method == "native" else CPU
    with jax.default_device(device):
        sim = Simulator(to_spark(net), method=method, record_spikes=True, **kwargs)
        if method == "native":
            assert sim.layout.method == method, f"unavailable: {native.unavailable_reason()}"
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
    "AdEx, Izhikevich, k=1": (cpu_tests.test_fused_adex_izhikevich_equals_pure_jax, 1),
    "AdEx, Izhikevich, k=100": (cpu_tests.test_fused_adex_izhikevich_equals_pure_jax, 100),
    "receptors, all four models, k=1":
        (cpu_tests.test_several_receptors_with_euler_models_fused_equals_pure_jax, 1),
    "receptors, all four models, k=100":
        (cpu_tests.test_several_receptors_with_euler_models_fused_equals_pure_jax, 100),
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
def test_cuda_adex_exp_over_a_wide_range(on_gpu, dtype):
    """spark_exp::pinned_exp on the GPU: arguments from about -700 to 450, overflow included."""
    cpu_tests.test_adex_exp_over_a_wide_range_equals_pure_jax(dtype)


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
@pytest.mark.parametrize("kernel", ["chunk", "step"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_plastic_kernels_equal_pure_jax_on_cpu(dtype, kernel, monkeypatch):
    """The cartpole agent's plastic blocks: spark_plastic_chunk (fused neurons) or
    spark_plastic_step (neurons in XLA) on the GPU, pure JAX on the CPU; every chunk's
    counts, then the spikes and every state array, weights, traces and history included.
    (Under the emulation test_native_plastic.py runs these comparisons on its own; one
    case here checks this harness.)"""
    from . import test_native_plastic as plastic_tests
    from .nets import assert_bytes_equal

    if EMULATED and (dtype, kernel) != ("float64", "chunk"):
        pytest.skip("under the emulation, test_native_plastic.py makes these comparisons")
    if kernel == "step":
        monkeypatch.setattr(netmod, "fuse_cells", lambda *args, **kwargs: None)
    net = plastic_tests._agent(dtype)  # noqa: SLF001
    runs = []
    for device, method in ((CPU, "event"), (GPU, "native")):
        with jax.default_device(device):
            sim = Simulator(net, method=method, record_spikes=True, readout_tau=20.0)
            runs.append((sim, plastic_tests._drive(sim, 40)))  # noqa: SLF001
    (pure, expected), (fast, got) = runs
    assert fast.params.plastic.native and (fast.params.fused is not None) == (kernel == "chunk")
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    assert_bytes_equal(pure, fast, plastic_tests.FIELDS + ("trace",), min_spikes=100)


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


@pytest.mark.slow(reason="nvcc builds the CUDA kernels (~20 s)")
@pytest.mark.skipif(EMULATED, reason="the emulation replaces the CUDA build in this process")
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


@pytest.mark.slow(reason="the CUDA kernels built for the CPU and run as 1024-fiber blocks, 40+ tests (~90 s)")
@pytest.mark.skipif(EMULATED or GPU is not None,
                    reason="on a GPU the tests above run there; this runs them emulated")
def test_cuda_kernels_pass_under_the_cpu_emulation():
    """Every test above and test_native_plastic.py, in a subprocess with
    SPARK_NATIVE_EMULATE_CUDA=1: kernels_cuda.cu compiled for the CPU (g++) and run as
    1024-fiber blocks, against pure JAX bit for bit."""
    if not native.available():
        pytest.skip(f"native kernels unavailable: {native.unavailable_reason()}")
    env = dict(os.environ, SPARK_NATIVE_EMULATE_CUDA="1")
    root = Path(__file__).resolve().parents[2]
    here = Path(__file__).relative_to(root)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", str(here),
         str(here.with_name("test_native_plastic.py")), "-k", "not under_the_cpu_emulation"],
        cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    tail = (done.stdout + done.stderr)[-4000:]
    assert done.returncode == 0, tail
    summary = done.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 40, tail
    assert "failed" not in summary and "error" not in summary, tail
