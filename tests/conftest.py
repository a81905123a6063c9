"""The two test tiers and the one rule that keeps them honest.

``make test`` runs the fast tier (``-m "not slow"``); ``make test-all`` adds the slow tier
(``-m slow``): cold builds, the CUDA emulation, the Ray cluster, NEST and Brian2 on bigger
networks. Every test runs in CI either way. ``serial`` tests time things, kill processes
on deadlines or start clusters, so they never share the machine with another test: the
Makefile runs them in a pass of their own, without pytest-xdist.

A ``slow`` or ``serial`` mark must say why (``@pytest.mark.slow(reason="...")``): a test
moved out of the fast tier without a reason is a collection error, so nothing leaves the
default run out of sight.

Under pytest-xdist (``--dist loadgroup``) each test goes to whichever worker is free, so a
module- or session-scoped build used by tests on both workers is made twice. Where that
build is expensive, its users share a group (one worker): :data:`GROUP_BY_FIXTURE` names
the fixture, :data:`GROUP_BY_MODULE` a module that reuses its cache. Grouping every module
instead was measured slower (it puts whole Brian2 modules on one worker). A test with an
``xdist_group`` mark of its own keeps it (the two nvcc builds of brian2cuda projects, ~5 min
each, go to different workers that way). Groups are marked before xdist's own collection
hook turns them into node-id suffixes, hence ``tryfirst``; pytest 9.2 broke those suffixes
(pytest-xdist issue 1386), so pyproject pins pytest below it, and ``tests/test_tiers.py``
checks that a group really stays on one worker.
"""

from __future__ import annotations

import pytest

TIER_MARKS = ("slow", "serial")
GROUP_BY_FIXTURE = {
    # the cold Cython build of tiny (~100 s on 2 cores), used by two slow tests
    "cython_tiny": "brian2-cython-tiny",
}
GROUP_BY_MODULE = {
    # its Cython build of a renamed tiny hits the Cython cache cython_tiny fills
    "tests/brian2/test_no_spec_text_cython.py": "brian2-cython-tiny",
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
            if item.get_closest_marker("xdist_group") is not None:
                continue
            groups = {GROUP_BY_FIXTURE[f] for f in getattr(item, "fixturenames", ())
                      if f in GROUP_BY_FIXTURE}
            module = GROUP_BY_MODULE.get(item.nodeid.split("::", 1)[0])
            groups |= {module} if module else set()
            if len(groups) > 1:
                raise pytest.UsageError(f"{item.nodeid}: in two build groups {sorted(groups)}")
            if groups:
                item.add_marker(pytest.mark.xdist_group(groups.pop()))
