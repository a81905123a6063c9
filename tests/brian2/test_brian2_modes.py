"""Every Brian2 mode builds and runs ``tiny`` (float64) and agrees spike for spike with the
pinned semantics; chunked == uninterrupted for the C++ closed-loop modes."""

from __future__ import annotations

import importlib.util
import os
import shutil

import numpy as np
import pytest

from adapters.base import BackendUnavailable, ChunkInput
from adapters.registry import load_backend
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


def driven_loop_counts(backend, spec, k, n_chunks, stop_after=None):
    """The same loop driven by the backend (``run_closed_loop``: one ``run()`` in Brian2's
    runtime), with a controller that records each chunk's counts (and stops early after
    ``stop_after`` chunks)."""
    stream = InputStream(spec)
    backend.reset()
    seq = []

    def controller(counts):
        if counts is not None:
            seq.append(np.array(counts, copy=True))
            if len(seq) == (stop_after or n_chunks):
                return None
        return ChunkInput(spikes=stream.next_chunk(k, counts))

    backend.run_closed_loop(controller, n_chunks)
    return np.array(seq)


# --------------------------------------------------------------------------- fixtures


def _prepared(name, net, options):
    backend = load_backend(name)()
    report = backend.prepare(net, options)
    return backend, report


@pytest.fixture(scope="session")
def cython_tiny(tiny_net, options):
    backend, report = _prepared("brian2-runtime", tiny_net, options)
    yield backend, report
    backend.close()


@pytest.fixture(scope="session")
def cython_per_chunk_tiny(tiny_net, options):
    backend, report = _prepared("brian2-runtime-run-per-chunk", tiny_net, options)
    yield backend, report
    backend.close()


@pytest.fixture(scope="session")
def numpy_tiny(tiny_net, options):
    backend, report = _prepared("brian2-numpy", tiny_net, options)
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


@pytest.mark.slow(reason="a cold Cython build of tiny (~100 s on 2 cores)")
def test_runtime_cython_tiny_matches_reference(cython_tiny, tiny_inputs, tiny_reference):
    backend, report = cython_tiny
    assert report.phases["codegen_compile"] > 0
    counts, spikes = run_open(backend, tiny_inputs)
    assert_same_spikes(spikes, tiny_reference)
    assert counts.tolist() == [tiny_reference[p][0].size for p in ("a", "b")]
    chunked_counts, chunked = run_chunked(backend, tiny_inputs, 100)
    assert_same_spikes(chunked, spikes)


@pytest.mark.slow(reason="needs the cold Cython build of tiny")
def test_runtime_equals_cpp_closed_loop(cython_tiny, cython_per_chunk_tiny, cpp_tiny, tiny_net):
    """Closed loop with feedback (inputs depend on the counts): the same count sequence and
    spikes from one run() with a network operation (brian2-runtime), from a Network.run per
    chunk (brian2-runtime-run-per-chunk, the Spark paper's baseline) and from brian2-cpp."""
    for k, n in ((1, 50), (100, 10)):  # k = 1: 50 Network.run calls per chunk (~0.1 s each)
        seq_cpp = closed_loop_counts(cpp_tiny[0], tiny_net.spec, k, n)
        spikes_cpp = cpp_tiny[0].recorded_spikes()
        assert seq_cpp.sum() > 0
        for backend in (cython_tiny[0], cython_per_chunk_tiny[0]):
            np.testing.assert_array_equal(driven_loop_counts(backend, tiny_net.spec, k, n),
                                          seq_cpp, err_msg=f"{backend.name}, k = {k}")
            assert_same_spikes(backend.recorded_spikes(), spikes_cpp)
    np.testing.assert_array_equal(closed_loop_counts(cython_tiny[0], tiny_net.spec, 100, 10),
                                  seq_cpp)


def test_one_run_closed_loop_is_the_chunk_by_chunk_loop(numpy_tiny, cpp_tiny, tiny_net):
    """Brian2's runtime in one run() (a network operation hands counts out and takes input
    in every k steps) gives, chunk by chunk, the counts and spikes of brian2-cpp at k = 1, 7
    and 100 (float64), and those of a run per chunk at k = 100 (a numpy-target
    ``Network.run`` costs ~0.3 s: 1000 of them at k = 1 took 5 min)."""
    backend = numpy_tiny[0]
    assert tiny_net.dtype == "float64"
    for k in (1, 7, 100):
        n = tiny_net.n_steps // k
        seq_cpp = closed_loop_counts(cpp_tiny[0], tiny_net.spec, k, n)
        spikes_cpp = cpp_tiny[0].recorded_spikes()
        seq_one_run = driven_loop_counts(backend, tiny_net.spec, k, n)
        assert seq_one_run.shape == (n, 2) and seq_one_run.sum() > 0
        np.testing.assert_array_equal(seq_one_run, seq_cpp, err_msg=f"k = {k}")
        assert_same_spikes(backend.recorded_spikes(), spikes_cpp)
    np.testing.assert_array_equal(closed_loop_counts(backend, tiny_net.spec, 100, 10), seq_cpp)


def test_one_run_loop_stops_when_the_controller_does(numpy_tiny, tiny_net):
    """A controller that ends the loop early (the warm-up's time budget) stops Brian2's run
    at that chunk boundary; after a reset the next pass is the full one, unchanged."""
    backend = numpy_tiny[0]
    full = driven_loop_counts(backend, tiny_net.spec, 10, 50)
    full_spikes = backend.recorded_spikes()
    early = driven_loop_counts(backend, tiny_net.spec, 10, 50, stop_after=3)
    np.testing.assert_array_equal(early, full[:3])
    assert backend._step == 30
    # Brian2 itself stopped at the boundary: no 31st step simulated, nor its spikes recorded
    assert int(backend._model.clock.timestep[:]) == 30
    assert_same_spikes(backend.recorded_spikes(),
                       {p: (steps[steps < 30], idx[steps < 30])
                        for p, (steps, idx) in full_spikes.items()})
    np.testing.assert_array_equal(driven_loop_counts(backend, tiny_net.spec, 10, 50), full)


def test_one_run_loop_refuses_a_change_of_k(numpy_tiny, tiny_net):
    backend = numpy_tiny[0]
    backend.reset()
    ks = iter([10, 5])

    def controller(counts):
        return ChunkInput(spikes=np.zeros((next(ks), tiny_net.n_inputs), dtype=bool))

    with pytest.raises(ValueError, match="chunks of one k; got 5 after 10"):
        backend.run_closed_loop(controller, 4)


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


@pytest.mark.slow(reason="nvcc builds two brian2cuda projects, ~3 min each cold on 2 cores")
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.skipif(importlib.util.find_spec("brian2cuda") is None,
                    reason="brian2cuda not installed (pip install --no-deps brian2cuda==1.0a7)")
@pytest.mark.skipif(not CUDA_COMPILE, reason="nvcc compile takes ~3 min cold per project "
                    "on 2 cores; set SPARK_BENCH_CUDA_COMPILE=1 (automatic with >= 8 cores)")
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xdist_group(f"nvcc-{n}"))
    for n in ("brian2-cuda-uninterrupted", "brian2-cuda")])
def test_cuda_generates_and_compiles(nvcc_net, options, name):
    """Both brian2cuda projects (open loop with its result-file layout; resident loop with
    the inserted host I/O and device input buffer) of a reduced tiny (see ``nvcc_net``:
    both synapse models, both delay kinds) generate and compile with nvcc; without
    a GPU, running raises BackendUnavailable with the reason. With a GPU, they run and
    chunked equals one chunk (see benchmarks.scripts.brian2cuda_smoke for the spike comparison)."""
    import json

    from adapters.hardware import gpu_present

    net, inputs = nvcc_net, InputStream(nvcc_net.spec).open_loop()
    backend = load_backend(name)()
    try:
        report = backend.prepare(net, options)  # record_spikes=True: monitors too
        assert report.phases["codegen_compile"] > 0 or report.cache_hit
        bdir = report.log_path.parent
        assert (bdir / "main").exists()
        layout = json.loads((bdir / "spark_cuda_layout.json").read_text())
        assert layout["readouts"] == list(net.spec.readout_names)
        assert layout["recorded"] == [p.name for p in net.populations]
        if name == "brian2-cuda":
            main = (bdir / "main.cu").read_text()
            assert "spark_cuda_io::upload_chunk" in main and "dev_dynamic_array_mon0000_i" in main
            assert "spark_device_input(i, t_in_timesteps)" in (
                bdir / "code_objects" / "input_spike_thresholder_codeobject.cu").read_text()
        else:
            assert set(layout["counts"]) == set(layout["readouts"])
            assert all(entry["file"].startswith("_array_") for entry in layout["counts"].values())
            assert all(e["i"]["dtype"] == "<i4" and e["t"]["dtype"] == "<f8"
                       for e in layout["spikes"].values())
        if not gpu_present():
            assert "no GPU" in report.notes
            for call in (backend.reset, lambda: backend.run_uninterrupted(inputs),
                         lambda: backend.run_chunk(ChunkInput(spikes=inputs[:10])),
                         backend.recorded_spikes):
                with pytest.raises(BackendUnavailable, match="no GPU on this machine"):
                    call()
            return
        counts, spikes = run_open(backend, inputs)
        assert counts.sum() == sum(s.size for s, _ in spikes.values()) > 0
        if name == "brian2-cuda":
            chunked, chunked_spikes = run_chunked(backend, inputs, 7)
            np.testing.assert_array_equal(chunked, counts)
            assert_same_spikes(chunked_spikes, spikes)
        else:
            assert backend.last_run_timings()["brian2_run_s"] > 0
    finally:
        backend.close()


_FAKE_BINARY = """#!{python}
import os, struct, sys, time
out = int(os.environ["SPARK_RESULT_FD"])
mode = {mode!r}
if mode == "silent":
    time.sleep(60)
os.write(out, struct.pack("<2q", 0x5350524B, 2))
while True:
    hdr = sys.stdin.buffer.read(24)
    if len(hdr) < 24:
        break
    cmd, k, nev = struct.unpack("<3q", hdr)
    events = sys.stdin.buffer.read(8 * nev)
    if mode == "hang":
        time.sleep(60)
    if mode == "die":
        sys.stderr.write("spark: CUDA error in cudaMemcpy: cudaErrorIllegalAddress (fake)\\n")
        sys.stderr.flush()
        os._exit(5)
    os.write(out, struct.pack("<2q", k, nev) + struct.pack("<q", 0))
"""


@pytest.mark.parametrize("mode", ["ok", "hang", "die", "silent"])
def test_cuda_resident_host_side_never_hangs(tmp_path, monkeypatch, mode):
    """The host side of the brian2cuda resident protocol (no GPU, no nvcc: a fake binary):
    answers are read; a binary that hangs (at start or in a chunk) is killed after the
    timeout, one that dies raises BackendFailed with its stderr, never a hang."""
    import sys
    import time

    from adapters.base import BackendFailed
    from adapters.brian2.cuda import CudaResidentProcess

    main = tmp_path / "main"
    main.write_text(_FAKE_BINARY.format(python=sys.executable, mode=mode))
    main.chmod(0o755)
    layout = {"readouts": ["a", "b"], "recorded": ["a"]}
    spikes = np.zeros((5, 3), dtype=bool)
    spikes[1, 2] = spikes[4, 0] = True
    t0 = time.monotonic()
    if mode == "silent":
        with pytest.raises(BackendFailed, match="did not answer within 1 s"):
            CudaResidentProcess(tmp_path, layout, "brian2-cuda", timeout_s=1.0)
        assert time.monotonic() - t0 < 10
        return
    proc = CudaResidentProcess(tmp_path, layout, "brian2-cuda", timeout_s=10.0)
    try:
        if mode == "ok":
            for _ in range(3):
                counts, recorded = proc.run(spikes, timeout_s=10.0)
                assert counts.tolist() == [5, 2] and recorded[0][0].size == 0
        elif mode == "hang":
            with pytest.raises(BackendFailed, match="did not answer within 1 s"):
                proc.run(spikes, timeout_s=1.0)
        else:
            with pytest.raises(BackendFailed, match="code 5.*cudaErrorIllegalAddress"):
                proc.run(spikes, timeout_s=10.0)
    finally:
        proc.stop()
        proc.stop()  # safe twice
    assert time.monotonic() - t0 < 20


def test_missing_brian2cuda_is_unavailable(tiny_net, options, monkeypatch):
    import adapters.brian2.cuda as cuda_mode

    real = importlib.util.find_spec
    monkeypatch.setattr(cuda_mode.importlib.util, "find_spec",
                        lambda name, *a: None if name == "brian2cuda" else real(name, *a))
    with pytest.raises(BackendUnavailable, match="pip install --no-deps brian2cuda==1.0a7"):
        load_backend("brian2-cuda")().prepare(tiny_net, options)


def test_registry_names_match_labels():
    for name in ("brian2-runtime", "brian2-runtime-run-per-chunk", "brian2-numpy", "brian2-cpp", "brian2-cpp-uninterrupted",
                 "brian2-cpp-relaunch", "brian2-cuda", "brian2-cuda-uninterrupted"):
        assert load_backend(name).name == name


def test_compiler_error_is_backend_failed_with_log(handmade_net, options, monkeypatch, tmp_path):
    """A failing build raises BackendFailed naming the log that holds the compiler output."""
    from dataclasses import replace

    from adapters.base import BackendFailed
    from adapters.brian2 import standalone

    monkeypatch.setattr(standalone, "serve_loop",
                        lambda *a: "this_is_not_cpp spark_broken_build;")
    with pytest.raises(BackendFailed) as err:
        load_backend("brian2-cpp")().prepare(handmade_net, replace(options, cache_dir=tmp_path))
    assert err.value.log_path is not None
    assert "spark_broken_build" in err.value.log_path.read_text()


# --------------------------------------------------------------------------- merging


def _numpy_model(net):
    import brian2 as b2

    from adapters.brian2.device_context import base_prefs, brian2_prefs
    from adapters.brian2.translate import build_model

    prefs = dict(base_prefs(net.dtype), **{"codegen.target": "numpy"})
    with brian2_prefs(prefs):
        return build_model(net, lambda n, clock: b2.SpikeGeneratorGroup(
            n, np.zeros(0, np.int32), np.zeros(0) * b2.ms, clock=clock, name="input"), record=True)


def test_identical_pools_are_merged():
    """3 identical pools: one NeuronGroup (pools as slices), one Synapses for input -> pools
    and one for pool -> pool, arrays concatenated and sorted by (pre, post)."""
    from brian2 import NeuronGroup, SpikeMonitor, Synapses

    from adapters.spec.materialise import materialise
    from adapters.spec.networks import pools_network

    net = materialise(pools_network("m", 3, 20, duration=10.0))
    model = _numpy_model(net)
    objs = model.objects()
    assert sum(type(o) is NeuronGroup for o in objs) == 1  # (input: SpikeGeneratorGroup)
    assert [type(o) for o in objs].count(Synapses) == 2
    assert sum(isinstance(o, SpikeMonitor) for o in objs) == 3
    (group,) = model.groups.values()
    assert len(group) == 60
    np.testing.assert_array_equal(
        group.v[:], np.concatenate([p.initial["v"] for p in net.populations]).astype(np.float32))
    rec = model.synapses[model.plan.pathways[1].name]
    pre, post = np.asarray(rec.i[:]), np.asarray(rec.j[:])
    assert pre.size == sum(p.n_synapses for p in net.projections if p.spec.source != "input")
    assert np.all(np.diff(pre * 60 + post) > 0)  # sorted by (pre, post), no duplicates
    # one synapse checked end to end: pool1 -> pool2 synapse 0
    proj = next(p for p in net.projections if p.name == "pool1_to_pool2")
    hit = np.nonzero((pre == proj.pre[0] + 20) & (post == proj.post[0] + 40))[0]
    assert hit.size == 1
    assert np.asarray(rec.w_syn[:])[hit[0]] == np.float32(proj.weight[0])
    assert model.views["pool1"].start == 20 and model.views["pool1"].stop == 40


def test_different_parameters_stay_split():
    from dataclasses import replace

    from brian2 import NeuronGroup, Synapses

    from adapters.spec.materialise import materialise
    from adapters.spec.networks import pools_network

    spec = pools_network("s", 3, 20, duration=10.0)
    other = replace(spec.populations[2], model=replace(spec.populations[2].model, tau_m=20.0))
    spec = replace(spec, populations=(*spec.populations[:2], other))
    net = materialise(spec)
    model = _numpy_model(net)
    assert [len(m) for m in (g.members for g in model.plan.groups)] == [2, 1]
    objs = model.objects()
    assert sum(type(o) is NeuronGroup for o in objs) == 2
    # input -> {pool0,pool1}, input -> pool2, {0,1} -> {0,1}, {0,1} -> 2, 2 -> {0,1}, 2 -> 2
    assert [type(o) for o in objs].count(Synapses) == 6


@pytest.mark.slow(reason="builds a merged network in numpy and C++ (resident and relaunch), ~55 s")
def test_merged_network_matches_reference(options):
    """A merged network (3 pools -> 1 group, 2 pathways) in numpy and C++ (resident,
    chunked k = 7, and relaunch) spikes exactly like the reference."""
    from adapters.spec.materialise import materialise
    from adapters.spec.networks import pools_network

    from dataclasses import replace

    spec = pools_network("merged3", 3, 30, duration=50.0)
    # a suprathreshold drive so the pools fire (~3 spikes per neuron) and recurrent
    # deliveries of several source pools meet in one step; float64 for bit equality
    pops = tuple(replace(p, model=replace(p.model, i_offset=20.0)) for p in spec.populations)
    spec = replace(spec, populations=pops, simulation=replace(spec.simulation, dtype="float64"))
    net = materialise(spec)
    inputs = InputStream(net.spec).open_loop()
    want = simulate(net, inputs)
    assert sum(want[p][0].size for p in want) > 200
    for name in ("brian2-numpy", "brian2-cpp", "brian2-cpp-relaunch"):
        backend, _ = _prepared(name, net, options)
        try:
            if name == "brian2-cpp-relaunch":
                _, spikes = run_chunked(backend, inputs, 50)
            else:
                _, spikes = run_chunked(backend, inputs, 7)
            assert_same_spikes(spikes, want)
        finally:
            backend.close()
