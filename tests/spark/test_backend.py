"""SparkBackend on the built-in ``tiny`` network through the Backend interface."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.base import BackendOptions, ChunkInput, check_supported
from adapters.spark.backend import SparkBackend
from adapters.spec.inputs import InputStream
from adapters.spec.materialise import materialise
from adapters.spec.networks import tiny


def _closed_loop(backend: SparkBackend, net, k: int, n_chunks: int) -> list[np.ndarray]:
    stream = InputStream(net.spec)
    last, out = None, []
    for _ in range(n_chunks):
        last = backend.run_chunk(ChunkInput(spikes=stream.next_chunk(k, last)))
        out.append(last)
    return out


@pytest.fixture(scope="module")
def net():
    return materialise(tiny())


def test_backend_closed_loop_reset_and_recording(net, tmp_path):
    check_supported(SparkBackend, net)
    backend = SparkBackend()
    report = backend.prepare(net, BackendOptions(cache_dir=tmp_path, record_spikes=True))
    assert set(report.phases) == {"codegen_compile", "construct"}
    assert "connectivity=" in report.notes
    first = _closed_loop(backend, net, 10, 20)
    assert all(c.dtype == np.int64 and c.shape == (2,) for c in first)
    assert sum(c.sum() for c in first) > 0
    recorded = backend.recorded_spikes()
    assert set(recorded) == {"a", "b"}
    for i, name in enumerate(net.spec.readout_names):
        steps, idx = recorded[name]
        assert len(steps) == sum(int(c[i]) for c in first)
        order = np.lexsort((idx, steps))
        assert np.array_equal(order, np.arange(len(steps)))
        assert idx.min() >= 0 and idx.max() < net.population(name).size
    backend.reset()
    assert backend.recorded_spikes()["a"][0].size == 0
    again = _closed_loop(backend, net, 10, 20)
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    backend.close()
    backend.close()


def test_backend_open_loop_matches_chunked(net, tmp_path):
    spikes = InputStream(net.spec).open_loop()
    whole = SparkBackend()
    whole.prepare(net, BackendOptions(cache_dir=tmp_path))
    total = whole.run_uninterrupted(spikes)
    chunked = SparkBackend()
    chunked.prepare(net, BackendOptions(cache_dir=tmp_path))
    parts = sum(chunked.run_chunk(ChunkInput(spikes=spikes[i:i + 100]))
                for i in range(0, len(spikes), 100))
    np.testing.assert_array_equal(total, parts)


def test_backend_cold_and_warm_compile(net, tmp_path):
    cold = SparkBackend().prepare(net, BackendOptions(cache_dir=tmp_path, cold=True))
    assert cold.cache_hit is False
    first = SparkBackend().prepare(net, BackendOptions(cache_dir=tmp_path))
    warm = SparkBackend().prepare(net, BackendOptions(cache_dir=tmp_path))
    assert first.cache_hit is False and warm.cache_hit is True
    assert warm.phases["codegen_compile"] >= 0.0


def test_backend_capabilities():
    caps = SparkBackend.capabilities
    assert caps.closed_loop and caps.open_loop
    assert caps.plasticity == frozenset({"stdp", "reward_stdp"})
    assert caps.neuron_models == frozenset({"lif", "alif", "adex", "izhikevich"})


def test_native_backend_matches_pure_jax_in_closed_loop(net, tmp_path):
    """The ``spark-native`` label: same readout counts chunk for chunk as ``spark``, and the
    build notes say which kernel ran."""
    import spark.native
    from adapters.spark.backend import SparkNativeBackend

    if not spark.native.available():
        pytest.skip(f"native kernels unavailable: {spark.native.unavailable_reason()}")
    counts = {}
    for cls in (SparkBackend, SparkNativeBackend):
        backend = cls()
        report = backend.prepare(net, BackendOptions(cache_dir=tmp_path))
        counts[cls.name] = np.stack(_closed_loop(backend, net, 7, 30))
        backend.close()
    assert "native fused LIF/ALIF/AdEx/Izhikevich step" in report.notes
    assert counts["spark"].sum() > 0
    np.testing.assert_array_equal(counts["spark"], counts["spark-native"])


def test_direct_backend_matches_native_in_closed_loop_and_records(net, tmp_path):
    """The ``spark-native-direct`` label: the readout counts of ``spark-native`` chunk for
    chunk at k = 1 and 10, the same recorded spikes, a reset that replays the run."""
    import spark.native
    from adapters.spark.backend import SparkNativeBackend, SparkNativeDirectBackend

    if not spark.native.available():
        pytest.skip(f"native kernels unavailable: {spark.native.unavailable_reason()}")
    counts, spikes = {}, {}
    for cls in (SparkNativeBackend, SparkNativeDirectBackend):
        backend = cls()
        report = backend.prepare(net, BackendOptions(cache_dir=tmp_path, record_spikes=True))
        counts[cls.name] = np.stack(_closed_loop(backend, net, 1, 200)
                                    + _closed_loop(backend, net, 10, 30))
        spikes[cls.name] = backend.recorded_spikes()
        backend.reset()
        again = np.stack(_closed_loop(backend, net, 1, 200))
        np.testing.assert_array_equal(again, counts[cls.name][:200])
        backend.close()
    assert "no XLA dispatch" in report.notes
    assert counts["spark-native"].sum() > 0
    np.testing.assert_array_equal(counts["spark-native"], counts["spark-native-direct"])
    for pop, (steps, idx) in spikes["spark-native"].items():
        np.testing.assert_array_equal(steps, spikes["spark-native-direct"][pop][0])
        np.testing.assert_array_equal(idx, spikes["spark-native-direct"][pop][1])


def test_native_backend_is_unavailable_without_kernels(net, tmp_path, monkeypatch):
    import spark.native
    from adapters.base import BackendUnavailable
    from adapters.spark.backend import SparkNativeBackend

    monkeypatch.setattr(spark.native, "available", lambda: False)
    monkeypatch.setattr(spark.native, "unavailable_reason", lambda: "no C++ compiler found")
    with pytest.raises(BackendUnavailable, match="no C\\+\\+ compiler found"):
        SparkNativeBackend().prepare(net, BackendOptions(cache_dir=tmp_path))
