"""Per-row provenance: where each row's backend ran (device, GPU model, driver, CUDA, JAX
device), asked once per process, '' without a GPU, and never importing JAX."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from adapters.base import Capabilities
from benchmarks import provenance
from benchmarks.results import ResultRow, load_rows, write_cell

from .fakes import EVERY_KIND, CountingBackend

ROOT = Path(__file__).resolve().parents[2]

SMI_QUERY = "NVIDIA H200, 570.86.15\nNVIDIA H200, 570.86.15\n"
SMI_HEADER = """+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 570.86.15              Driver Version: 570.86.15      CUDA Version: 12.8     |
|-----------------------------------------+------------------------+----------------------+
"""
NVCC = """nvcc: NVIDIA (R) Cuda compiler driver
Cuda compilation tools, release 13.0, V13.0.48
"""


class FakeGpuBackend(CountingBackend):
    name = "fake-gpu-device"
    device: ClassVar[str] = "gpu"
    capabilities = Capabilities(closed_loop=True, open_loop=True, needs_gpu=True, **EVERY_KIND)


class FakeCpuBackend(CountingBackend):
    name = "fake-cpu-device"


@pytest.fixture()
def fresh_gpu_info():
    provenance.gpu_info.cache_clear()
    yield
    provenance.gpu_info.cache_clear()


@pytest.fixture()
def fake_nvidia(tmp_path, monkeypatch, fresh_gpu_info):
    """nvidia-smi and nvcc on PATH that print what an H200 machine prints, and count calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for name, text in (("nvidia-smi", None), ("nvcc", NVCC)):
        script = bin_dir / name
        if text is None:  # nvidia-smi: the query, or the header without arguments
            body = (f'echo "$@" >> {calls}\nif [ "$#" -gt 0 ]; then printf %s "{SMI_QUERY}"; '
                    f"else cat <<'EOF'\n{SMI_HEADER}EOF\nfi\n")
        else:
            body = f"cat <<'EOF'\n{text}EOF\n"
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_parsers():
    assert provenance.parse_gpu_query(SMI_QUERY) == ("NVIDIA H200", "570.86.15")
    assert provenance.parse_gpu_query("") == ("", "")
    assert provenance.parse_gpu_query("Tesla T4\n") == ("Tesla T4", "")
    assert provenance.parse_cuda_version(SMI_HEADER, NVCC) == "12.8"
    assert provenance.parse_cuda_version("", NVCC) == "13.0"
    assert provenance.parse_cuda_version("no gpu", "") == ""


def test_no_gpu_gives_empty_fields(monkeypatch, fresh_gpu_info):
    monkeypatch.setattr(provenance.shutil, "which", lambda name: None)
    assert provenance.gpu_info() == {"gpu_model": "", "gpu_driver": "", "cuda_version": ""}
    fields = provenance.device_fields(FakeGpuBackend.name)
    assert fields["device"] == "gpu" and fields["gpu_model"] == fields["gpu_driver"] == ""
    cpu_fields = provenance.device_fields(FakeCpuBackend.name)
    assert cpu_fields.pop("machine") == provenance.machine_name() != ""
    assert set(cpu_fields.values()) <= {"cpu", "", "cpu:0"}
    assert cpu_fields["device"] == "cpu"
    assert provenance.device_fields("a-backend-nobody-loaded")["device"] in ("", "cpu")


def test_gpu_fields_from_nvidia_smi_asked_once(fake_nvidia):
    for _ in range(3):
        fields = provenance.device_fields(FakeGpuBackend.name)
    assert fields["device"] == "gpu: NVIDIA H200"
    assert (fields["gpu_model"], fields["gpu_driver"], fields["cuda_version"]) == (
        "NVIDIA H200", "570.86.15", "12.8")
    # the query and the header (for the CUDA version), each once per process
    assert fake_nvidia.read_text().splitlines() == [
        "--query-gpu=name,driver_version --format=csv,noheader", ""]
    cpu = provenance.device_fields(FakeCpuBackend.name)
    assert cpu["device"] == "cpu" and cpu["gpu_model"] == cpu["gpu_driver"] == cpu["cuda_version"] == ""


def test_write_cell_fills_the_device_columns(tmp_path, fake_nvidia):
    def row(backend: str, **kw) -> ResultRow:
        return ResultRow(sweep_id="s", network="tiny", instance=1, backend=backend, loop="closed",
                         k=10, run=0, dtype="float64", threads=1, phase="loop", seconds=1.0, **kw)

    write_cell(tmp_path, "a", [row(FakeGpuBackend.name), row(FakeCpuBackend.name),
                               row(FakeGpuBackend.name, device="gpu: given")])
    rows = load_rows(tmp_path)
    assert list(rows.device) == ["gpu: NVIDIA H200", "cpu", "gpu: given"]
    assert list(rows.gpu_driver) == ["570.86.15", "", ""]  # a row that says its device keeps it
    assert list(rows.cuda_version) == ["12.8", "", ""]


def test_importing_results_or_provenance_imports_no_jax():
    code = ("import sys, benchmarks.results, benchmarks.provenance as p; "
            "f = p.device_fields('spark'); print('jax' in sys.modules, repr(f['jax_device']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    assert out.stdout.split() == ["False", "''"]


def test_jax_device_only_where_jax_ran():
    code = ("import benchmarks.provenance as p, jax; before = p.jax_device('cpu'); "
            "jax.numpy.ones(2).block_until_ready(); print(repr(before), p.jax_device('cpu'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    before, after = out.stdout.split()
    assert before == "''" and "cpu" in after.lower()
