"""The automatically written summary: every number comes from the rows, none is typed in."""

from __future__ import annotations

import math

import pandas as pd

from . import aggregate as agg
from .aggregate import NORMALISER_BACKEND, fmt

FOCUS_BACKENDS = ("spark-native", "spark")
"""The backends the summary compares with every other one (each that was measured)."""


def pick_k(closed_ks: list[int]) -> int | None:
    """The k the summary talks about: 10 when measured, else the measured k closest to it
    (on a log scale)."""
    if not closed_ks:
        return None
    if agg.PREFERRED_K in closed_ks:
        return agg.PREFERRED_K
    return min(closed_ks, key=lambda k: (abs(math.log10(k) - 1.0), k))


def times_faster(slow: float, fast: float) -> str:
    """'2.5× faster than' / '2.5× slower than' from two times per simulated second."""
    if not (slow > 0 and fast > 0):
        return "not comparable with"
    ratio = slow / fast
    return f"{fmt(ratio)}× faster than" if ratio >= 1 else f"{fmt(1 / ratio)}× slower than"


def _machine(provenance: dict, shape: dict) -> str:
    cpu = provenance.get("cpu_model") or "unknown CPU"
    cores = provenance.get("cores")
    gpu = provenance.get("gpu") or "no GPU"
    where = f"CPU {cpu}" + (f", {cores} cores" if cores else "") + f", {gpu}"
    sim_ms = shape["full_sim_seconds"] * 1e3
    runs = shape["runs"]
    n_inst = len(shape["instances"])
    profile = provenance.get("profile")
    network = provenance.get("network") or ", ".join(sorted(set(shape.get("networks", [])))) or "?"
    what = (f"network {network}, {'/'.join(shape['dtypes'])}, "
            f"{'/'.join(str(t) for t in shape['threads'])} thread(s), {n_inst} instance(s) × "
            f"{runs} run(s), {fmt(sim_ms)} ms simulated per run"
            + (f", {profile} profile" if profile else ""))
    return f"On this machine ({where}; {what}):"


def _mixed_warning(shape: dict) -> list[str]:
    """Rows of several sweeps, or pooled dtypes or thread counts, make every mean a
    mixture: say so first."""
    said = []
    ids, recorded = shape.get("sweep_ids", []), shape.get("provenance_sweep_id", "")
    if len(ids) > 1 or (recorded and ids and ids != [recorded]):
        said.append(f"Warning: these rows come from {len(ids)} sweep(s) ({', '.join(ids)}) but "
                    f"provenance.json describes sweep {recorded or '(none)'}: other networks, "
                    "settings, versions or commits may be pooled in the tables below.")
    if len(shape["dtypes"]) > 1 or len(shape["threads"]) > 1:
        said.append("Warning: these results mix dtypes or thread counts "
                    f"({', '.join(shape['dtypes'])}; threads {shape['threads']}); the tables "
                    "pool them.")
    return said


def _device_sentence(frame: pd.DataFrame) -> list[str]:
    """Where each backend ran, when any ran on a GPU (CPU-only results say nothing more)."""
    devices = agg.measured_devices(frame)
    if not any(agg.is_gpu(d) for d in devices.values()):
        return []
    return ["Devices: " + "; ".join(f"{b} on {d}" for b, d in devices.items())
            + f". Speedups of every backend, GPU ones included, are against {NORMALISER_BACKEND} "
              f"on {agg.normaliser_device(frame)}."]


def _normaliser_sentence(norm: pd.Series, normaliser: str) -> list[str]:
    if norm.empty:
        needs = "loop" + (" and compile" if normaliser == "end-to-end" else "")
        return [(f"{NORMALISER_BACKEND} has no {needs} results, so no speedups are "
                 "reported (figure 1 is empty).")]
    return [(f"The normaliser, {agg.normaliser_label(normaliser)}, takes "
             f"{fmt(float(norm.mean()))} s per simulated second "
             f"(mean over {len(norm)} instance(s)).")]


def _focus_sentences(at_k: pd.DataFrame, k: int) -> list[str]:
    """Each focus backend (or else the fastest) against every other one at the reference k."""
    trunc = set(at_k.loc[at_k["n_truncated"] > 0, "backend"])

    def mark(backend: str) -> str:
        return " (truncated)" if backend in trunc else ""

    means = dict(zip(at_k["backend"], at_k["mean"]))
    focuses = [b for b in FOCUS_BACKENDS if b in means] or [at_k["backend"].iloc[0]]
    lines = []
    for focus in focuses:
        head = (f"At k = {k}, {focus} takes {fmt(means[focus])} s per simulated "
                f"second{mark(focus)}")
        others = [b for b in at_k["backend"] if b != focus]
        if not others:
            lines.append(head + " (the only closed-loop backend measured).")
            continue
        parts = [f"{times_faster(means[b], means[focus])} {b} closed loop "
                 f"({fmt(means[b])} s{mark(b)})" for b in others]
        lines.append(head + ": it is " + "; ".join(parts) + ".")
    return lines


def _focus_missing(closed: pd.DataFrame) -> list[str]:
    if set(FOCUS_BACKENDS) & set(closed["backend"]):
        return []
    return [f"{' and '.join(FOCUS_BACKENDS)} have no closed-loop results in this set."]


def _speedup_sentence(frame: pd.DataFrame, normaliser: str) -> list[str]:
    """First-to-last-k geometric-mean speedup per closed-loop backend, focus backends first."""
    sp = agg.speedup_stats(frame, normaliser)
    sp = sp[sp["loop"] == "closed"]
    parts = []
    for backend, g in sp.groupby("backend", sort=False):
        g = g.sort_values("k")
        first, last = g.iloc[0], g.iloc[-1]
        parts.append(f"{backend} {fmt(first['mean'])}× at k = {int(first['k'])}"
                     + (f" to {fmt(last['mean'])}× at k = {int(last['k'])}" if len(g) > 1 else ""))
    order = sorted(parts, key=lambda p: (p.split(" ")[0] not in FOCUS_BACKENDS, p))
    if not order:
        return []
    return ["Speedup over the normaliser (geometric mean; > 1 is faster): "
            + "; ".join(order) + "."]


def _closed_loop_sentences(frame: pd.DataFrame, stats: pd.DataFrame, k: int | None,
                           norm: pd.Series, normaliser: str) -> list[str]:
    """The closed-loop comparison at the reference k, then the speedups over all k."""
    closed = stats[stats["loop"] == "closed"]
    if k is None or closed.empty:
        return ["No closed-loop backend has loop results."]
    at_k = closed[closed["k"] == k].sort_values("mean")
    lines = _focus_sentences(at_k, k) + _focus_missing(closed)
    if not norm.empty:
        lines += _speedup_sentence(frame, normaliser)
    return lines


def _compile_sentence(frame: pd.DataFrame) -> list[str]:
    parts = []
    for backend, g in agg.compile_stats(frame).groupby("backend", sort=True):
        vals = dict(zip(g["phase"], g["mean"]))
        bits = [f"{fmt(vals[p])} s {p.split('_')[1]}" for p in ("compile_cold", "compile_warm")
                if p in vals]
        if bits:
            parts.append(f"{backend} {' / '.join(bits)}")
    return ["Compile times (mean): " + "; ".join(parts) + "."] if parts else []


def _verdict_phrase(r: pd.Series, k: int) -> str | None:
    """One backend's break-even verdict in words; None for a verdict without one."""
    where = f"at k = {k}" if r["loop"] == "closed" else "open loop"
    who, t = f"{r['backend']} ({where})", r["break_even_s"]
    if r["verdict"] == "pays back after":
        return f"{who} pays back its extra build cost after {fmt(t)} s of biological time"
    if r["verdict"] == "ahead until":
        return (f"{who} is ahead until {fmt(t)} s of biological time, then "
                f"{NORMALISER_BACKEND} catches up")
    if r["verdict"] in ("ahead from the start", "always ahead"):
        return f"{who} is ahead from the start"
    if r["verdict"] == "never pays back":
        return f"{who} never pays back"
    return None


def _break_even_sentence(frame: pd.DataFrame, k: int | None) -> list[str]:
    """Break-even at the reference k (and for open-loop backends)."""
    be = agg.break_even(frame)
    if k is None or be.empty:
        return []
    be_k = be[(be["k"] == k) | (be["loop"] == "open")]
    parts = [p for _, r in be_k.iterrows() if (p := _verdict_phrase(r, k)) is not None]
    if not parts:
        return []
    return [f"Break-even against {NORMALISER_BACKEND}: " + "; ".join(parts) + "."]


PROBLEM_VERBS = (("truncated", ("truncated (compared per simulated second over the shorter "
                                "time they ran, never extrapolated)")),
                 ("skipped", "skipped"), ("failed", "failed"), ("missing", "missing (no rows)"),
                 ("rejected", "rejected (corrupt, foreign or invalid rows: counted nowhere)"))
"""Problem statuses in the order the summary lists them, with the words it uses."""


def _problem_sentence(problems: pd.DataFrame, status: str, verb: str) -> list[str]:
    """The cells of one status, per backend with their k (and the reason when it is one)."""
    p = problems[problems["status"] == status]
    if status in ("truncated", "missing"):  # loop cells only; skips/failures anywhere
        p = p[p["phase"] == "loop"]
    if p.empty:
        return []
    by_backend = []
    for backend, g in p.groupby("backend", sort=True):
        ks = sorted(set(g["k"]), key=lambda s: (s == "build", int(s) if s.isdigit() else 0))
        reasons = sorted({r for r in g["reason"] if r})
        reason = f": {reasons[0]}" if len(reasons) == 1 and status != "truncated" else ""
        by_backend.append(f"{backend} (k = {', '.join(ks)}){reason}")
    return [f"Cells {verb}: " + "; ".join(by_backend) + "."]


def _rejected_warning(frame: pd.DataFrame) -> list[str]:
    """First-screen warning when the reader rejected rows (benchmarks.results.load_rows)."""
    n = int((frame["status"] == "rejected").sum())
    if not n:
        return []
    return [f"Warning: {n} row(s) or cell(s) of these results were rejected (corrupt, from "
            "another sweep, or invalid) and are counted nowhere; the problems table names each "
            "file and reason."]


def _problem_sentences(frame: pd.DataFrame) -> list[str]:
    problems = agg.problem_cells(frame)
    return [line for status, verb in PROBLEM_VERBS
            for line in _problem_sentence(problems, status, verb)]


def _fidelity_sentence(frame: pd.DataFrame) -> list[str]:
    fid = agg.fidelity_table(frame)
    if fid.empty:
        return ["No fidelity measurements in these results."]
    worst = fid.sort_values("rate_rel_error_max", ascending=False).iloc[0]
    shortest = fid.sort_values("exact_window_ms_min").iloc[0]
    return [(f"Fidelity against {', '.join(sorted(fid['reference'].unique()))}: the largest "
             f"per-pool rate error is {fmt(100 * worst['rate_rel_error_max'])} % "
             f"({worst['backend']}); shortest exact-match window "
             f"{fmt(float(fid['exact_window_ms_min'].min()))} ms ({shortest['backend']}).")]


def summary_lines(frame: pd.DataFrame, provenance: dict,
                  normaliser: str = "uninterrupted") -> list[str]:
    """The summary as a list of sentences (plain text, Markdown-safe)."""
    frame = agg.prepare(frame)
    provenance = provenance or {}
    shape = agg.sweep_shape(frame, provenance)
    shape["networks"] = list(frame["network"].unique())
    norm = agg.normaliser_per_instance(frame, normaliser)
    k = pick_k(shape["closed_ks"])
    return [_machine(provenance, shape),
            *_rejected_warning(frame),
            *_mixed_warning(shape),
            *_device_sentence(frame),
            *_normaliser_sentence(norm, normaliser),
            *_closed_loop_sentences(frame, agg.loop_stats(frame), k, norm, normaliser),
            *_compile_sentence(frame),
            *_break_even_sentence(frame, k),
            *_problem_sentences(frame),
            *_fidelity_sentence(frame)]


def summary_text(frame: pd.DataFrame, provenance: dict, normaliser: str = "uninterrupted") -> str:
    """The summary as one paragraph per sentence group (blank-line separated)."""
    return "\n\n".join(summary_lines(frame, provenance, normaliser))
