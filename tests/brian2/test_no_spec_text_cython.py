"""No spec name or description reaches Brian2 runtime's generated Cython code (issue 22's
rule for the C++ projects, here for ``brian2-runtime``): Brian2 objects are numbered, so
the code Cython compiles is the same whatever the spec calls things.

The marked network is ``tiny`` with a marker in every name and free-text field. Built with
the session's options, its code objects are the ones the ``cython_tiny`` build of ``tiny``
compiles, so the shared Cython cache (``cache_dir/brian2/cython``) makes this build cheap
whichever of the two runs first. Brian2 deletes each module's ``.pyx`` and ``.cpp`` once it
is compiled (``codegen.runtime.cython.delete_source_files``) and does not write them at
all on a cache hit, so the sources are checked where Brian2 hands them over: every code
text given to its extension manager (compiled or found in a cache, whose module name is a
hash of that text) is recorded; then every file in the cache, compiled modules included,
is scanned too."""

from __future__ import annotations

import pytest

from adapters.registry import load_backend
from adapters.spec.materialise import materialise
from tests.fidelity.test_adversarial_names import MARK, marked_tiny


@pytest.mark.slow(reason="a Cython build of tiny (~100 s cold, cheap after the slow tier's "
                         "own Cython build of tiny)")
def test_no_spec_text_reaches_generated_cython(options, cache_dir, monkeypatch):
    from brian2.codegen.runtime.cython_rt.extension_manager import cython_extension_manager

    codes: list[str] = []
    create = cython_extension_manager.create_extension

    def recording(code, *args, **kwargs):
        codes.append(code)
        return create(code, *args, **kwargs)

    monkeypatch.setattr(cython_extension_manager, "create_extension", recording)
    net = materialise(marked_tiny())
    assert MARK in net.spec.name and MARK in net.spec.description
    backend = load_backend("brian2-runtime")()
    try:
        backend.prepare(net, options)
    finally:
        backend.close()
    assert len(codes) > 5, "the build compiled or loaded no Cython code"
    assert [code for code in codes if MARK in code] == []

    cython = cache_dir / "brian2" / "cython"
    files = [p for p in cython.rglob("*") if p.is_file()]
    modules = [p for p in files if p.suffix in (".so", ".pyd", ".pyx", ".cpp")]
    assert modules, f"no generated Cython modules under {cython}"
    # sources where Brian2 kept them, and the compiled modules' string constants
    leaked = [str(p.relative_to(cython)) for p in files if MARK.encode() in p.read_bytes()]
    assert leaked == []
