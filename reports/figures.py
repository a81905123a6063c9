"""Figures (matplotlib, Agg canvas, no pyplot state): PNG and SVG, written atomically.

Every known backend has a fixed marker, line style and colour (Okabe-Ito palette), so the
figures read in grayscale; any other backend gets one from a fallback palette chosen by a
stable hash of its name, so it looks the same in every figure and every run. Truncated
cells are drawn with hollow markers. Lines of backends that ran on a GPU are drawn thicker
(a GPU backend without a table entry also gets a dash-dot-dot line), and every legend entry
names the device its line ran on: ``[cpu]`` or ``[gpu: <model>]``.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from adapters.files import write_bytes_atomic

from .aggregate import NORMALISER_BACKEND, is_gpu

# Okabe-Ito, colour-blind safe; markers and line styles carry the identity in grayscale.
# Read-only: a style is a pure function of the backend name, never of call order.
_STYLES: Mapping[str, tuple[str, str, object]] = MappingProxyType({
    "spark": ("#0072B2", "o", "-"),
    "spark-native": ("#56B4E9", "D", "-"),
    "spark-native-direct": ("#56B4E9", "p", (0, (1, 1.5))),
    "brian2-cpp": ("#D55E00", "s", "--"),
    "brian2-cpp-relaunch": ("#CC79A7", "v", ":"),
    "brian2-runtime": ("#009E73", "^", "-."),
    "brian2-runtime-run-per-chunk": ("#009E73", "<", ":"),
    "brian2-numpy": ("#E69F00", "P", (0, (5, 2, 1, 2, 1, 2))),
    "brian2-cuda": ("#000000", "X", (0, (1, 1))),
    "nest": ("#999999", "*", (0, (3, 1, 1, 1))),
    # native class: the exact sibling's colour (NEST) or one of its own (BrainPy), a marker
    # of its own and a dotted line
    "nest-native": ("#999999", "d", (0, (1, 2))),
    "brainpy": ("#882255", "h", (0, (1, 2))),
    # GPU backends: their CPU sibling's colour, another marker, a dash-dot-dot line
    "spark-gpu": ("#0072B2", "H", (0, (3, 1, 1, 1, 1, 1))),
    "spark-native-gpu": ("#56B4E9", "8", (0, (3, 1, 1, 1, 1, 1))),
    "brainpy-gpu": ("#882255", ">", (0, (3, 1, 1, 1, 1, 1))),
})
_OPEN_STYLES: Mapping[str, tuple[str, object]] = MappingProxyType({
    # dashed horizontal lines of open-loop best cases
    "brian2-cpp-uninterrupted": ("#333333", (0, (6, 3))),
    "nest-uninterrupted": ("#999999", (0, (2, 2))),
    # brian2cuda's open loop: dashed like the normaliser's line, black and thick (a GPU)
    "brian2-cuda-uninterrupted": ("#000000", (0, (6, 3))),
})
_GPU_FALLBACK_LINE = (0, (3, 1, 1, 1, 1, 1))
LINE_WIDTH, GPU_LINE_WIDTH = 1.6, 2.8
OPEN_LINE_WIDTH, GPU_OPEN_LINE_WIDTH = 1.4, 2.6
_FALLBACK_COLOURS = ("#882255", "#44AA99", "#117733", "#AA4499")
_FALLBACK_MARKERS = ("<", ">", "h", "p", "d")
_FALLBACK_OPEN_LINE = (0, (4, 2, 1, 2))

DPI = 150


def _name_hash(backend: str) -> int:
    """A hash of the name that is the same in every process (``hash()`` is salted)."""
    return zlib.crc32(backend.encode("utf-8"))


def style(backend: str) -> tuple[str, str, object]:
    """(colour, marker, line style) of a closed-loop backend: the fixed table's entry, else
    one picked from the fallback palette by a stable hash of the name."""
    known = _STYLES.get(backend)
    if known is not None:
        return known
    h = _name_hash(backend)
    colour = _FALLBACK_COLOURS[h % len(_FALLBACK_COLOURS)]
    marker = _FALLBACK_MARKERS[(h // len(_FALLBACK_COLOURS)) % len(_FALLBACK_MARKERS)]
    return colour, marker, "-"


def device_style(backend: str, device: str = "") -> tuple[str, str, object, float]:
    """(colour, marker, line style, line width) of a closed-loop line that ran on
    ``device`` (a ``backend_devices`` label): GPU lines are thicker, and an unknown GPU
    backend gets a dash-dot-dot line instead of the fallback's solid one."""
    colour, marker, ls = style(backend)
    if not is_gpu(device):
        return colour, marker, ls, LINE_WIDTH
    if backend not in _STYLES:
        ls = _GPU_FALLBACK_LINE
    return colour, marker, ls, GPU_LINE_WIDTH


def device_tag(device: str | None) -> str:
    """`` [cpu]`` / `` [gpu: NVIDIA H200]``: what a legend entry says of its line's device
    ('' when the statistics carry no device)."""
    return f" [{device}]" if device else ""


def _devices(stats: pd.DataFrame) -> dict[str, str]:
    if "device" not in stats:
        return {}
    return {b: str(d) for b, d in zip(stats["backend"], stats["device"])}


def open_style(backend: str) -> tuple[str, object]:
    """(colour, line style) of an open-loop best case's horizontal line."""
    known = _OPEN_STYLES.get(backend)
    if known is not None:
        return known
    return style(backend)[0], _FALLBACK_OPEN_LINE


# --------------------------------------------------------------------------- writing


def save(fig: Figure, out_dir: Path, name: str) -> dict[str, Path]:
    """Write ``name``.png and ``name``.svg into ``out_dir`` atomically; return both paths."""
    FigureCanvasAgg(fig)
    for ax in fig.axes:
        _tidy_log_y(ax)
    paths = {}
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=DPI, bbox_inches="tight",
                    metadata={"Date": None} if ext == "svg" else None)
        path = Path(out_dir) / f"{name}.{ext}"
        write_bytes_atomic(path, buf.getvalue())
        paths[ext] = path
    return paths


# --------------------------------------------------------------------------- helpers


def _k_axis(ax, ks: list[int]) -> None:
    ax.set_xscale("log")
    ax.set_xticks(ks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if ks:
        ax.set_xlim(min(ks) / 1.6, max(ks) * 1.6)
    ax.set_xlabel("execution timesteps k (steps per closed-loop chunk, log scale)")


def _log_formatter(v: float, _pos) -> str:
    if v <= 0:
        return ""
    if 1e-3 <= v < 1e4:
        return f"{v:g}"
    exp = int(round(math.log10(v)))
    return f"$10^{{{exp}}}$"


def _log_y(ax) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.yaxis.set_major_formatter(FuncFormatter(_log_formatter))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="major", axis="both", color="#cccccc", linewidth=0.6)
    ax.grid(True, which="minor", axis="y", color="#eeeeee", linewidth=0.4)


def _tidy_log_y(ax) -> None:
    """More labelled ticks when a log axis spans little: call after plotting."""
    if ax.get_yscale() != "log":
        return
    lo, hi = ax.get_ylim()
    if lo <= 0 or hi <= 0:
        return
    span = hi / lo
    if span < 4:
        subs = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
    elif span < 40:
        subs = (1.0, 2.0, 5.0)
    else:
        return
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))


def _yerr(mean: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Asymmetric error bars, none where the interval is missing; never below zero."""
    low = np.where(np.isfinite(lo), mean - np.maximum(lo, mean * 1e-3), 0.0)
    high = np.where(np.isfinite(hi), hi - mean, 0.0)
    return np.vstack([np.maximum(low, 0.0), np.maximum(high, 0.0)])


def _closed_lines(ax, stats: pd.DataFrame, exclude: tuple[str, ...] = ()) -> list:
    """One errorbar line per closed-loop backend; hollow markers for truncated cells."""
    handles = []
    devices = _devices(stats)
    closed = stats[(stats["loop"] == "closed") & ~stats["backend"].isin(exclude)]
    for backend, g in closed.groupby("backend", sort=True):
        g = g.sort_values("k")
        device = devices.get(backend, "")
        colour, marker, ls, width = device_style(backend, device)
        k = g["k"].to_numpy(float)
        mean = g["mean"].to_numpy(float)
        err = _yerr(mean, g["ci_low"].to_numpy(float), g["ci_high"].to_numpy(float))
        ax.errorbar(k, mean, yerr=err, color=colour, linestyle=ls, marker=marker,
                    markersize=7, capsize=4, linewidth=width, markerfacecolor=colour,
                    markeredgecolor=colour, zorder=3)
        trunc = g["n_truncated"].to_numpy() > 0
        if trunc.any():
            ax.plot(k[trunc], mean[trunc], linestyle="none", marker=marker, markersize=7,
                    markerfacecolor="white", markeredgecolor=colour, markeredgewidth=1.6,
                    zorder=4)
        handles.append(Line2D([], [], color=colour, linestyle=ls, marker=marker, markersize=7,
                              linewidth=width,
                              label=f"{backend} (closed loop){device_tag(device)}"))
    return handles


def _open_lines(ax, stats: pd.DataFrame, label_suffix: str = "") -> list:
    handles = []
    devices = _devices(stats)
    for backend, g in stats[stats["loop"] == "open"].groupby("backend", sort=True):
        colour, ls = open_style(backend)
        device = devices.get(backend, "")
        width = GPU_OPEN_LINE_WIDTH if is_gpu(device) else OPEN_LINE_WIDTH
        value = float(g["mean"].mean())
        if not np.isfinite(value):
            continue
        ax.axhline(value, color=colour, linestyle=ls, linewidth=width, zorder=2)
        handles.append(Line2D([], [], color=colour, linestyle=ls, linewidth=width,
                              label=f"{backend} (open loop{label_suffix}){device_tag(device)} "
                                    f"= {value:.3g}"))
    return handles


def _truncation_handle(stats: pd.DataFrame) -> list:
    if (stats.get("n_truncated", pd.Series(dtype=int)) > 0).any():
        return [Line2D([], [], linestyle="none", marker="o", markersize=7, markerfacecolor="white",
                       markeredgecolor="black", label="hollow marker: truncated cell\n"
                                                      "(shorter simulated time, per simulated s)")]
    return []


def _legend(ax, handles: list, title: str | None = None) -> None:
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
                  fontsize=9, title=title, title_fontsize=9, alignment="left")


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11,
            color="#555555", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------- figure 1


def speedup_figure(speedups: pd.DataFrame, normaliser_text: str, subtitle: str,
                   out_dir: Path, name: str = "speedup",
                   normaliser_short: str = NORMALISER_BACKEND,
                   normaliser_device: str = "") -> dict[str, Path]:
    """Relative speedup vs k (log-log): closed-loop lines with 95 % intervals (geometric
    mean over instances x runs), open-loop best cases as dashed horizontal lines. Every line
    is divided by the one normaliser, on its device (``normaliser_device``): the legend
    names each line's device, and the note under the figure says when GPU lines are
    divided by a CPU normaliser."""
    fig = Figure(figsize=(9.5, 5.2))
    ax = fig.add_subplot()
    if speedups.empty:
        _empty(ax, f"no speedups: {NORMALISER_BACKEND} has no loop results")
    else:
        ks = sorted(int(k) for k in speedups.loc[speedups["loop"] == "closed", "k"].unique())
        handles = _closed_lines(ax, speedups)
        handles += _open_lines(ax, speedups)
        own = speedups[(speedups["backend"] == NORMALISER_BACKEND) & (speedups["loop"] == "open")]
        if own.empty or abs(math.log(float(own["mean"].mean()))) > 0.02:
            ax.axhline(1.0, color="black", linewidth=0.8, zorder=1)
            handles.append(Line2D([], [], color="black", linewidth=0.8, label="1 = normaliser"))
        handles += _truncation_handle(speedups)
        _k_axis(ax, ks)
        _log_y(ax)
        kind = "gpu" if is_gpu(normaliser_device) else normaliser_device.split(" (")[0]
        ax.set_ylabel(f"speedup over {normaliser_short}{device_tag(kind)}\n"
                      "(> 1: faster; log scale)")
        _legend(ax, handles, title="geometric mean, bars: 95 % CI;\n[device each line ran on]")
    ax.set_title(f"Relative speedup vs execution timesteps\n{subtitle}", fontsize=11)
    fig.text(0.01, -0.02, speedup_note(speedups, normaliser_text, normaliser_device),
             fontsize=8, color="#444444", ha="left", va="top", wrap=True)
    return save(fig, out_dir, name)


def speedup_note(speedups: pd.DataFrame, normaliser_text: str, normaliser_device: str = "") -> str:
    """The note under the speedup figure: the normaliser and its device, and, when lines of
    another device are drawn, that their speedups divide across devices."""
    where = f" on {normaliser_device}" if normaliser_device else ""
    note = (f"normaliser: {normaliser_text}{where}; speedup = normaliser time per simulated "
            "second / backend time per simulated second (loop phase), paired by network "
            "instance")
    others = sorted({str(d) for d in _devices(speedups).values()
                     if is_gpu(d) != is_gpu(normaliser_device)})
    if normaliser_device and others:
        note += (f". Lines on {', '.join(others)} (thick) are divided by this same "
                 f"{'GPU' if is_gpu(normaliser_device) else 'CPU'} normaliser: a ratio across "
                 "devices")
    return note


# --------------------------------------------------------------------------- figure 2


def compile_figure(compile_stats: pd.DataFrame, samples: pd.DataFrame, subtitle: str,
                   out_dir: Path, name: str = "compile",
                   unavailable: dict[str, str] | None = None) -> dict[str, Path]:
    """Cold and warm compile time per backend, side by side: bar = mean, error bar = 95 %
    CI, dots = individual measurements (one per instance)."""
    fig = Figure(figsize=(9.5, 5.0))
    ax = fig.add_subplot()
    phases = (("compile_cold", "cold (empty caches)", "white", "//"),
              ("compile_warm", "warm (caches reused)", "#888888", ""))
    stats = compile_stats[compile_stats["phase"].isin([p[0] for p in phases])]
    unavailable = {b: why for b, why in (unavailable or {}).items()
                   if b not in set(stats["backend"])}
    backends = sorted(set(stats["backend"]) | set(unavailable),
                      key=lambda b: (b != NORMALISER_BACKEND, b))
    if not backends:
        _empty(ax, "no compile times recorded")
    else:
        width = 0.38
        x = np.arange(len(backends))
        values = stats["mean"].to_numpy(float)
        positive = values[np.isfinite(values) & (values > 0)]
        use_log = positive.size and positive.max() / positive.min() > 30
        for j, (phase, label, face, hatch) in enumerate(phases):
            offset = (j - 0.5) * width
            for i, backend in enumerate(backends):
                s = stats[(stats["backend"] == backend) & (stats["phase"] == phase)]
                xi = x[i] + offset
                if backend in unavailable:
                    if j == 0:
                        ax.text(x[i], 0.03, unavailable[backend], rotation=90,
                                transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                                fontsize=9, color="#555555")
                    continue
                if s.empty or not np.isfinite(float(s["mean"].iloc[0])):
                    ax.text(xi, 0.02, "n/a", transform=ax.get_xaxis_transform(), ha="center",
                            va="bottom", fontsize=8, color="#555555")
                    continue
                m = float(s["mean"].iloc[0])
                err = _yerr(np.array([m]), s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float))
                ax.bar(xi, m, width=width, color=face, edgecolor="black", hatch=hatch,
                       linewidth=0.8, zorder=2)
                ax.errorbar(xi, m, yerr=err, color="black", capsize=3, linewidth=1, zorder=3)
                pts = samples[(samples["backend"] == backend) & (samples["phase"] == phase)]
                if len(pts):
                    jitter = np.linspace(-width * 0.22, width * 0.22, len(pts)) if len(pts) > 1 else [0.0]
                    ax.plot(xi + np.asarray(jitter), pts["seconds"], linestyle="none", marker="o",
                            markersize=3, markerfacecolor="black", markeredgecolor="white",
                            markeredgewidth=0.4, zorder=4)
                top = m + err[1, 0]
                ax.annotate(f"{m:.3g} s", (xi, top), xytext=(0, 3), textcoords="offset points",
                            ha="center", va="bottom", fontsize=8, zorder=5)
        if use_log:
            _log_y(ax)
            ax.set_ylim(positive.min() / 3, positive.max() * 4)
            ax.grid(False, which="both", axis="x")
        else:
            ax.set_ylim(0, (positive.max() if positive.size else 1) * 1.3)
            ax.grid(True, axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_xticks(x)
        tilt = len(backends) > 4
        ax.set_xticklabels(backends, rotation=20 if tilt else 0, ha="right" if tilt else "center",
                           rotation_mode="anchor" if tilt else "default")
        ax.set_ylabel("compile time (s)" + (", log scale" if use_log else ""))
        handles = [
            Patch(facecolor=face, edgecolor="black", hatch=hatch, label=label)
            for _, label, face, hatch in phases]
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=4,
                              markerfacecolor="black", markeredgecolor="white",
                              label="one build (instance)"))
        handles.append(Line2D([], [], color="black", linewidth=1, label="95 % CI of the mean"))
        _legend(ax, handles)
    ax.set_title(f"Code generation + compile time per backend\n{subtitle}", fontsize=11)
    return save(fig, out_dir, name)


# --------------------------------------------------------------------------- figure 3


def rtf_figure(loop_stats: pd.DataFrame, break_even: pd.DataFrame, subtitle: str,
               out_dir: Path, name: str = "rtf") -> dict[str, Path]:
    """(a) real-time factor vs k; (b) break-even biological time vs k."""
    fig = Figure(figsize=(13, 5.2))
    ax, bx = fig.subplots(1, 2, gridspec_kw=dict(wspace=0.28))
    ks = sorted(int(k) for k in loop_stats.loc[loop_stats["loop"] == "closed", "k"].unique())
    if loop_stats.empty:
        _empty(ax, "no loop timings\n(every cell skipped or failed: see the problem table)")
    else:
        handles = _closed_lines(ax, loop_stats)
        handles += _open_lines(ax, loop_stats)
        ax.axhline(1.0, color="black", linewidth=1.0, zorder=1)
        ax.annotate("real time (RTF = 1)", (1.0, 1.0), xycoords=("axes fraction", "data"),
                    xytext=(-4, 3), textcoords="offset points", ha="right", va="bottom",
                    fontsize=8)
        handles += _truncation_handle(loop_stats)
        _k_axis(ax, ks)
        _log_y(ax)
        ax.set_ylabel("real-time factor = wall s / simulated s\n(< 1: faster than real time; log)")
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=2,
                  frameon=False, fontsize=9, title="mean, bars: 95 % CI", title_fontsize=9,
                  alignment="left")
    ax.set_title("(a) real-time factor vs execution timesteps", fontsize=11)

    be = break_even[break_even["loop"] == "closed"] if not break_even.empty else break_even
    if be.empty:
        _empty(bx, f"no break-even: needs {NORMALISER_BACKEND}\nloop and compile times")
    else:
        finite = be["break_even_s"].to_numpy(float)
        finite = finite[np.isfinite(finite) & (finite > 0)]
        lo = finite.min() / 4 if finite.size else 0.1
        hi = finite.max() * 4 if finite.size else 100.0
        never_any = (be["verdict"] == "never pays back").any()
        start_any = be["verdict"].isin(["ahead from the start", "always ahead"]).any()
        # Out-of-range verdicts live in shaded bands above / below the finite range.
        y_never, y_start = hi * 6, lo / 6
        top, bottom = (hi * 20 if never_any else hi), (lo / 20 if start_any else lo)
        backends = sorted(be["backend"].unique())
        for j, backend in enumerate(backends):
            colour, marker, ls = style(backend)
            g = be[be["backend"] == backend].sort_values("k")
            dodge = 1.13 ** (j - (len(backends) - 1) / 2)  # side by side in the bands
            k = g["k"].to_numpy(float)
            t = g["break_even_s"].to_numpy(float)
            payback = (g["verdict"] == "pays back after").to_numpy()
            until = (g["verdict"] == "ahead until").to_numpy()
            never = (g["verdict"] == "never pays back").to_numpy()
            start = g["verdict"].isin(["ahead from the start", "always ahead"]).to_numpy()
            if payback.any():
                bx.plot(k[payback], t[payback], color=colour, linestyle=ls, marker=marker,
                        markersize=7, linewidth=1.4, zorder=3)
            if until.any():
                bx.plot(k[until], t[until], color=colour, linestyle=ls, marker=marker,
                        markersize=7, linewidth=1.0, markerfacecolor="white",
                        markeredgewidth=1.5, zorder=3)
            if never.any():
                bx.plot(k[never] * dodge, np.full(never.sum(), y_never), linestyle="none",
                        marker=marker, color=colour, markersize=6, zorder=3)
            if start.any():
                bx.plot(k[start] * dodge, np.full(start.sum(), y_start), linestyle="none",
                        marker=marker, color=colour, markersize=6, zorder=3)
        _k_axis(bx, ks)
        _log_y(bx)
        if never_any:
            bx.axhspan(hi * 1.6, top, color="#eeeeee", zorder=0)
            bx.text(0.01, y_never * 1.9, "never pays back", transform=bx.get_yaxis_transform(),
                    ha="left", va="bottom", fontsize=8, color="#333333")
        if start_any:
            bx.axhspan(bottom, lo / 1.6, color="#eeeeee", zorder=0)
            bx.text(0.01, y_start / 1.9, "ahead from the start", ha="left", va="top",
                    transform=bx.get_yaxis_transform(), fontsize=8, color="#333333")
        bx.set_ylim(bottom, top)
        # no y values inside the bands: their markers say "no finite T*", not a time
        bx.yaxis.set_major_formatter(FuncFormatter(
            lambda v, pos: "" if (v > hi * 1.01 or v < lo / 1.01) else _log_formatter(v, pos)))
        bx.set_ylabel("break-even biological time T* (simulated s, log)")
        legend = [Line2D([], [], color="black", marker="o", linestyle="-", markersize=6,
                         label="filled: extra one-off cost paid back after T*"),
                  Line2D([], [], color="black", marker="o", linestyle="-", markersize=6,
                         markerfacecolor="white",
                         label=f"hollow: ahead until T*, then {NORMALISER_BACKEND} catches up"),
                  Patch(facecolor="#eeeeee", edgecolor="none",
                        label="bands: no finite T* (markers side by side per backend)")]
        bx.legend(handles=legend, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=1,
                  frameon=False, fontsize=9, title="backends: markers and lines as in (a)",
                  title_fontsize=9, alignment="left")
    bx.set_title(f"(b) break-even vs {NORMALISER_BACKEND} (compile + construct + loop)",
                 fontsize=11)
    fig.suptitle(f"Real-time factor and break-even time\n{subtitle}", fontsize=11, y=1.04)
    return save(fig, out_dir, name)


# --------------------------------------------------------------------------- size study


def size_figure(lines: pd.DataFrame, subtitle: str, out_dir: Path,
                name: str = "size") -> dict[str, Path]:
    """Seconds per simulated second vs neurons (log-log), one line per backend measured on
    networks of more than one size (``aggregate.size_lines``): bars the 95 % interval,
    hollow markers truncated cells; x ticks name the networks."""
    fig = Figure(figsize=(10, 5.2))
    ax = fig.add_subplot()
    if lines.empty:
        _empty(ax, "no backend was measured on networks of more than one size")
    else:
        handles = []
        for backend, g in lines.groupby("backend", sort=True):
            g = g.sort_values("neurons")
            device = str(g["device"].iloc[0]) if "device" in g else ""
            loop, k = str(g["loop"].iloc[0]), int(g["k"].iloc[0])
            colour, marker, ls, width = device_style(backend, device)
            if loop == "open":  # the colour and dashes of its horizontal line elsewhere
                colour, ls = open_style(backend)
                width = GPU_OPEN_LINE_WIDTH if is_gpu(device) else OPEN_LINE_WIDTH
            x = g["neurons"].to_numpy(float)
            mean = g["mean"].to_numpy(float)
            err = _yerr(mean, g["ci_low"].to_numpy(float), g["ci_high"].to_numpy(float))
            ax.errorbar(x, mean, yerr=err, color=colour, linestyle=ls, marker=marker,
                        markersize=7, capsize=4, linewidth=width, zorder=3)
            trunc = g["n_truncated"].to_numpy() > 0
            if trunc.any():
                ax.plot(x[trunc], mean[trunc], linestyle="none", marker=marker, markersize=7,
                        markerfacecolor="white", markeredgecolor=colour, markeredgewidth=1.6,
                        zorder=4)
            what = "open loop, whole run" if loop == "open" else f"closed loop, k = {k:,d}"
            handles.append(Line2D([], [], color=colour, linestyle=ls, marker=marker,
                                  markersize=7, linewidth=width,
                                  label=f"{backend} ({what}){device_tag(device)}"))
        handles += _truncation_handle(lines)
        ticks = lines.drop_duplicates("neurons").sort_values("neurons")
        ax.set_xscale("log")
        ax.set_xticks(ticks["neurons"].to_numpy(float))
        names = lines.groupby("neurons")["network"].agg(lambda s: "/".join(sorted(set(s))))
        ax.set_xticklabels([f"{int(n):,d}\n{names[n]}" for n in ticks["neurons"]], fontsize=8)
        ax.xaxis.set_minor_formatter(NullFormatter())
        lo, hi = float(ticks["neurons"].min()), float(ticks["neurons"].max())
        ax.set_xlim(lo / 1.6, hi * 1.6)
        ax.set_xlabel("network size (neurons, log scale)")
        _log_y(ax)
        ax.set_ylabel("wall s per simulated s (log)")
        _legend(ax, handles, title="mean, bars: 95 % CI;\n[device each line ran on]")
    ax.set_title(f"Cost vs network size per backend\n{subtitle}", fontsize=11)
    return save(fig, out_dir, name)


# --------------------------------------------------------------------------- comparison


def latency_figure(latency: pd.DataFrame, subtitle: str, out_dir: Path,
                   name: str = "latency") -> dict[str, Path]:
    """Per-chunk latency p50 (solid) and p99 (dashed) vs k, one colour per backend."""
    fig = Figure(figsize=(10, 5.2))
    ax = fig.subplots()
    if latency.empty:
        _empty(ax, "no closed-loop latencies\n(open-loop backends only, or results written "
                   "before latencies were recorded)")
    else:
        handles = []
        devices = _devices(latency)
        for backend, g in latency.groupby("backend", sort=True):
            g = g.sort_values("k")
            device = devices.get(backend, "")
            colour, marker, _, width = device_style(backend, device)
            k = g["k"].to_numpy(float)
            ax.plot(k, 1e6 * g["p50_s"].to_numpy(float), color=colour, marker=marker,
                    linestyle="-", linewidth=width, markersize=7, zorder=3)
            ax.plot(k, 1e6 * g["p99_s"].to_numpy(float), color=colour, marker=marker,
                    linestyle="--", linewidth=width * 0.75, markersize=5,
                    markerfacecolor="white", zorder=3)
            handles.append(Line2D([], [], color=colour, marker=marker, linewidth=width,
                                  markersize=7, label=backend + device_tag(device)))
        handles += [Line2D([], [], color="black", linestyle="-", label="p50"),
                    Line2D([], [], color="black", linestyle="--", label="p99")]
        _k_axis(ax, sorted(int(k) for k in latency["k"].unique()))
        _log_y(ax)
        ax.set_ylabel("latency per chunk (µs, log)")
        _tidy_log_y(ax)
        _legend(ax, handles)
    ax.set_title(f"Closed-loop latency per chunk\n{subtitle}", fontsize=10)
    return save(fig, out_dir, name)


def ratio_figure(ratios: pd.DataFrame, label_a: str, label_b: str, out_dir: Path,
                 name: str = "compare") -> dict[str, Path]:
    """B / A time per simulated second vs k, per backend (> 1: B slower)."""
    fig = Figure(figsize=(9.5, 5.0))
    ax = fig.add_subplot()
    closed = ratios[ratios["loop"] == "closed"]
    if ratios.empty:
        _empty(ax, "no backend x k measured in both result sets")
    else:
        ks = sorted(int(k) for k in closed["k"].unique())
        handles = []
        for backend, g in closed.groupby("backend", sort=True):
            colour, marker, ls = style(backend)
            g = g.sort_values("k")
            ax.plot(g["k"], g["ratio"], color=colour, linestyle=ls, marker=marker, markersize=7,
                    linewidth=1.6)
            handles.append(Line2D([], [], color=colour, linestyle=ls, marker=marker,
                                  label=f"{backend} (closed loop)"))
        for backend, g in ratios[ratios["loop"] == "open"].groupby("backend", sort=True):
            colour, ls = open_style(backend)
            value = float(g["ratio"].mean())
            ax.axhline(value, color=colour, linestyle=ls, linewidth=1.4)
            handles.append(Line2D([], [], color=colour, linestyle=ls,
                                  label=f"{backend} (open loop) = {value:.3g}"))
        ax.axhline(1.0, color="black", linewidth=0.8)
        _k_axis(ax, ks or sorted(int(k) for k in ratios["k"].unique()))
        _log_y(ax)
        ax.set_ylabel("time per simulated s, B / A\n(> 1: B slower; log scale)")
        _legend(ax, handles)
    ax.set_title(f"Result set B vs A\nA: {label_a}\nB: {label_b}", fontsize=10)
    return save(fig, out_dir, name)
