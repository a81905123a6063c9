"""The test tiers and CI's stage clock: a tier mark needs its reason, the Makefile's passes
cover every test exactly once, and a stage over its budget fails CI with the table."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
MARKERS = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
markers =
    slow(reason): slow tier
    serial(reason): alone
"""


def _budget_module():
    spec = importlib.util.spec_from_file_location("ci_budget", ROOT / ".ci" / "budget.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_tier_mark_without_a_reason_is_a_collection_error(pytester):
    pytester.makeini(MARKERS)
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makepyfile(test_marked="""
        import pytest

        @pytest.mark.slow
        def test_unexplained():
            pass

        @pytest.mark.serial(reason="")
        def test_empty_reason():
            pass

        @pytest.mark.slow(reason="builds things")
        def test_explained():
            pass
    """)
    result = pytester.runpytest_inprocess("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = "\n".join(result.errlines + result.outlines)
    assert "test_unexplained: @pytest.mark.slow needs reason" in text
    assert "test_empty_reason: @pytest.mark.serial needs reason" in text
    assert "test_explained" not in text


LIST_MARKS = """
import os

def pytest_collection_finish(session):
    with open(os.environ["LIST_MARKS_TO"], "w") as out:
        for item in session.items:
            names = sorted({m.name for m in item.iter_markers()})
            out.write(item.nodeid + "\\t" + ",".join(names) + "\\n")
"""


def test_the_makefile_passes_run_every_test_exactly_once(tmp_path):
    """One collection of the whole suite, every test's marks read off it, and the
    Makefile's four ``-m`` expressions evaluated on them with pytest's own parser."""
    from _pytest.mark.expression import Expression

    (tmp_path / "list_marks.py").write_text(LIST_MARKS)
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "list_marks"],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path),
                               "LIST_MARKS_TO": str(tmp_path / "marks.tsv")})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    marks = {}
    for line in (tmp_path / "marks.tsv").read_text().splitlines():
        nodeid, names = line.split("\t")
        marks[nodeid] = set(names.split(",")) - {""}
    assert len(marks) > 500
    makefile = (ROOT / "Makefile").read_text()
    expressions = re.findall(r'\$\(PYTEST\) -m "([^"]+)"', makefile)
    assert len(expressions) == 4, expressions
    passes = []
    for text in expressions:
        expression = Expression.compile(text)
        passes.append({n for n, m in marks.items()
                       if expression.evaluate(lambda name, m=m, **_: name in m)})
    assert all(passes), f"a pass collects no tests: {[len(p) for p in passes]}"
    assert set().union(*passes) == set(marks)
    assert sum(len(p) for p in passes) == len(marks)  # disjoint
    slow = {n for n, m in marks.items() if "slow" in m}
    assert 0 < len(slow) < len(marks) / 4


def test_a_stage_over_budget_fails_with_the_table(tmp_path):
    budget = _budget_module()
    stages = [{"name": "setup", "seconds": 50.0, "budget": 300.0, "rc": 0},
              {"name": "test-fast", "seconds": 700.0, "budget": 600.0, "rc": 0}]
    text, over = budget.table(stages, 2400.0)
    assert over
    assert re.search(r"test-fast\s+700\s+600\s+OVER BUDGET by 100 s", text)
    assert re.search(r"total\s+750\s+2400\s+ok", text)
    text, over = budget.table(stages[:1], 2400.0)
    assert not over and "OVER" not in text
    text, over = budget.table([dict(stages[0], seconds=100.0, budget=100.0)] * 2, 150.0)
    assert over and "total" in text and "OVER BUDGET by 50 s" in text.splitlines()[-1]
    failed = [dict(stages[0], rc=2)]
    assert budget.table(failed, 2400.0)[1] and "FAILED (exit 2)" in budget.table(failed, 2400.0)[0]


def test_the_stage_clock_records_each_stage_and_reports_its_verdict(tmp_path):
    stages = tmp_path / "stages.json"
    env = {"CI_STAGES": str(stages), "PATH": "/usr/bin:/bin"}
    script = str(ROOT / ".ci" / "budget.py")
    ran = subprocess.run([sys.executable, script, "run", "quick", "60", "--", "true"],
                         env=env, capture_output=True, text=True)
    assert ran.returncode == 0 and "stage quick took" in ran.stdout
    failing = subprocess.run([sys.executable, script, "run", "broken", "60", "--", "false"],
                             env=env, capture_output=True, text=True)
    assert failing.returncode == 1
    assert [s["name"] for s in json.loads(stages.read_text())] == ["quick", "broken"]
    report = subprocess.run([sys.executable, script, "report", "2400"], env=env,
                            capture_output=True, text=True)
    assert report.returncode == 1 and "FAILED (exit 1)" in report.stdout


RECORD_WORKER = """
import os

def record(name):
    with open(os.path.join(os.environ["WORKERS_TO"], name), "w") as out:
        out.write(os.environ.get("PYTEST_XDIST_WORKER", "none"))
"""


def test_xdist_keeps_a_build_group_on_one_worker(tmp_path):
    """The users of an expensive shared build (conftest.GROUP_BY_FIXTURE) run on one worker,
    so the build is made once. This broke silently once (pytest 9.2 against pytest-xdist
    3.8): every test went to any worker and the Cython tiny was built twice."""
    pytest.importorskip("xdist")
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "record_worker.py").write_text(RECORD_WORKER)
    (tmp_path / "pytest.ini").write_text(MARKERS)
    users = "\n".join(f"def test_user_{i}(cython_tiny):\n    time.sleep(0.3)\n"
                       f"    record('user-{i}')\n" for i in range(4))
    others = "\n".join(f"def test_other_{i}():\n    time.sleep(0.3)\n    record('other-{i}')\n"
                        for i in range(4))
    (tmp_path / "test_builds.py").write_text(
        "import time\nimport pytest\nfrom record_worker import record\n\n"
        "@pytest.fixture(scope='session')\ndef cython_tiny():\n    return 1\n\n"
        f"{users}\n{others}")
    seen = tmp_path / "seen"
    seen.mkdir()
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "WORKERS_TO": str(seen), "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    workers: dict[str, set[str]] = {}
    for record in seen.iterdir():
        workers.setdefault(record.name.split("-")[0], set()).add(record.read_text())
    assert len(list(seen.iterdir())) == 8
    assert len(workers["user"]) == 1 and "none" not in workers["user"], workers
    assert len(workers["user"] | workers["other"]) == 2, workers  # the rest still spread
