"""The report package against a synthetic results directory in the real format."""

from __future__ import annotations

import base64
import json
import math
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import reports
from benchmarks.results import MalformedResults, load_rows, write_cell
from reports import aggregate as agg
from reports.aggregate import fmt

from .synthetic import CUDA_REASON, edit_cells, write_synthetic_results

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = ("speedup", "compile", "rtf", "latency")


def per_sim(frame: pd.DataFrame) -> pd.DataFrame:
    """Loop rows as the tests compute them, independently of reports.aggregate."""
    rows = frame[(frame.phase == "loop") & frame.status.isin(["ok", "truncated"])].copy()
    rows["per_sim_s"] = rows.seconds / rows.sim_seconds
    return rows


# --------------------------------------------------------------------------- files


def test_report_files_exist(report):
    out, written = report
    assert {"html", "md"} <= set(written)
    for name in FIGURES:
        assert written[f"{name}_png"].read_bytes().startswith(PNG)
        assert b"<svg" in written[f"{name}_svg"].read_bytes()[:2000]
    for name in ("loop_times", "latency", "speedups", "compile_times", "break_even", "fidelity",
                 "problems"):
        assert written[f"{name}_csv"].stat().st_size > 0
    for path in written.values():
        assert path.exists() and path.stat().st_size > 0 and out in path.parents
    assert not list(out.rglob("*.tmp")), "temporary files left behind"


def test_only_requested_formats(results_a, tmp_path):
    written = reports.build_report(results_a, tmp_path, formats=("md",))
    assert "md" in written and "html" not in written and not (tmp_path / "report.html").exists()
    with pytest.raises(reports.ReportError, match="pdf"):
        reports.build_report(results_a, tmp_path, formats=("pdf",))
    with pytest.raises(reports.ReportError, match="normaliser"):
        reports.build_report(results_a, tmp_path, normaliser="best")


# --------------------------------------------------------------------------- numbers


def test_loop_table_matches_pandas(results_a):
    frame = load_rows(results_a)
    table = agg.loop_stats(frame).set_index(["backend", "k"])
    expected = per_sim(frame).groupby(["backend", "k"])["per_sim_s"].agg(["mean", "std", "count"])
    assert len(table) == len(expected)
    for key, row in expected.iterrows():
        got = table.loc[key]
        assert got["mean"] == pytest.approx(row["mean"])
        assert got["std"] == pytest.approx(row["std"])
        assert got["n"] == row["count"] == 4
        lo, hi = stats.t.interval(0.95, row["count"] - 1, loc=row["mean"],
                                  scale=row["std"] / math.sqrt(row["count"]))
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((lo, hi))


def test_summary_numbers_equal_pandas(results_a):
    frame = load_rows(results_a)
    provenance = json.loads((results_a / "provenance.json").read_text())
    text = reports.summary_text(frame, provenance)
    rows = per_sim(frame)
    mean = rows.groupby(["backend", "k"])["per_sim_s"].mean()
    # the machine
    assert provenance["cpu_model"] in text and "2 cores" in text
    # the normaliser: brian2-cpp-uninterrupted mean per instance, then mean over instances
    norm = rows[rows.backend == "brian2-cpp-uninterrupted"].groupby("instance")["per_sim_s"].mean()
    assert f"takes {fmt(norm.mean())} s per simulated second" in text
    # at k = 10: spark vs brian2-cpp (slower) and brian2-runtime (faster)
    spark, cpp, runtime = mean["spark", 10], mean["brian2-cpp", 10], mean["brian2-runtime", 10]
    assert f"At k = 10, spark takes {fmt(spark)} s per simulated second" in text
    assert cpp < spark < runtime
    assert f"{fmt(spark / cpp)}× slower than brian2-cpp closed loop ({fmt(cpp)} s)" in text
    assert f"{fmt(runtime / spark)}× faster than brian2-runtime closed loop" in text
    # speedups: geometric mean over instances x runs of norm(instance) / per_sim_s
    sp = rows[rows.backend == "spark"].merge(norm.rename("norm").reset_index(), on="instance")
    sp["speedup"] = sp["norm"] / sp["per_sim_s"]
    gm = sp.groupby("k")["speedup"].apply(lambda s: float(np.exp(np.log(s).mean())))
    assert f"spark {fmt(gm[1])}× at k = 1 to {fmt(gm[1000])}× at k = 1000" in text
    # compile times
    cold = frame[(frame.backend == "spark") & (frame.phase == "compile_cold")]["seconds"].mean()
    warm = frame[(frame.backend == "spark") & (frame.phase == "compile_warm")]["seconds"].mean()
    assert f"spark {fmt(cold)} s cold / {fmt(warm)} s warm" in text
    # fidelity: the worst rate error is spark's
    worst = frame[frame.backend == "spark"]["fidelity_rate_rel_error_max"].max()
    assert f"{fmt(100 * worst)} % (spark)" in text


def test_summary_end_to_end_normaliser(results_a):
    frame = load_rows(results_a)
    text = reports.summary_text(frame, {}, normaliser="end-to-end")
    b = frame[frame.backend == "brian2-cpp-uninterrupted"]
    per = {}
    for inst, g in b.groupby("instance"):
        loop = g[g.phase == "loop"]
        total = (g[g.phase == "compile_cold"].seconds.mean() + g[g.phase == "construct"].seconds.mean()
                 + loop.seconds.mean())
        per[inst] = total / loop.sim_seconds.mean()
    assert f"end-to-end (compile + construct + loop), takes {fmt(np.mean(list(per.values())))} s" in text
    assert "unknown CPU" in text  # no provenance: said, not invented


def test_break_even_definition(results_a):
    frame = load_rows(results_a)
    be = agg.break_even(frame).set_index(["backend", "k"])
    rows = per_sim(frame)

    def one_off(backend):
        g = frame[frame.backend == backend]
        return g[g.phase == "compile_cold"].seconds.mean() + g[g.phase == "construct"].seconds.mean()

    r_n = rows[rows.backend == "brian2-cpp-uninterrupted"].per_sim_s.mean()
    r_b = rows[(rows.backend == "brian2-cpp") & (rows.k == 1000)].per_sim_s.mean()
    assert r_b < r_n and one_off("brian2-cpp") > one_off("brian2-cpp-uninterrupted")
    expected = (one_off("brian2-cpp") - one_off("brian2-cpp-uninterrupted")) / (r_n - r_b)
    assert be.loc[("brian2-cpp", 1000), "break_even_s"] == pytest.approx(expected)
    assert be.loc[("brian2-cpp", 1000), "verdict"] == "pays back after"
    assert be.loc[("brian2-runtime", 1), "verdict"] == "never pays back"
    assert math.isinf(be.loc[("brian2-runtime", 1), "break_even_s"])
    assert be.loc[("spark", 10), "verdict"] == "ahead until"  # cheaper build, slower loop


# --------------------------------------------------------------------------- problems


def test_skipped_and_truncated_cells_listed(results_a, report):
    frame = load_rows(results_a)
    problems = agg.problem_cells(frame)
    cuda = problems[problems.backend == "brian2-cuda"]
    assert set(cuda.status) == {"skipped"} and set(cuda.reason) == {CUDA_REASON}
    assert set(cuda.k) == {"build", "1", "10", "100", "1000"}
    trunc = problems[problems.status == "truncated"]
    assert list(trunc.backend) == ["brian2-runtime"] and list(trunc.k) == ["1"]
    assert trunc.sim_seconds.iloc[0] < 1.0
    loop = agg.loop_stats(frame).set_index(["backend", "k"])
    assert loop.loc[("brian2-runtime", 1), "n_truncated"] == 2
    out, written = report
    for path in (written["html"], written["md"]):
        text = path.read_text()
        assert CUDA_REASON.replace("'", "&#x27;" if path.suffix == ".html" else "'") in text
        assert "truncated" in text and "ran 98" in text
    summary = reports.summary_text(frame, {})
    assert "skipped: brian2-cuda" in summary and "truncated" in summary


def test_missing_cells_and_backends(tmp_path):
    """No normaliser, no spark, one cell never written: reported, not crashed."""
    src = write_synthetic_results(tmp_path / "full")
    cut = tmp_path / "cut"
    (cut / "cells").mkdir(parents=True)
    for p in (src / "cells").glob("*.csv"):
        if "uninterrupted" in p.name or "-spark-" in p.name or p.name.endswith("i2-brian2-cpp-float32-t1-k100.csv"):
            continue
        (cut / "cells" / p.name).write_text(p.read_text())
    written = reports.build_report(cut, tmp_path / "out")
    frame = load_rows(cut)
    text = reports.summary_text(frame, {})
    assert "brian2-cpp-uninterrupted has no loop results" in text
    assert "At k = 10, brian2-cpp takes" in text
    assert "spark-native and spark have no closed-loop results" in text
    problems = agg.problem_cells(frame)
    missing = problems[problems.status == "missing"]
    assert list(zip(missing.backend, missing.k, missing.instances)) == [("brian2-cpp", "100", "2")]
    assert "missing" in written["md"].read_text()


# --------------------------------------------------------------------------- html


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if "id" in attrs:
            self.ids.append(attrs["id"])


def test_html_parses_and_embeds_every_figure(report, results_a):
    out, written = report
    parser = _Images()
    parser.feed(written["html"].read_text())
    parser.close()
    assert len(parser.images) == len(FIGURES)
    for src, name in zip(parser.images, FIGURES):
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1])
        assert data == written[f"{name}_png"].read_bytes()
    assert {"summary", "figures", "tables", "definitions", "provenance"} <= set(parser.ids)
    html_text = written["html"].read_text()
    assert "AMD EPYC 7B13 (synthetic)" in html_text and "0123456789abcdef" in html_text
    assert 'src="figures/' not in html_text  # self-contained


def test_markdown_links_figures_beside_it(report):
    out, written = report
    md = written["md"].read_text()
    for name in FIGURES:
        assert f"](figures/{name}.png)" in md
        assert (out / "figures" / f"{name}.png").exists()
    assert "## Provenance" in md and "| cpu_model | AMD EPYC 7B13 (synthetic) |" in md


# --------------------------------------------------------------------------- compare


def test_compare_ratios(results_a, results_b, tmp_path):
    written = reports.compare(results_a, results_b, tmp_path)
    for key in ("html", "md", "compare_png", "compare_svg", "compare_loop_csv", "compare_compile_csv"):
        assert written[key].exists()
    table = pd.read_csv(written["compare_loop_csv"]).set_index(["backend", "k"])
    a = per_sim(load_rows(results_a)).groupby(["backend", "k"])["per_sim_s"].mean()
    b = per_sim(load_rows(results_b)).groupby(["backend", "k"])["per_sim_s"].mean()
    for key in [("spark", 10), ("brian2-cpp", 1), ("brian2-cpp-uninterrupted", 10000)]:
        assert table.loc[key, "ratio"] == pytest.approx(b[key] / a[key])
    assert 0.4 < table.loc[("spark", 100), "ratio"] < 0.6  # B's spark is twice as fast
    assert 1.3 < table.loc[("brian2-cpp", 100), "ratio"] < 1.7
    parser = _Images()
    parser.feed(written["html"].read_text())
    assert len(parser.images) == 1 and parser.images[0].startswith("data:image/png;base64,")
    assert "Other CPU" in written["md"].read_text()


# --------------------------------------------------------------------------- errors


def test_error_for_empty_results_dir(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (empty, tmp_path / "nowhere"):
        with pytest.raises(reports.NoResults) as err:
            reports.build_report(target, tmp_path / "out")
        message = str(err.value)
        assert str(target) in message and "\n" not in message and "cells" in message
    (empty / "cells").mkdir()
    write_cell(empty, "header-only", [])
    with pytest.raises(reports.NoResults, match="no result rows"):
        reports.build_report(empty, tmp_path / "out")
    assert not (tmp_path / "out" / "report.html").exists()
    with pytest.raises(FileNotFoundError):  # NoResults is a FileNotFoundError too
        reports.compare(empty, empty, tmp_path / "cmp")


def test_roofline_rows_appear_in_the_report(tmp_path):
    """``spark-bench roofline --out DIR`` rows: a table and a summary sentence with the
    written numbers; no roofline file, no section (the default reports above)."""
    import shutil

    from benchmarks import roofline

    results = write_synthetic_results(tmp_path / "results", seed=0)
    bw = roofline.Bandwidth(bytes_per_second=32e9, array_mb=256.0, repeats=5)
    rows = [roofline.RooflineRow(backend="spark-native", loop_seconds=0.1, sim_seconds=1.0,
                                 events=40_000_000, events_per_second=4e8,
                                 bound_events_per_second=4e9),
            roofline.RooflineRow(backend="brian2-cpp-uninterrupted", loop_seconds=0.4,
                                 sim_seconds=1.0, events=40_000_000, events_per_second=1e8,
                                 bound_events_per_second=4e9)]
    roofline.write_csv(results, "paper8", "float32", bw, rows)
    written = reports.build_report(results, tmp_path / "out")
    md = written["md"].read_text()
    assert "Synaptic events/s against the memory-bandwidth bound" in md
    assert "spark-native 10 % (4e+08 events/s); brian2-cpp-uninterrupted 2.5 %" in md
    assert "32 GB/s measured copy bandwidth" in md
    assert written["roofline_csv"].exists()
    (results / "roofline.csv").write_text("backend,events\nx,1\n")
    with pytest.raises(MalformedResults, match="missing column"):
        reports.build_report(results, tmp_path / "out2")
    shutil.rmtree(tmp_path / "out2", ignore_errors=True)


def test_rows_of_another_sweep_are_warned_about_first(results_a):
    """A results directory holding cells of two sweeps (another network or commit): the
    summary says so before any number."""
    frame = load_rows(results_a)
    provenance = json.loads((results_a / "provenance.json").read_text())
    assert "sweep(s)" not in reports.summary_text(frame, provenance)
    mixed = frame.copy()
    mixed.loc[mixed.index[:3], "sweep_id"] = "0123456789ab"
    lines = reports.summary_text(mixed, provenance).split("\n\n")
    warning = next(i for i, line in enumerate(lines) if "sweep(s)" in line)
    assert warning <= 1 and "0123456789ab" in lines[warning]
    assert provenance["sweep_id"] in lines[warning]


def test_latency_table_matches_pandas(results_a, report):
    frame = load_rows(results_a)
    rows = frame[(frame.phase == "loop") & (frame.loop == "closed")
                 & frame.status.isin(["ok", "truncated"])]
    table = agg.latency_stats(frame).set_index(["backend", "k"])
    assert not table.empty and set(table.index) == set(zip(rows.backend, rows.k))
    for (backend, k), g in rows.groupby(["backend", "k"]):
        got = table.loc[(backend, k)]
        assert got["passes"] == len(g)
        assert got["p50_s"] == pytest.approx(g.latency_p50_s.median())
        assert got["p99_s"] == pytest.approx(g.latency_p99_s.median())
        assert got["max_s"] == pytest.approx(g.latency_max_s.max())
    out, written = report
    assert "Per-chunk latency" in written["md"].read_text()


def test_results_without_latency_columns_still_report(results_a, tmp_path):
    """Results written before latencies were recorded: NaN latencies, an explained empty
    figure, the rest of the report as before."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(results_a, old)
    edit_cells(old, lambda frame: frame.drop(
        columns=[c for c in frame.columns if c.startswith("latency_")]))
    assert agg.latency_stats(load_rows(old)).empty
    written = reports.build_report(old, tmp_path / "report", formats=("md",))
    assert written["latency_png"].read_bytes().startswith(PNG)


def test_every_table_and_the_speedup_caption_name_the_comparison_class(results_a):
    """Rows written before the column existed read as exact; a native-class backend is named
    in the loop and speedup tables, and the caption says its ratio crosses classes."""
    from reports.render import display_tables, figure_captions

    frame = load_rows(results_a)
    assert set(frame["comparison"]) == {"exact"}
    frame.loc[frame["backend"] == "brian2-runtime", "comparison"] = "native"
    loops = agg.loop_stats(frame)
    assert set(loops.loc[loops["backend"] == "brian2-runtime", "comparison"]) == {"native"}
    assert set(loops.loc[loops["backend"] == "spark", "comparison"]) == {"exact"}
    speedups = agg.speedup_stats(frame)
    assert set(speedups.loc[speedups["backend"] == "brian2-runtime", "comparison"]) == {"native"}
    shown = display_tables(agg.all_tables(frame))
    for key in ("loop_times", "speedups"):
        table = shown[key][1]
        assert set(table.loc[table["backend"] == "brian2-runtime", "class"]) == {"native"}
    caption = figure_captions({}, frame, {}, "uninterrupted")["speedup"]
    assert "Native-class lines (brian2-runtime" in caption and "across comparison classes" in caption
    older = frame.drop(columns=["comparison"])
    assert set(agg.backend_comparisons(older).values()) == {"exact"}
