"""The compiled input stream (adapters/spec/inputs_native.cc) against numpy's formulas.

Every sweep draws its closed-loop input through it where a C++ compiler exists, so it must
give the numpy stream's spikes bit for bit; the stream-level comparison over random count
sequences is ``tests/spec/test_materialise.py``; here the pieces that a network with 8
readouts of 1024 neurons would not reach (sums of counts per neuron are exact there)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from adapters.spec import inputs_native
from adapters.spec.inputs import feedback_rates
from adapters.spec.model import PoissonInput

P_PER_HZ = 1e-4


def _compiled(n_channels: int, sizes: np.ndarray, signal: PoissonInput, n_steps: int = 4,
              n_inputs: int = 37) -> tuple[inputs_native.CompiledChunks, np.ndarray]:
    uniforms = np.random.default_rng(n_channels).random((n_steps, n_inputs))
    return inputs_native.CompiledChunks(uniforms, sizes, signal.rate, signal.feedback_gain,
                                        signal.max_rate, P_PER_HZ), uniforms


@pytest.mark.parametrize("n_channels", [1, 2, 3, 7, 8, 9, 15, 16, 17, 100, 128, 129, 300, 1000])
def test_channel_probabilities_equal_numpys_bit_for_bit(n_channels):
    """Sizes that are not powers of two make every count per neuron inexact, so the mean
    depends on the order of the sum: numpy's pairwise order (plain below 8 values, 8
    accumulators to 128, halves above) is what the C code must follow."""
    rng = np.random.default_rng(n_channels)
    signal = PoissonInput(name="in", size=37, rate=30.0, max_rate=90.0, feedback_gain=3.0)
    sizes = rng.integers(3, 997, n_channels).astype(np.float64)
    chunks, uniforms = _compiled(n_channels, sizes, signal)
    for trial in range(20):
        counts = rng.integers(0, 50, n_channels) * rng.integers(0, 3)
        chunks.chunk(trial % 4, 1, counts)
        want = feedback_rates(signal, counts / sizes) * P_PER_HZ
        got = chunks.channel_probabilities
        np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))
        per_input = want[np.arange(37) % n_channels]
        np.testing.assert_array_equal(chunks.chunk(trial % 4, 1, counts),
                                      uniforms[trial % 4: trial % 4 + 1] < per_input)


def test_clipping_nan_and_the_first_chunk_follow_numpy():
    signal = PoissonInput(name="in", size=37, rate=30.0, max_rate=90.0, feedback_gain=40.0)
    sizes = np.array([10.0, 20.0, 30.0])
    chunks, _ = _compiled(3, sizes, signal)
    for counts in ([1000, 0, 0], [0.0, np.nan, 1.0], [np.inf, 1.0, 2.0]):
        counts = np.asarray(counts, dtype=np.float64)
        chunks.chunk(0, 2, counts)
        with np.errstate(invalid="ignore"):
            want = feedback_rates(signal, counts / sizes) * P_PER_HZ
        np.testing.assert_array_equal(chunks.channel_probabilities, want)  # NaN == NaN here
    chunks.chunk(0, 1, None)  # no counts yet: the base rate everywhere
    assert chunks.channel_probabilities.tolist() == [30.0 * P_PER_HZ] * 3


def test_a_chunk_outside_the_stream_is_refused_and_rows_are_views():
    signal = PoissonInput(name="in", size=37, rate=30.0, max_rate=90.0, feedback_gain=0.5)
    chunks, uniforms = _compiled(2, np.array([5.0, 5.0]), signal, n_steps=4)
    with pytest.raises(ValueError, match="outside the stream's 4 steps"):
        chunks.chunk(3, 2, np.array([1, 2]))
    rows = chunks.chunk(1, 3, None)
    assert rows.shape == (3, 37) and rows.base is not None
    np.testing.assert_array_equal(rows, uniforms[1:4] < 30.0 * P_PER_HZ)


def test_a_cached_library_whose_bytes_changed_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARK_BENCH_NATIVE_CACHE", str(tmp_path))
    built = inputs_native.build()
    assert built.parent == tmp_path
    good = built.read_bytes()
    mtime = built.stat().st_mtime_ns
    assert inputs_native.build() == built and built.stat().st_mtime_ns == mtime  # cached
    built.write_bytes(good[: len(good) // 2])
    assert inputs_native.build() == built and built.read_bytes() == good
    assert not list(tmp_path.glob("*.tmp")), "no temporary file left behind"


def test_without_a_compiler_the_stream_runs_numpy_and_says_why(tmp_path):
    """A fresh process with no compiler on PATH and an empty cache: the stream is built
    with numpy, ``compiled=True`` is refused with the reason."""
    code = ("from adapters.spec import load_spec, inputs_native; "
            "from adapters.spec.inputs import InputStream; "
            "s = InputStream(load_spec('tiny')); print(s.method); "
            "print(inputs_native.unavailable_reason())\n"
            "try:\n    InputStream(load_spec('tiny'), compiled=True)\n"
            "except OSError as err:\n    print('refused:', err)")
    env = {"PATH": str(tmp_path), "SPARK_BENCH_NATIVE_CACHE": str(tmp_path / "cache"),
           "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.splitlines()
    assert out == ["numpy", "no C++ compiler found (set CXX or install g++)",
                   "refused: compiled input stream unavailable: no C++ compiler found "
                   "(set CXX or install g++)"]


def test_the_stream_module_imports_no_jax():
    """Brian2 and NEST workers draw their input through it: JAX must stay out of them."""
    code = ("import sys; from adapters.spec import load_spec; from adapters.spec.inputs "
            "import InputStream; s = InputStream(load_spec('tiny')); s.next_chunk(3, None); "
            "print(s.method, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["compiled", "False"]
