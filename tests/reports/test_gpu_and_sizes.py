"""GPU rows in the report (device labels, distinct lines, the normaliser named), and the
size study (cost vs network size), on synthetic results in the real format."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import reports
from benchmarks.results import load_rows
from reports import aggregate as agg
from reports import figures

from .synthetic import GPU, GPU_FIELDS, edit_cells, write_synthetic_results

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]
GPU_LABEL = f"gpu: {GPU}"


@pytest.fixture(scope="module")
def gpu_results(tmp_path_factory):
    return write_synthetic_results(tmp_path_factory.mktemp("gpu") / "gpu", seed=3, gpu=True)


@pytest.fixture(scope="module")
def sized(tmp_path_factory):
    """paper8 and an 8x larger network (8x the cost per simulated second), one directory each."""
    root = tmp_path_factory.mktemp("sizes")
    small = write_synthetic_results(root / "paper8", seed=4, gpu=True)
    large = write_synthetic_results(root / "paper8x8", seed=5, gpu=True, network="paper8x8",
                                    neurons=65536, speed={"spark": 8.0, "brian2-cpp": 8.0,
                                                          "brian2-runtime": 8.0, "spark-gpu": 1.3,
                                                          "brian2-cpp-uninterrupted": 8.0,
                                                          "brian2-cuda-uninterrupted": 1.5})
    return small, large


# --------------------------------------------------------------------------- device columns


def test_rows_keep_their_device_columns(gpu_results):
    rows = load_rows(gpu_results)
    gpu = rows[rows.backend == "spark-gpu"]
    assert set(gpu.device) == {GPU_LABEL} and set(gpu.gpu_model) == {GPU}
    assert set(gpu.gpu_driver) == {GPU_FIELDS["gpu_driver"]}
    assert set(gpu.cuda_version) == {"12.8"}  # text, not the number 12.8 (or 12.10 -> 12.1)
    assert set(gpu.jax_device) == {"cuda:0"}
    cpu = rows[rows.backend == "brian2-cpp"]
    assert set(cpu.device) == {"cpu"} and set(cpu.gpu_model) == {""} and set(cpu.jax_device) == {""}


def test_tables_have_a_device_column(gpu_results):
    frame, provenance = agg.load(gpu_results)
    tables = agg.all_tables(frame, provenance=provenance)
    for name in ("loop_times", "speedups", "latency", "compile_times"):
        table = tables[name]
        assert list(table.columns[:2]) == ["backend", "device"], name
        devices = dict(zip(table.backend, table.device))
        assert devices["spark"] == "cpu", name
        if "spark-gpu" in devices or name != "latency":
            assert devices["spark-gpu"] == GPU_LABEL, name
    assert dict(zip(tables["loop_times"].backend, tables["loop_times"].device))[
        "brian2-cuda-uninterrupted"] == GPU_LABEL
    shown = reports.render.display_tables(tables)
    for name in ("loop_times", "speedups", "latency", "compile_times"):
        assert "device" in shown[name][1].columns


def test_gpu_speedups_keep_the_cpu_normaliser(gpu_results):
    """The denominator of every speedup, GPU lines included, is the normaliser's time."""
    frame, _ = agg.load(gpu_results)
    rows = agg.loop_rows(frame)
    norm = rows[rows.backend == agg.NORMALISER_BACKEND].groupby("instance")["per_sim_s"].mean()
    gpu = rows[(rows.backend == "spark-gpu") & (rows.k == 100)]
    expected = np.exp(np.log(gpu.instance.map(norm) / gpu.per_sim_s).mean())
    sp = agg.speedup_stats(frame).set_index(["backend", "k"])
    assert sp.loc[("spark-gpu", 100), "mean"] == pytest.approx(expected)
    assert agg.normaliser_device(frame) == "cpu"


def test_figure_lines_say_their_device_and_gpu_lines_stand_out(gpu_results):
    frame, _ = agg.load(gpu_results)
    speedups = agg.speedup_stats(frame)
    ax = Figure().add_subplot()
    closed = {h.get_label(): h for h in figures._closed_lines(ax, speedups)}
    opened = {h.get_label().split(" = ")[0]: h for h in figures._open_lines(ax, speedups)}
    gpu_line = closed[f"spark-gpu (closed loop) [{GPU_LABEL}]"]
    cpu_line = closed["spark (closed loop) [cpu]"]
    assert gpu_line.get_linewidth() > cpu_line.get_linewidth()
    assert gpu_line.get_marker() != cpu_line.get_marker()
    cuda = opened[f"brian2-cuda-uninterrupted (open loop) [{GPU_LABEL}]"]
    norm = opened["brian2-cpp-uninterrupted (open loop) [cpu]"]
    assert cuda.get_linestyle() == norm.get_linestyle() and cuda.get_linewidth() > norm.get_linewidth()
    note = figures.speedup_note(speedups, "brian2-cpp-uninterrupted (loop only)", "cpu (Some CPU)")
    assert "on cpu (Some CPU)" in note and GPU_LABEL in note and "across devices" in note
    cpu_only = speedups[~speedups.device.str.startswith("gpu")]
    assert "across devices" not in figures.speedup_note(cpu_only, "x", "cpu")


def test_report_with_gpu_rows(gpu_results, tmp_path):
    written = reports.build_report(gpu_results, tmp_path)
    for name in ("speedup", "rtf", "latency", "compile"):
        assert written[f"{name}_png"].read_bytes().startswith(PNG)
    assert "size_png" not in written and "sizes_csv" not in written  # one network size
    md = written["md"].read_text()
    assert "which ran on cpu (AMD EPYC 7B13 (synthetic))" in md
    assert "a ratio across devices, not a GPU-vs-GPU speedup" in md and GPU_LABEL in md
    assert "Devices: " in md and f"spark-gpu on {GPU_LABEL}" in md
    loop = pd.read_csv(written["loop_times_csv"])
    assert dict(zip(loop.backend, loop.device))["spark-gpu"] == GPU_LABEL
    for key in ("gpu_driver", "cuda_version", "neurons"):
        assert f"| {key} |" in md


def test_cpu_only_report_says_nothing_of_gpus(tmp_path):
    results = write_synthetic_results(tmp_path / "cpu", seed=6)
    text = reports.summary_text(*agg.load(results))
    assert "Devices:" not in text
    md = reports.build_report(results, tmp_path / "report", formats=("md",))["md"].read_text()
    assert "a ratio across devices, not a GPU-vs-GPU speedup" not in md
    assert "which ran on cpu (AMD EPYC 7B13 (synthetic))" in md


def test_results_without_device_columns_still_report(gpu_results, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(gpu_results, old)
    edit_cells(old, lambda frame: frame.drop(
        columns=["device", "gpu_model", "gpu_driver", "cuda_version", "jax_device"]))
    rows = load_rows(old)
    assert set(rows.device) == {""} and set(rows.jax_device) == {""}
    frame, _ = agg.load(old)
    assert set(agg.backend_devices(frame).values()) == {agg.NOT_RECORDED}
    written = reports.build_report(old, tmp_path / "report", formats=("md",))
    assert written["speedup_png"].read_bytes().startswith(PNG)


# --------------------------------------------------------------------------- size study


def test_size_stats_and_lines(sized):
    frame = pd.concat([agg.with_sizes(*agg.load(d)) for d in sized], ignore_index=True)
    stats = agg.size_stats(frame)
    assert set(stats.neurons) == {8192.0, 65536.0}
    rows = agg.loop_rows(frame)
    for (backend, k, network), g in rows[rows.loop == "closed"].groupby(["backend", "k", "network"]):
        got = stats[(stats.backend == backend) & (stats.k == k) & (stats.network == network)]
        assert float(got["mean"].iloc[0]) == pytest.approx(g.per_sim_s.mean())
    lines = agg.size_lines(stats)
    # one line per backend with two sizes; closed loop at the largest k measured at both
    assert set(lines.backend) == {"spark", "spark-gpu", "brian2-cpp", "brian2-runtime",
                                  "brian2-cpp-uninterrupted", "brian2-cuda-uninterrupted"}
    assert set(lines.loc[lines.loop == "closed", "k"]) == {1000}
    assert set(lines.loc[lines.loop == "open", "k"]) == {0}
    spark = lines[lines.backend == "spark"].sort_values("neurons")["mean"].to_numpy()
    assert spark[1] / spark[0] == pytest.approx(8.0, rel=0.15)
    assert dict(zip(lines.backend, lines.device))["spark-gpu"] == GPU_LABEL
    assert agg.size_lines(agg.size_stats(agg.with_sizes(*agg.load(sized[0])))).empty


def test_size_study_page(sized, tmp_path):
    written = reports.size_study(list(sized), tmp_path / "study")
    assert written["size_png"].read_bytes().startswith(PNG)
    assert b"<svg" in written["size_svg"].read_bytes()[:2000]
    md = written["md"].read_text()
    assert "Cost vs network size" in md and "65,536" in md and "paper8x8" in md
    assert f"spark-gpu [{GPU_LABEL}]" in md and "× the neurons" in md
    table = pd.read_csv(written["sizes_csv"])
    assert {"backend", "device", "network", "neurons", "mean"} <= set(table.columns)
    with pytest.raises(reports.ReportError, match="more than one network size"):
        reports.size_study([sized[0]], tmp_path / "one")


def test_cells_of_another_sweep_are_named_not_mixed_in(sized, tmp_path):
    """Cells of the larger network's sweep copied into the smaller one's directory: the
    report counts none of their rows and names each file (a size study takes one directory
    per size: test_cli_size_study)."""
    both = tmp_path / "both"
    shutil.copytree(sized[0], both)
    foreign = sorted((sized[1] / "cells").glob("*.csv"))
    for cell in foreign:
        shutil.copy(cell, both / "cells" / ("x-" + cell.name))
    rows = load_rows(both)
    rejected = rows[rows.status == "rejected"]
    assert len(rejected) == len(foreign)
    assert all("not of this directory's sweep" in r for r in rejected.reason)
    assert set(rows.loc[rows.status != "rejected", "network"]) == {"paper8"}
    md = reports.build_report(both, tmp_path / "report", formats=("md",))["md"].read_text()
    assert f"Warning: {len(foreign)} row(s) or cell(s) of these results were rejected" in md
    assert "x-" + foreign[0].name in md


def test_size_figure_without_lines_draws_an_explanation(tmp_path):
    paths = figures.size_figure(pd.DataFrame(columns=agg.SIZE_COLUMNS), "nothing", tmp_path)
    assert paths["png"].read_bytes().startswith(PNG)


def test_cli_size_study(sized, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "benchmarks.cli", "report", *args], cwd=ROOT,
                              capture_output=True, text=True, check=False, timeout=300)

    done = cli(*map(str, sized), "--size-study", "--out", str(tmp_path / "study"), "--format", "md")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "study" / "size-study.md").exists()
    one = cli(str(sized[0]), "--size-study")
    assert one.returncode == 2 and "two or more" in one.stderr
    three = cli(str(sized[0]), str(sized[1]), str(sized[0]))
    assert three.returncode == 2 and "--size-study" in three.stderr
