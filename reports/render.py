"""The report: figures + tables + provenance + summary, as one self-contained HTML page
(figures embedded as base64 PNG) and as Markdown (figures as files beside it)."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import pandas as pd

from adapters.files import write_text_atomic

from . import aggregate as agg
from . import figures
from .aggregate import NORMALISER_BACKEND, fmt
from .summary import summary_lines

FORMATS = ("html", "md")

DEFINITIONS = [
    ("Time per simulated second",
     "wall-clock seconds of the timed loop phase divided by the biological seconds it "
     "simulated (seconds / sim_seconds); this is also the real-time factor (RTF, < 1 is faster "
     "than real time). Warm-up passes are recorded but never averaged in."),
    ("Spread",
     "one observation per timed loop row (network instance × run). Tables give the mean, the "
     "sample standard deviation and a 95 % Student-t interval of the mean, mean ± "
     "t(0.975, n−1)·sd/√n, treating instances × runs as independent (runs of one instance are "
     "correlated, so the interval is if anything optimistic); none for n = 1."),
    ("Speedup",
     "normaliser time per simulated second / backend time per simulated second, paired by "
     "network instance. Speedups are ratios: the figure and tables show their geometric mean "
     "with a 95 % t-interval computed on log(speedup). 'X× faster than' in the summary is the "
     "ratio of the two mean times per simulated second."),
    ("Normaliser",
     f"'uninterrupted': {NORMALISER_BACKEND} loop time (the whole run in one C++ standalone "
     "execution, inputs known in advance: the Spark paper's baseline). 'end-to-end': the same "
     "backend's compile_cold + construct + loop, per simulated second of the run."),
    ("Break-even biological time T*",
     "a backend B costs C_B + r_B·T for T simulated seconds (C = mean cold compile + construct, "
     "warm compile if no cold one was recorded; r = mean loop seconds per simulated second at "
     f"that k), the normaliser N ({NORMALISER_BACKEND}) C_N + r_N·T. T* = (C_B − C_N) / "
     "(r_N − r_B): after T* of biological time B's extra one-off cost is paid back by its faster "
     "loop. 'ahead from the start': cheaper in both; 'never pays back': dearer in both; 'ahead "
     "until': cheaper to build but slower per simulated second, so N catches up after T*."),
    ("Truncated cells",
     "a closed-loop cell that ran out of its wall-clock budget simulated a shorter time "
     "(sim_seconds). It is compared per simulated second only, never extrapolated, and drawn "
     "with hollow markers."),
    ("Fidelity",
     "each backend's spikes (open loop, same input) against its reference, per instance: the "
     "largest per-pool relative rate error (worst instance), the exact-match window (time of "
     "the first differing spike; shortest over instances), the fraction of identical spikes, "
     "and the SPIKE-distance (0 = identical) next to a shuffled control (the same distance with "
     "neuron identities permuted: what unrelated trains score). distance / control well below 1 "
     "means spike timing agrees, near 1 means rates at most."),
]

PROVENANCE_KEYS = ("sweep_id", "created", "command", "git_commit", "network", "spec_digest",
                   "profile", "duration_ms", "cpu_model", "cores", "gpu", "os", "python",
                   "threads", "versions", "notes")


# --------------------------------------------------------------------------- tables for display


def _ci(lo: float, hi: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "–"
    return f"[{fmt(lo)}, {fmt(hi)}]"


def _trunc(r) -> str:
    if not r.get("n_truncated"):
        return ""
    return (f"yes: {int(r['n_truncated'])} of {int(r['n'])} rows, ≥ "
            f"{fmt(1e3 * r['sim_seconds_min'])} ms simulated")


def display_tables(tables: dict[str, pd.DataFrame]) -> dict[str, tuple[str, pd.DataFrame]]:
    """(title, formatted frame) per table, strings only."""
    out: dict[str, tuple[str, pd.DataFrame]] = {}
    fid = {r["backend"]: (f"rate err ≤ {fmt(100 * r['rate_rel_error_max'])} %, exact "
                          f"{fmt(r['exact_window_ms_min'])} ms")
           for _, r in tables["fidelity"].iterrows()}
    fid.update({ref: "reference" for ref in tables["fidelity"]["reference"].unique()})
    t = tables["loop_times"]
    out["loop_times"] = ("Loop time per simulated second (s), per backend × k", pd.DataFrame([{
        "backend": r["backend"], "loop": r["loop"], "k": int(r["k"]), "n": int(r["n"]),
        "instances": int(r["instances"]), "mean (s / sim s)": fmt(r["mean"]),
        "std": fmt(r["std"]), "95 % CI": _ci(r["ci_low"], r["ci_high"]),
        "truncated": _trunc(r), "fidelity": fid.get(r["backend"], "not measured")}
        for _, r in t.iterrows()]))
    t = tables["speedups"]
    out["speedups"] = ("Speedup over the normaliser (geometric mean), per backend × k", pd.DataFrame([{
        "backend": r["backend"], "loop": r["loop"], "k": int(r["k"]), "n": int(r["n"]),
        "speedup (×)": fmt(r["mean"]), "95 % CI": _ci(r["ci_low"], r["ci_high"]),
        "truncated": _trunc(r)} for _, r in t.iterrows()]))
    t = tables["compile_times"]
    out["compile_times"] = ("Build phases (s): compile cold / warm, construct", pd.DataFrame([{
        "backend": r["backend"], "phase": r["phase"], "n": int(r["n"]),
        "mean (s)": fmt(r["mean"]), "std": fmt(r["std"]),
        "95 % CI": _ci(r["ci_low"], r["ci_high"]), "cache hit": r["cache_hit"]}
        for _, r in t.iterrows()]))
    t = tables["break_even"]
    out["break_even"] = (f"Break-even biological time against {NORMALISER_BACKEND}", pd.DataFrame([{
        "backend": r["backend"], "loop": r["loop"], "k": int(r["k"]),
        "one-off (s)": f"{fmt(r['one_off_s'])} ({r['compile']} compile + construct)",
        "loop (s / sim s)": fmt(r["per_sim_s"]),
        f"{NORMALISER_BACKEND} one-off / loop": f"{fmt(r['norm_one_off_s'])} / {fmt(r['norm_per_sim_s'])}",
        "T* (biological s)": fmt(r["break_even_s"]), "verdict": r["verdict"]}
        for _, r in t.iterrows()]))
    t = tables["fidelity"]
    out["fidelity"] = ("Fidelity against the reference (per backend, over instances)", pd.DataFrame([{
        "backend": r["backend"], "reference": r["reference"], "dtype": r["dtype"],
        "instances": str(int(r["instances"])),
        "max rate error (%)": fmt(100 * r["rate_rel_error_max"]),
        "exact-match window (ms, min)": fmt(r["exact_window_ms_min"]),
        "identical spikes (mean)": fmt(r["identical_fraction_mean"]),
        "SPIKE-distance": fmt(r["distance_mean"]),
        "shuffled control": fmt(r["distance_control_mean"]),
        "distance / control": fmt(r["distance_ratio"])} for _, r in t.iterrows()]
        + [{"backend": ref, "reference": "(itself: the reference)"}
           for ref in sorted(set(t["reference"]) - set(t["backend"]))]).fillna(""))
    t = tables["problems"]
    out["problems"] = ("Skipped, failed, truncated and missing cells", pd.DataFrame([{
        "backend": r["backend"], "loop": r["loop"], "k": r["k"], "phase": r["phase"],
        "status": r["status"], "instances": r["instances"], "rows": int(r["rows"]),
        "simulated (ms)": fmt(1e3 * r["sim_seconds"]), "reason": r["reason"]}
        for _, r in t.iterrows()]))
    return out


ROOFLINE_CSV = "roofline.csv"  # written by `spark-bench roofline --out DIR`


def roofline_table(results_dir: Path) -> pd.DataFrame | None:
    """The roofline rows of ``results_dir``, or None when it has none."""
    path = Path(results_dir) / ROOFLINE_CSV
    if not path.exists():
        return None
    frame = pd.read_csv(path)
    missing = {"backend", "events_per_second", "bound_events_per_second",
               "fraction_of_bound"} - set(frame.columns)
    if missing:
        raise agg.ReportError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                              "re-run spark-bench roofline --out")
    return frame


def roofline_display(frame: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    title = ("Synaptic events/s against the memory-bandwidth bound (open loop, one core; "
             "spark-bench roofline)")
    return title, pd.DataFrame([{
        "backend": r["backend"], "dtype": r["dtype"],
        "loop (s / sim s)": fmt(r["loop_seconds"] / r["sim_seconds"]),
        "events": str(int(r["events"])), "events/s": f"{r['events_per_second']:.3g}",
        "bound (events/s)": f"{r['bound_events_per_second']:.3g}",
        "of bound (%)": fmt(100 * r["fraction_of_bound"])} for _, r in frame.iterrows()])


def roofline_sentence(frame: pd.DataFrame) -> str:
    first = frame.iloc[0]
    parts = [f"{r['backend']} {fmt(100 * r['fraction_of_bound'])} % "
             f"({r['events_per_second']:.3g} events/s)" for _, r in frame.iterrows()]
    return (f"Against the memory-bandwidth bound ({fmt(first['bandwidth_bytes_per_second'] / 1e9)}"
            f" GB/s measured copy bandwidth, {first['bound_events_per_second']:.3g} synaptic "
            "events/s; open loop, one core): " + "; ".join(parts) + ".")


# --------------------------------------------------------------------------- provenance


def provenance_items(provenance: dict) -> list[tuple[str, str]]:
    items = []
    keys = [k for k in PROVENANCE_KEYS if k in provenance]
    keys += sorted(k for k in provenance if k not in PROVENANCE_KEYS)
    for key in keys:
        value = provenance[key]
        if key == "versions" and isinstance(value, dict):
            text = ", ".join(f"{p} {v}" if v else f"{p} (not installed)" for p, v in value.items())
        elif key == "gpu" and not value:
            text = "none"
        elif isinstance(value, (dict, list)):
            text = json.dumps(value, sort_keys=True)
        else:
            text = str(value)
        items.append((key, text))
    return items or [("provenance", "provenance.json missing")]


# --------------------------------------------------------------------------- markdown


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_(none)_"
    head = "| " + " | ".join(_md_cell(c) for c in frame.columns) + " |"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, sep, *body])


# --------------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1150px;margin:2em auto;
padding:0 1em;color:#111;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.86em;margin:.6em 0}
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.88em;color:#333}.summary p{margin:.35em 0}
dl dt{font-weight:600;margin-top:.4em}dl dd{margin-left:1.2em}
code{font-size:.92em}
"""


def html_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p><em>(none)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            text = str(v)
            cls = ' class="num"' if _looks_numeric(text) else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _looks_numeric(text: str) -> bool:
    return bool(text) and text.replace(",", "").replace(".", "").replace("-", "").replace(
        "e+", "").replace("e", "").isdigit()


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


# --------------------------------------------------------------------------- the report


def _subtitle(provenance: dict, shape: dict) -> str:
    network = provenance.get("network") or "?"
    cpu = provenance.get("cpu_model") or "unknown CPU"
    return (f"{network}, {'/'.join(shape['dtypes'])}, {len(shape['instances'])} instance(s) × "
            f"{shape['runs']} run(s), {fmt(shape['full_sim_seconds'] * 1e3)} ms simulated; {cpu}")


def _unavailable(frame: pd.DataFrame) -> dict[str, str]:
    """Backends whose build was skipped or failed on every instance: backend -> status."""
    builds = frame[frame["phase"].isin(("compile_cold", "compile_warm"))]
    out = {}
    for backend, g in builds.groupby("backend"):
        if not (g["status"] == "ok").any():
            out[backend] = "/".join(sorted(set(g["status"])))
    return out


def make_figures(frame: pd.DataFrame, provenance: dict, tables: dict[str, pd.DataFrame],
                 fig_dir: Path, normaliser: str) -> dict[str, dict[str, Path]]:
    shape = agg.sweep_shape(frame, provenance)
    sub = _subtitle(provenance, shape)
    samples = frame[frame["phase"].isin(("compile_cold", "compile_warm")) & (frame["status"] == "ok")]
    return {
        "speedup": figures.speedup_figure(
            tables["speedups"], agg.normaliser_label(normaliser), sub, fig_dir,
            normaliser_short=NORMALISER_BACKEND + (" end-to-end" if normaliser == "end-to-end" else "")),
        "compile": figures.compile_figure(tables["compile_times"], samples, sub, fig_dir,
                                          unavailable=_unavailable(frame)),
        "rtf": figures.rtf_figure(tables["loop_times"], tables["break_even"], sub, fig_dir),
    }


FIGURE_CAPTIONS = {
    "speedup": ("Figure 1. Relative speedup vs execution timesteps k (log–log). One line per "
                "closed-loop backend: geometric mean over instances × runs, bars the 95 % "
                "t-interval on log(speedup). Dashed horizontal lines: open-loop (uninterrupted) "
                "best cases. Hollow markers: truncated cells."),
    "compile": ("Figure 2. Code generation + compile time per backend, cold (empty caches) and "
                "warm (caches / build directory reused) side by side: bar = mean, error bar = "
                "95 % t-interval, dots = individual builds."),
    "rtf": ("Figure 3. (a) Real-time factor (wall seconds per simulated second) vs k, with open-"
            "loop best cases dashed; (b) break-even biological time T* against the normaliser "
            "per backend and k (see Definitions)."),
}


def build(results_dir: Path, out_dir: Path, formats: tuple[str, ...] = FORMATS,
          normaliser: str = "uninterrupted") -> dict[str, Path]:
    formats = tuple(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise agg.ReportError(f"report format(s) {', '.join(bad)}: expected html and/or md")
    if normaliser not in agg.NORMALISERS:
        raise agg.ReportError(f"normaliser {normaliser!r}: expected one of "
                              f"{', '.join(agg.NORMALISERS)}")
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    frame, provenance = agg.load(results_dir)
    tables = agg.all_tables(frame, normaliser)
    written: dict[str, Path] = {}

    for name, table in tables.items():
        path = out_dir / "tables" / f"{name}.csv"
        write_text_atomic(path, table.to_csv(index=False))
        written[f"{name}_csv"] = path
    figs = make_figures(frame, provenance, tables, out_dir / "figures", normaliser)
    for name, paths in figs.items():
        for ext, path in paths.items():
            written[f"{name}_{ext}"] = path

    lines = summary_lines(frame, provenance, normaliser)
    shown = display_tables(tables)
    roof = roofline_table(results_dir)
    if roof is not None:
        path = out_dir / "tables" / "roofline.csv"
        write_text_atomic(path, roof.to_csv(index=False))
        written["roofline_csv"] = path
        shown["roofline"] = roofline_display(roof)
        lines.append(roofline_sentence(roof))
    prov = provenance_items(provenance)
    title = f"spark-bench report: {provenance.get('network', '?')} ({results_dir.name})"
    note_norm = (f"Sweep {provenance.get('sweep_id', '?')}, created "
                 f"{provenance.get('created', '?')}, commit "
                 f"{str(provenance.get('git_commit', '?'))[:12] or '?'}. "
                 f"Normaliser: {agg.normaliser_label(normaliser)}.")

    if "md" in formats:
        md = [f"# {title}", "", f"Results: `{results_dir}`. {note_norm}", "", "## Summary", ""]
        md += [line + "\n" for line in lines]
        md += ["## Figures", ""]
        for name, paths in figs.items():
            rel = paths["png"].relative_to(out_dir).as_posix()
            svg = paths["svg"].relative_to(out_dir).as_posix()
            md += [f"![{name}]({rel})", "", f"*{FIGURE_CAPTIONS[name]}* ([SVG]({svg}))", ""]
        md += ["## Tables", ""]
        for _, (caption, table) in shown.items():
            md += [f"### {caption}", "", markdown_table(table), ""]
        md += ["## Definitions", ""]
        md += [f"- **{term}**: {text}" for term, text in DEFINITIONS]
        md += ["", "## Provenance", "", markdown_table(pd.DataFrame(prov, columns=["field", "value"])),
               "", "Raw tables (CSV, unrounded) are in `tables/`.", ""]
        path = out_dir / "report.md"
        write_text_atomic(path, "\n".join(md))
        written["md"] = path

    if "html" in formats:
        h = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>Results: <code>{html.escape(str(results_dir))}</code>. {html.escape(note_norm)}</p>",
             '<h2 id="summary">Summary</h2><div class="summary">']
        h += [f"<p>{html.escape(line)}</p>" for line in lines]
        h += ["</div>", '<h2 id="figures">Figures</h2>']
        for name, paths in figs.items():
            h.append(f'<figure id="fig-{name}">{_img(paths["png"], FIGURE_CAPTIONS[name])}'
                     f"<figcaption>{html.escape(FIGURE_CAPTIONS[name])}</figcaption></figure>")
        h.append('<h2 id="tables">Tables</h2>')
        for key, (caption, table) in shown.items():
            h.append(f'<h3 id="table-{key}">{html.escape(caption)}</h3>{html_table(table)}')
        h.append('<h2 id="definitions">Definitions</h2><dl>')
        h += [f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in DEFINITIONS]
        h.append('</dl><h2 id="provenance">Provenance</h2>')
        h.append(html_table(pd.DataFrame(prov, columns=["field", "value"])))
        h.append("</body></html>")
        path = out_dir / "report.html"
        write_text_atomic(path, "\n".join(h) + "\n")
        written["html"] = path
    return written
