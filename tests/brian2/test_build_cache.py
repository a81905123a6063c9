"""The Brian2 build cache survives a build that was cut short: a project without its stamp
is rebuilt from an empty directory, not patched up by make from what a killed compiler left."""

from __future__ import annotations

import os
import time

import pytest

from adapters.base import BackendOptions
from adapters.registry import load_backend
from adapters.spec import load_spec, materialise
from benchmarks.protocol import record_open_loop_spikes


@pytest.mark.slow(reason="a cold Brian2 C++ build, truncated, then rebuilt (~40 s)")
def test_an_unstamped_build_with_a_truncated_object_file_is_rebuilt(tmp_path):
    net = materialise(load_spec("tiny").overridden(dtype="float64", duration=50.0), 1)
    options = BackendOptions(cache_dir=tmp_path)
    backend_cls = load_backend("brian2-cpp-uninterrupted")
    before = record_open_loop_spikes(backend_cls, net, options)
    (project,) = [p for p in (tmp_path / "brian2").glob("tiny-*") if p.is_dir()]
    objects = sorted(project.rglob("*.o"))
    assert objects, "the build left no object files"
    later = time.time() + 3600  # newer than any source the rebuild writes: make trusts it
    for obj in objects:  # what `kill -9` during compilation leaves: a short .o, no stamp
        obj.write_bytes(obj.read_bytes()[:16])
        os.utime(obj, (later, later))
    (project / "spark_build.ok").unlink()
    (project / "main").unlink()
    after = record_open_loop_spikes(backend_cls, net, options)
    assert (project / "spark_build.ok").exists()
    assert before.keys() == after.keys()
    for pop in before:
        assert (before[pop][0] == after[pop][0]).all() and (before[pop][1] == after[pop][1]).all()
