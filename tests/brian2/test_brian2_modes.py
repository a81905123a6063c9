"""Every Brian2 mode builds and runs ``tiny`` (float64) and agrees spike for spike with the
pinned semantics; chunked == uninterrupted for the C++ closed-loop modes."""

from __future__ import annotations

import importlib.util
import os
import shutil

import numpy as np
import pytest

from adapters.base import BackendUnavailable, ChunkInput
from adapters.brian2 import BACKENDS
from adapters.spec.inputs import InputStream

from .conftest import HANDMADE_INPUT_STEPS
from .reference import simulate


def assert_same_spikes(got, want):
    assert set(got) == set(want)
    for pop in want:
        np.testing.assert_array_equal(got[pop][0], want[pop][0], err_msg=f"{pop} steps")
        np.testing.assert_array_equal(got[pop][1], want[pop][1], err_msg=f"{pop} indices")


def run_open(backend, inputs):
    backend.reset()
    counts = backend.run_uninterrupted(inputs)
    return counts, backend.recorded_spikes()


def run_chunked(backend, inputs, k):
    backend.reset()
    total = 0
    for start in range(0, inputs.shape[0], k):
        total = total + backend.run_chunk(ChunkInput(spikes=inputs[start:start + k]))
    return total, backend.recorded_spikes()


def closed_loop_counts(backend, spec, k, n_chunks):
    """The harness's closed loop: inputs depend on the previous chunk's counts."""
    stream = InputStream(spec)
    backend.reset()
    last, seq = None, []
    for _ in range(n_chunks):
        last = backend.run_chunk(ChunkInput(spikes=stream.next_chunk(k, last)))
        seq.append(last.copy())
    return np.array(seq)


# --------------------------------------------------------------------------- fixtures


def _prepared(name, net, options):
    backend = BACKENDS[name]()
    report = backend.prepare(net, options)
    return backend, report


@pytest.fixture(scope="session")
def cython_tiny(tiny_net, options):
    backend, report = _prepared("brian2-runtime", tiny_net, options)
    yield backend, report
    backend.close()


@pytest.fixture(scope="session")
def cpp_tiny(tiny_net, options):
    backend, report = _prepared("brian2-cpp", tiny_net, options)
    yield backend, report
    backend.close()


# --------------------------------------------------------------------------- pinned rules


def test_handmade_refractory_and_delay_numpy(handmade_net, handmade_inputs, options):
    """Delta input through a 3-step delay; R = 5 steps: deliveries while refractory are
    discarded, the first accepted one is at s + R."""
    backend, _ = _prepared("brian2-numpy", handmade_net, options)
    counts, spikes = run_open(backend, handmade_inputs)
    # inputs at 10, 15, 16, 40, 41, 42, 100, 150, 151 arrive at +3; a kick of 20 mV from
    # rest crosses threshold at the next state update; 18, 44, 45, 154 fall in refractory.
    np.testing.assert_array_equal(spikes["n"][0], [14, 20, 44, 104, 154])
    assert HANDMADE_INPUT_STEPS[0] == 10
    # exact formulas (exponential synapse, ALIF) against the plain reference, bit for bit
    assert_same_spikes(spikes, simulate(handmade_net, handmade_inputs))
    assert spikes["m"][0].size > 5 and spikes["alif"][0].size > 5
    np.testing.assert_array_equal(counts, [5, spikes["m"][0].size, spikes["alif"][0].size])


def test_handmade_cpp_matches_reference(handmade_net, handmade_inputs, options):
    backend, _ = _prepared("brian2-cpp", handmade_net, options)
    try:
        _, spikes = run_open(backend, handmade_inputs)
        assert_same_spikes(spikes, simulate(handmade_net, handmade_inputs))
        _, chunked = run_chunked(backend, handmade_inputs, 1)
        assert_same_spikes(chunked, spikes)
    finally:
        backend.close()


# --------------------------------------------------------------------------- runtime


def test_runtime_cython_tiny_matches_reference(cython_tiny, tiny_inputs, tiny_reference):
    backend, report = cython_tiny
    assert report.phases["codegen_compile"] > 0
    counts, spikes = run_open(backend, tiny_inputs)
    assert_same_spikes(spikes, tiny_reference)
    assert counts.tolist() == [tiny_reference[p][0].size for p in ("a", "b")]
    chunked_counts, chunked = run_chunked(backend, tiny_inputs, 100)
    assert_same_spikes(chunked, spikes)


def test_runtime_equals_cpp_closed_loop(cython_tiny, cpp_tiny, tiny_net):
    """Closed loop with feedback (inputs depend on the counts): same count sequence."""
    seq_rt = closed_loop_counts(cython_tiny[0], tiny_net.spec, 100, 10)
    seq_cpp = closed_loop_counts(cpp_tiny[0], tiny_net.spec, 100, 10)
    np.testing.assert_array_equal(seq_rt, seq_cpp)
    assert seq_cpp.sum() > 0


# --------------------------------------------------------------------------- C++ resident


def test_cpp_tiny_matches_reference(cpp_tiny, tiny_inputs, tiny_reference):
    backend, report = cpp_tiny
    assert {"construct", "codegen_compile"} <= set(report.phases)
    _, spikes = run_open(backend, tiny_inputs)
    assert_same_spikes(spikes, tiny_reference)


@pytest.mark.parametrize("k", [1, 7, 100])
def test_cpp_chunked_equals_uninterrupted(cpp_tiny, tiny_inputs, tiny_reference, k):
    """tiny has delays of 1-3 steps: spikes in flight cross every chunk boundary."""
    backend, _ = cpp_tiny
    counts, spikes = run_chunked(backend, tiny_inputs, k)
    assert_same_spikes(spikes, tiny_reference)


def test_cpp_reset_restarts_from_initial_state(cpp_tiny, tiny_net):
    backend, _ = cpp_tiny
    first = closed_loop_counts(backend, tiny_net.spec, 10, 30)
    second = closed_loop_counts(backend, tiny_net.spec, 10, 30)
    np.testing.assert_array_equal(first, second)


def test_cpp_uninterrupted_is_open_loop(tiny_net, options, tiny_inputs, tiny_reference, cpp_tiny):
    backend, report = _prepared("brian2-cpp-uninterrupted", tiny_net, options)
    try:
        assert report.cache_hit  # the resident build is reused
        assert not backend.capabilities.closed_loop and backend.capabilities.open_loop
        _, spikes = run_open(backend, tiny_inputs)
        assert_same_spikes(spikes, tiny_reference)
        with pytest.raises(NotImplementedError):
            backend.run_chunk(ChunkInput(spikes=tiny_inputs[:1]))
    finally:
        backend.close()


# --------------------------------------------------------------------------- C++ relaunch


def test_relaunch_chunked_equals_uninterrupted(tiny_net, options, tiny_inputs, tiny_reference):
    backend, _ = _prepared("brian2-cpp-relaunch", tiny_net, options)
    try:
        _, spikes = run_chunked(backend, tiny_inputs[:300], 3)
        assert_same_spikes(spikes, simulate(tiny_net, tiny_inputs[:300]))
        _, spikes = run_chunked(backend, tiny_inputs, 100)
        assert_same_spikes(spikes, tiny_reference)
    finally:
        backend.close()


# --------------------------------------------------------------------------- CUDA


CUDA_COMPILE = os.environ.get("SPARK_BENCH_CUDA_COMPILE") == "1" or (os.cpu_count() or 1) >= 8


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.skipif(importlib.util.find_spec("brian2cuda") is None,
                    reason="brian2cuda not installed (pip install --no-deps brian2cuda==1.0a7)")
@pytest.mark.skipif(not CUDA_COMPILE, reason="nvcc compile of tiny takes ~4 min cold on 2 cores; "
                    "set SPARK_BENCH_CUDA_COMPILE=1 (automatic with >= 8 cores)")
def test_cuda_generates_and_compiles_tiny(tiny_net, options):
    from dataclasses import replace

    from adapters.brian2.cuda import gpu_present

    backend = BACKENDS["brian2-cuda"]()
    report = backend.prepare(tiny_net, replace(options, record_spikes=False))
    assert report.phases["codegen_compile"] > 0 or report.cache_hit
    assert (report.log_path.parent / "main").exists()
    if not gpu_present():
        with pytest.raises(BackendUnavailable, match="no GPU"):
            backend.reset()


def test_missing_brian2cuda_is_unavailable(tiny_net, options, monkeypatch):
    import adapters.brian2.cuda as cuda_mode

    real = importlib.util.find_spec
    monkeypatch.setattr(cuda_mode.importlib.util, "find_spec",
                        lambda name, *a: None if name == "brian2cuda" else real(name, *a))
    with pytest.raises(BackendUnavailable, match="pip install --no-deps brian2cuda==1.0a7"):
        BACKENDS["brian2-cuda"]().prepare(tiny_net, options)


def test_registry_names_match_labels():
    from benchmarks.registry import load_backend

    for name in ("brian2-runtime", "brian2-numpy", "brian2-cpp", "brian2-cpp-uninterrupted",
                 "brian2-cpp-relaunch", "brian2-cuda"):
        assert load_backend(name).name == name


def test_compiler_error_is_backend_failed_with_log(handmade_net, options, monkeypatch, tmp_path):
    """A failing build raises BackendFailed naming the log that holds the compiler output."""
    from dataclasses import replace

    from adapters.base import BackendFailed
    from adapters.brian2 import standalone

    monkeypatch.setattr(standalone, "serve_loop",
                        lambda *a: "this_is_not_cpp spark_broken_build;")
    with pytest.raises(BackendFailed) as err:
        BACKENDS["brian2-cpp"]().prepare(handmade_net, replace(options, cache_dir=tmp_path))
    assert err.value.log_path is not None
    assert "spark_broken_build" in err.value.log_path.read_text()
