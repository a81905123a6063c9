"""The CPU emulation of CUDA (spark/native/cuda_emulation.h) behaves as the hardware does in
what kernels_cuda.cu relies on: warp shuffles, block barriers, blocks one after another,
atomics; and it reports what would hang or race on a GPU instead of passing silently (a
barrier some thread never reaches; a read of another thread's data with no barrier).

The kernels themselves are checked under the emulation by test_native_gpu.py."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import pytest

from spark.native import builder

CASES = Path(__file__).with_name("cuda") / "emulation_cases.cu"


@pytest.fixture(scope="module")
def emulation(tmp_path_factory):
    try:
        tc = builder.toolchain()
    except builder.BuildError as err:
        pytest.skip(str(err))
    library = tmp_path_factory.mktemp("emulation") / "cases.so"
    subprocess.run([tc.compiler, "-O1", "-std=c++17", "-fPIC", "-shared", "-x", "c++",
                    f"-I{builder.SOURCE.parent}", str(CASES), "-o", str(library)],
                   check=True, capture_output=True, timeout=300)
    lib = ctypes.CDLL(str(library))
    lib.emulation_case.restype = ctypes.c_int
    lib.emulation_case.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]

    def run(which: int) -> tuple[int, str]:
        buf = ctypes.create_string_buffer(512)
        code = lib.emulation_case(which, buf, len(buf))
        return code, buf.value.decode()

    return run


def test_shuffles_barriers_and_blocks(emulation):
    """A warp scan by __shfl_up_sync gives the prefix sums; after __syncthreads every
    thread reads its neighbour's result; three blocks, each with its own coordinates."""
    assert emulation(0) == (0, "")


def test_a_missing_barrier_shows_in_both_fiber_orders(emulation):
    """A thread reading its neighbour's shared slot with no barrier between finds it stale,
    on an ascending launch and on the descending one after it."""
    assert emulation(1) == (0, "")


def test_a_barrier_not_every_thread_reaches_is_reported(emulation):
    code, message = emulation(2)
    assert code == 0
    assert "emulated block 0: deadlock: 512 of 1024 threads wait at __syncthreads" in message


def test_a_shuffle_half_a_warp_skips_is_reported(emulation):
    code, message = emulation(3)
    assert code == 0 and "deadlock" in message and "warp shuffle" in message


def test_atomics_add_every_contribution(emulation):
    assert emulation(4) == (0, "")
