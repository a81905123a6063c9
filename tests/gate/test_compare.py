"""The gate's rules (benchmarks/gate/compare.py) on hand-made figures: what fails, what a
commit trailer excuses, and what never fails."""

from __future__ import annotations

from benchmarks.gate.compare import Trailers, judge, parse_trailers, table


def fig(kind, value, **extra):
    return {"kind": kind, "value": value, **extra}


BASE = {
    "spikes/tiny/spark": fig("digest", "aaaa", spikes=301),
    "cache/brian2-cpp/warm_build_hits": fig("exact", 1),
    "instructions/native/float32": fig("count", 4_612_210),
    "wall/spark-native/k1": fig("ratio", 1.0),
}


def statuses(base, head, trailers=Trailers(), **kw):
    return {v.figure: v.status for v in judge(base, head, trailers, **kw)}


def test_an_unchanged_commit_passes():
    verdicts = judge(BASE, dict(BASE))
    assert not any(v.fails for v in verdicts)
    assert {v.status for v in verdicts} == {"ok"}


def test_one_changed_spike_fails_unless_the_commit_says_why():
    head = dict(BASE, **{"spikes/tiny/spark": fig("digest", "bbbb", spikes=300)})
    assert statuses(BASE, head)["spikes/tiny/spark"] == "changed"
    why = parse_trailers(["fix delays\n\nBehaviour-change: delays now round up"])
    verdict = [v for v in judge(BASE, head, why) if v.figure == "spikes/tiny/spark"][0]
    assert verdict.status == "explained" and not verdict.fails
    assert "delays now round up" in verdict.note


def test_instruction_counts_fail_above_one_percent_and_improvements_pass():
    up5 = dict(BASE, **{"instructions/native/float32": fig("count", int(4_612_210 * 1.05))})
    assert statuses(BASE, up5)["instructions/native/float32"] == "regressed"
    up_half = dict(BASE, **{"instructions/native/float32": fig("count", int(4_612_210 * 1.005))})
    assert statuses(BASE, up_half)["instructions/native/float32"] == "ok"
    down = dict(BASE, **{"instructions/native/float32": fig("count", 4_000_000)})
    assert statuses(BASE, down)["instructions/native/float32"] == "improved"
    accepted = parse_trailers(["Accept-regression: bounds checks are worth 5 %"])
    assert statuses(BASE, up5, accepted)["instructions/native/float32"] == "accepted"


def test_exact_figures_must_be_equal():
    head = dict(BASE, **{"cache/brian2-cpp/warm_build_hits": fig("exact", 0)})
    assert statuses(BASE, head)["cache/brian2-cpp/warm_build_hits"] == "regressed"


def test_wall_clock_ratio_is_gated_by_the_calibrated_threshold():
    head = dict(BASE, **{"wall/spark-native/k1": fig("ratio", 1.30)})
    assert statuses(BASE, head, wall_threshold=1.25)["wall/spark-native/k1"] == "regressed"
    assert statuses(BASE, head, wall_threshold=1.35)["wall/spark-native/k1"] == "ok"


def test_a_figure_the_head_stops_measuring_fails_and_new_ones_pass():
    head = dict(BASE, **{"instructions/native/float32": {"skipped": "valgrind missing"}})
    head["spikes/tiny/new-backend"] = fig("digest", "cccc", spikes=5)
    got = statuses(BASE, head)
    assert got["instructions/native/float32"] == "lost"
    assert got["spikes/tiny/new-backend"] == "new"
    both_skipped = {"x": {"skipped": "no NEST"}}
    assert statuses(both_skipped, both_skipped)["x"] == "skipped"


def test_trailers_need_a_reason_and_the_table_puts_failures_first():
    assert parse_trailers(["Behaviour-change:\n"]) == Trailers()
    head = dict(BASE, **{"spikes/tiny/spark": fig("digest", "bbbb", spikes=300)})
    text = table(judge(BASE, head))
    lines = text.splitlines()
    assert lines[1].startswith("spikes/tiny/spark") and "CHANGED" in lines[1]
    assert lines[-1] == "4 figures, 1 failing"


def test_both_trees_share_one_cython_cache(tmp_path):
    """The gate links each tree's ``brian2/cython`` to one folder, replacing what was there."""
    from benchmarks.gate.__main__ import share_cython_cache

    stale = tmp_path / "cache-base" / "brian2" / "cython"
    stale.mkdir(parents=True)
    (stale / "old.so").write_text("x")
    shared = share_cython_cache(tmp_path)
    for name in ("head", "base"):
        link = tmp_path / f"cache-{name}" / "brian2" / "cython"
        assert link.is_symlink() and link.resolve() == shared.resolve()
    (tmp_path / "cache-head" / "brian2" / "cython" / "module.so").write_text("y")
    assert (tmp_path / "cache-base" / "brian2" / "cython" / "module.so").read_text() == "y"
    assert not (shared / "old.so").exists()
    assert share_cython_cache(tmp_path) == shared  # a second gate run in the same folder
