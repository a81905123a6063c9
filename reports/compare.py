"""Two result sets side by side: per backend x k, mean time per simulated second in A and
B and the ratio B / A (> 1: B slower); the same for compile times. Within each set, the
speedup over its own normaliser is shown too: on shared, noisy machines absolute times drift
between runs, and what stays meaningful is a ratio of two backends measured side by side in
one run, so "speedup in B / speedup in A" is the robust comparison when A and B ran at
different times or on different machines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.files import write_text_atomic

from . import aggregate as agg
from . import figures
from .aggregate import NORMALISER_BACKEND, fmt
from .document import Document, Image, Section, Sentences, Table, write_document
from .render import provenance_items


def _label(path: Path, provenance: dict) -> str:
    bits = [str(path)]
    if provenance.get("git_commit"):
        bits.append(str(provenance["git_commit"])[:12])
    if provenance.get("cpu_model"):
        bits.append(str(provenance["cpu_model"]))
    return ", ".join(bits)


def loop_ratios(frame_a: pd.DataFrame, frame_b: pd.DataFrame) -> pd.DataFrame:
    """Outer join of the two loop tables on backend x loop x k."""
    keys = ["backend", "loop", "k"]
    cols = ["mean", "n", "n_truncated"]
    a = agg.loop_stats(frame_a)[keys + cols].rename(columns={c: f"{c}_a" for c in cols})
    b = agg.loop_stats(frame_b)[keys + cols].rename(columns={c: f"{c}_b" for c in cols})
    out = a.merge(b, on=keys, how="outer").sort_values(keys).reset_index(drop=True)
    out["ratio"] = out["mean_b"] / out["mean_a"]
    for side, frame in (("a", frame_a), ("b", frame_b)):
        norm = agg.normaliser_per_instance(frame)
        value = float(norm.mean()) if len(norm) else float("nan")
        out[f"speedup_{side}"] = value / out[f"mean_{side}"]
    out["speedup_ratio"] = out["speedup_b"] / out["speedup_a"]
    out["present"] = np.where(out["mean_a"].isna(), "only in B",
                              np.where(out["mean_b"].isna(), "only in A", "both"))
    for side in ("a", "b"):
        out[f"n_{side}"] = out[f"n_{side}"].fillna(0).astype(int)
        out[f"n_truncated_{side}"] = out[f"n_truncated_{side}"].fillna(0).astype(int)
    return out


def compile_ratios(frame_a: pd.DataFrame, frame_b: pd.DataFrame) -> pd.DataFrame:
    keys = ["backend", "phase"]
    a = agg.compile_stats(frame_a)[keys + ["mean", "n"]].rename(columns={"mean": "mean_a", "n": "n_a"})
    b = agg.compile_stats(frame_b)[keys + ["mean", "n"]].rename(columns={"mean": "mean_b", "n": "n_b"})
    out = a.merge(b, on=keys, how="outer").sort_values(keys).reset_index(drop=True)
    out["ratio"] = out["mean_b"] / out["mean_a"]
    for side in ("a", "b"):
        out[f"n_{side}"] = out[f"n_{side}"].fillna(0).astype(int)
    return out


def _trunc_note(r) -> str:
    sides = [s.upper() for s in ("a", "b") if r[f"n_truncated_{s}"] > 0]
    return f"truncated in {' and '.join(sides)}" if sides else ""


def _display_loop(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{
        "backend": r["backend"], "loop": r["loop"], "k": int(r["k"]),
        "A (s / sim s)": fmt(r["mean_a"]), "n A": r["n_a"], "B (s / sim s)": fmt(r["mean_b"]),
        "n B": r["n_b"], "B / A": fmt(r["ratio"]),
        "speedup A": fmt(r["speedup_a"]), "speedup B": fmt(r["speedup_b"]),
        "speedup B / A": fmt(r["speedup_ratio"]), "note": "; ".join(
            x for x in (_trunc_note(r), "" if r["present"] == "both" else r["present"]) if x)}
        for _, r in t.iterrows()])


def _display_compile(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{
        "backend": r["backend"], "phase": r["phase"], "A (s)": fmt(r["mean_a"]), "n A": r["n_a"],
        "B (s)": fmt(r["mean_b"]), "n B": r["n_b"], "B / A": fmt(r["ratio"])}
        for _, r in t.iterrows()])


def compare_summary(loop: pd.DataFrame, label_a: str, label_b: str) -> list[str]:
    lines = [f"A: {label_a}.", f"B: {label_b}."]
    both = loop[loop["present"] == "both"]
    if both.empty:
        lines.append("No backend × k was measured in both sets.")
        return lines
    for backend, g in both.groupby("backend", sort=True):
        r = g["ratio"].to_numpy(float)
        r = r[np.isfinite(r)]
        if not r.size:
            continue
        gm = math.exp(float(np.log(r).mean()))
        if abs(math.log(gm)) < math.log(1.01):
            verdict = f"B and A agree within 1 % (B / A = {gm:.3f})"
        else:
            word = "slower" if gm > 1 else "faster"
            verdict = f"B is {fmt(gm if gm >= 1 else 1 / gm)}× {word} than A"
        over = ("open loop" if (g["loop"] == "open").all()
                else f"geometric mean over {r.size} k value(s)")
        spread = (f"; B / A from {fmt(float(r.min()))} to {fmt(float(r.max()))}"
                  if r.size > 1 else "")
        lines.append(f"{backend}: {verdict} per simulated second ({over}{spread}).")
    only = loop[loop["present"] != "both"]
    if len(only):
        lines.append("Only in one set: " + "; ".join(
            f"{r['backend']} k = {int(r['k'])} ({r['present']})" for _, r in only.iterrows()) + ".")
    return lines


def _provenance_frame(prov_a: dict, prov_b: dict) -> pd.DataFrame:
    """Provenance fields of A and B side by side (A's order first, then B's extra fields)."""
    a, b = dict(provenance_items(prov_a)), dict(provenance_items(prov_b))
    return pd.DataFrame([(k, a.get(k, ""), b.get(k, "")) for k in dict.fromkeys([*a, *b])],
                        columns=["field", "A", "B"])


CAPTION = ("Time per simulated second of B divided by A's, per backend and k (> 1: B "
           "slower). Speedup columns: each set against its own normaliser "
           f"({NORMALISER_BACKEND}, loop only); 'speedup B / A' is the comparison that "
           "survives different machines (speedups here: ratios of mean times).")


def compare_document(title: str, lines: list[str], figure: Path, loop: pd.DataFrame,
                     comp: pd.DataFrame, prov: pd.DataFrame) -> Document:
    """The comparison page, once, for both formats."""
    return Document(title=title, intro=(), sections=(
        Section("Summary", (Sentences(tuple(lines)), Image(figure, "B / A", CAPTION))),
        Section("Loop time per simulated second", (Table(_display_loop(loop)),)),
        Section("Build phases", (Table(_display_compile(comp)),)),
        Section("Provenance", (Table(prov),))))


def compare(results_a: Path, results_b: Path, out_dir: Path) -> dict[str, Path]:
    """Write compare.html, compare.md, CSVs and a ratio figure into ``out_dir``."""
    results_a, results_b, out_dir = Path(results_a), Path(results_b), Path(out_dir)
    frame_a, prov_a = agg.load(results_a)
    frame_b, prov_b = agg.load(results_b)
    loop = loop_ratios(frame_a, frame_b)
    comp = compile_ratios(frame_a, frame_b)
    label_a, label_b = _label(results_a, prov_a), _label(results_b, prov_b)
    written: dict[str, Path] = {}
    for name, table in (("compare_loop", loop), ("compare_compile", comp)):
        path = out_dir / "tables" / f"{name}.csv"
        write_text_atomic(path, table.to_csv(index=False))
        written[f"{name}_csv"] = path
    fig = figures.ratio_figure(loop[loop["present"] == "both"], label_a, label_b,
                               out_dir / "figures")
    written["compare_png"], written["compare_svg"] = fig["png"], fig["svg"]
    title = f"spark-bench comparison: {results_a.name} (A) vs {results_b.name} (B)"
    document = compare_document(title, compare_summary(loop, label_a, label_b), fig["png"],
                                loop, comp, _provenance_frame(prov_a, prov_b))
    return written | write_document(document, out_dir, "compare")
