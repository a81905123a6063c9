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


def summary_lines(frame: pd.DataFrame, provenance: dict,
                  normaliser: str = "uninterrupted") -> list[str]:
    """The summary as a list of sentences (plain text, Markdown-safe)."""
    frame = agg.prepare(frame)
    provenance = provenance or {}
    shape = agg.sweep_shape(frame, provenance)
    shape["networks"] = list(frame["network"].unique())
    stats = agg.loop_stats(frame)
    lines = [_machine(provenance, shape)]
    if len(shape["dtypes"]) > 1 or len(shape["threads"]) > 1:
        lines.append("Warning: these results mix dtypes or thread counts "
                     f"({', '.join(shape['dtypes'])}; threads {shape['threads']}); "
                     "the tables pool them.")

    # normaliser
    norm = agg.normaliser_per_instance(frame, normaliser)
    if norm.empty:
        needs = "loop" + (" and compile" if normaliser == "end-to-end" else "")
        lines.append(f"{NORMALISER_BACKEND} has no {needs} results, so no speedups are "
                     "reported (figure 1 is empty).")
    else:
        lines.append(f"The normaliser, {agg.normaliser_label(normaliser)}, takes "
                     f"{fmt(float(norm.mean()))} s per simulated second "
                     f"(mean over {len(norm)} instance(s)).")

    # at the reference k
    closed = stats[stats["loop"] == "closed"]
    k = pick_k(shape["closed_ks"])
    if k is None or closed.empty:
        lines.append("No closed-loop backend has loop results.")
    else:
        at_k = closed[closed["k"] == k].sort_values("mean")
        trunc = set(at_k.loc[at_k["n_truncated"] > 0, "backend"])
        mark = lambda b: " (truncated)" if b in trunc else ""  # noqa: E731
        means = dict(zip(at_k["backend"], at_k["mean"]))
        focuses = [b for b in FOCUS_BACKENDS if b in means] or [at_k["backend"].iloc[0]]
        for focus in focuses:
            others = [b for b in at_k["backend"] if b != focus]
            if others:
                parts = [f"{times_faster(means[b], means[focus])} {b} closed loop "
                         f"({fmt(means[b])} s{mark(b)})" for b in others]
                lines.append(f"At k = {k}, {focus} takes {fmt(means[focus])} s per simulated "
                             f"second{mark(focus)}: it is " + "; ".join(parts) + ".")
            else:
                lines.append(f"At k = {k}, {focus} takes {fmt(means[focus])} s per simulated "
                             f"second{mark(focus)} (the only closed-loop backend measured).")
        if not set(FOCUS_BACKENDS) & set(closed["backend"]):
            lines.append(f"{' and '.join(FOCUS_BACKENDS)} have no closed-loop results in this set.")
        if not norm.empty and len(shape["closed_ks"]) > 0:
            sp = agg.speedup_stats(frame, normaliser)
            sp = sp[sp["loop"] == "closed"]
            parts = []
            for backend, g in sp.groupby("backend", sort=False):
                g = g.sort_values("k")
                first, last = g.iloc[0], g.iloc[-1]
                text = (f"{backend} {fmt(first['mean'])}× at k = {int(first['k'])}"
                        + (f" to {fmt(last['mean'])}× at k = {int(last['k'])}" if len(g) > 1 else ""))
                parts.append(text)
            order = sorted(parts, key=lambda p: (p.split(" ")[0] not in FOCUS_BACKENDS, p))
            if order:
                lines.append("Speedup over the normaliser (geometric mean; > 1 is faster): "
                             + "; ".join(order) + ".")

    # compile times
    comp = agg.compile_stats(frame)
    if not comp.empty:
        parts = []
        for backend, g in comp.groupby("backend", sort=True):
            vals = dict(zip(g["phase"], g["mean"]))
            bits = [f"{fmt(vals[p])} s {p.split('_')[1]}" for p in ("compile_cold", "compile_warm")
                    if p in vals]
            if bits:
                parts.append(f"{backend} {' / '.join(bits)}")
        if parts:
            lines.append("Compile times (mean): " + "; ".join(parts) + ".")

    # break-even at the reference k
    be = agg.break_even(frame)
    if k is not None and not be.empty:
        be_k = be[(be["k"] == k) | (be["loop"] == "open")]
        parts = []
        for _, r in be_k.iterrows():
            where = f"at k = {k}" if r["loop"] == "closed" else "open loop"
            t = r["break_even_s"]
            if r["verdict"] == "pays back after":
                parts.append(f"{r['backend']} ({where}) pays back its extra build cost after "
                             f"{fmt(t)} s of biological time")
            elif r["verdict"] == "ahead until":
                parts.append(f"{r['backend']} ({where}) is ahead until {fmt(t)} s of biological "
                             f"time, then {NORMALISER_BACKEND} catches up")
            elif r["verdict"] in ("ahead from the start", "always ahead"):
                parts.append(f"{r['backend']} ({where}) is ahead from the start")
            elif r["verdict"] == "never pays back":
                parts.append(f"{r['backend']} ({where}) never pays back")
        if parts:
            lines.append(f"Break-even against {NORMALISER_BACKEND}: " + "; ".join(parts) + ".")

    # problems
    problems = agg.problem_cells(frame)
    for status, verb in (("truncated", "truncated (compared per simulated second over the "
                                       "shorter time they ran, never extrapolated)"),
                         ("skipped", "skipped"), ("failed", "failed"),
                         ("missing", "missing (no rows)")):
        p = problems[problems["status"] == status]
        if status in ("truncated", "missing"):  # loop cells only; skips/failures anywhere
            p = p[p["phase"] == "loop"]
        if p.empty:
            continue
        by_backend = []
        for backend, g in p.groupby("backend", sort=True):
            ks = sorted({x for x in g["k"]}, key=lambda s: (s == "build", int(s) if s.isdigit() else 0))
            reasons = sorted({r for r in g["reason"] if r})
            reason = f": {reasons[0]}" if len(reasons) == 1 and status != "truncated" else ""
            by_backend.append(f"{backend} (k = {', '.join(ks)}){reason}")
        lines.append(f"Cells {verb}: " + "; ".join(by_backend) + ".")

    # fidelity
    fid = agg.fidelity_table(frame)
    if fid.empty:
        lines.append("No fidelity measurements in these results.")
    else:
        worst = fid.sort_values("rate_rel_error_max", ascending=False).iloc[0]
        lines.append(
            f"Fidelity against {', '.join(sorted(fid['reference'].unique()))}: the largest "
            f"per-pool rate error is {fmt(100 * worst['rate_rel_error_max'])} % "
            f"({worst['backend']}); shortest exact-match window "
            f"{fmt(float(fid['exact_window_ms_min'].min()))} ms "
            f"({fid.sort_values('exact_window_ms_min').iloc[0]['backend']}).")
    return lines


def summary_text(frame: pd.DataFrame, provenance: dict, normaliser: str = "uninterrupted") -> str:
    """The summary as one paragraph per sentence group (blank-line separated)."""
    return "\n\n".join(summary_lines(frame, provenance, normaliser))
