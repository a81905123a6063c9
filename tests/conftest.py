"""The two test tiers and the one rule that keeps them honest.

``make test`` runs the fast tier (``-m "not slow"``); ``make test-all`` adds the slow tier
(``-m slow``): cold builds, the CUDA emulation, the Ray cluster, NEST and Brian2 on bigger
networks. Every test runs in CI either way. ``serial`` tests time things, kill processes
on deadlines or start clusters, so they never share the machine with another test: the
Makefile runs them in a pass of their own, without pytest-xdist.

A ``slow`` or ``serial`` mark must say why (``@pytest.mark.slow(reason="...")``): a test
moved out of the fast tier without a reason is a collection error, so nothing leaves the
default run out of sight.

Under pytest-xdist (``--dist loadgroup``) the tests of one module stay on one worker, so a
module-scoped build is made once. :data:`SHARED_BUILDS` joins modules that reuse each
other's builds; a test with an ``xdist_group`` mark of its own keeps it (the two nvcc
builds of brian2cuda projects, ~4 min each, go to different workers that way). The groups
must be marked before xdist's own collection hook turns them into node-id suffixes, hence
``tryfirst``; pytest 9.2 broke those suffixes (pytest-xdist issue 1386), so pyproject pins
pytest below it, and ``tests/test_tiers.py`` checks that a module really stays on one worker.
"""

from __future__ import annotations

import pytest

TIER_MARKS = ("slow", "serial")
SHARED_BUILDS = {
    # its Cython build of a renamed tiny hits the cache of test_brian2_modes' cython_tiny
    "tests/brian2/test_no_spec_text_cython.py": "tests/brian2/test_brian2_modes.py",
}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unexplained = []
    for item in items:
        for name in TIER_MARKS:
            for mark in item.iter_markers(name):
                reason = mark.kwargs.get("reason", "")
                if not isinstance(reason, str) or not reason.strip() or mark.args:
                    unexplained.append(f"{item.nodeid}: @pytest.mark.{name} needs reason=\"...\"")
    if unexplained:
        raise pytest.UsageError("tier marks without a reason:\n  " + "\n  ".join(sorted(set(unexplained))))
    if config.pluginmanager.hasplugin("xdist"):
        for item in items:
            if item.get_closest_marker("xdist_group") is None:
                module = item.nodeid.split("::", 1)[0]
                item.add_marker(pytest.mark.xdist_group(SHARED_BUILDS.get(module, module)))
