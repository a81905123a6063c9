"""The gate's instruction counting (benchmarks/gate/measure.py) on a hand-made workload: one
process under callgrind, one named dump per counted part, nothing of what ran before a part."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks.gate import measure

WORKLOAD_C = """
void gate_zero(void);
void gate_dump(const char *name);
long spin(long n) { volatile long s = 0; for (long i = 0; i < n; i++) s += i; return s; }
int main(void) {
    spin(50000);  /* "prepare": part of no figure */
    gate_zero(); spin(10000); gate_dump("small");
    spin(50000);
    gate_zero(); spin(30000); gate_dump("large");
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("valgrind") is None or shutil.which("gcc") is None
                    or not Path("/usr/include/valgrind/callgrind.h").exists(),
                    reason="valgrind (with its headers) and gcc are needed: apt-get install valgrind")
def test_one_process_counts_each_part_alone(tmp_path):
    """The marks library the counted workloads call (through ctypes there, from C here),
    the callgrind command and the parsing of its named dumps."""
    marks = measure._build_marks(tmp_path)
    (tmp_path / "workload.c").write_text(WORKLOAD_C)
    program = tmp_path / "workload"
    subprocess.run(["gcc", "-O1", str(tmp_path / "workload.c"), str(marks),
                    f"-Wl,-rpath,{tmp_path}", "-o", str(program)], check=True)
    out = tmp_path / "run.callgrind"
    subprocess.run(measure._callgrind([str(program)], ("spin",), out), check=True,
                   capture_output=True)
    counts = measure._dumps(out)
    assert set(counts) == {"small", "large"}
    # spin's loop is a fixed number of instructions per iteration: 3x the iterations is 3x
    # the count, and neither part holds the 50,000 iterations run outside it
    assert counts["small"] > 10_000
    assert abs(counts["large"] / counts["small"] - 3.0) < 0.01
