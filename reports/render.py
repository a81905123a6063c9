"""The report: figures + tables + provenance + summary, built once as a
:class:`~reports.document.Document` and written as one self-contained HTML page (figures
embedded as base64 PNG) and as Markdown (figures as files beside it)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from adapters.files import UnsafePath, read_regular_file, write_text_atomic
from benchmarks.provenance import machine_folder_name
from benchmarks.roofline import read_csv as read_roofline_csv

from . import aggregate as agg
from . import figures
from .aggregate import NORMALISER_BACKEND, fmt
from .document import (
    FORMATS,
    Code,
    Document,
    Image,
    Paragraph,
    Section,
    Sentences,
    Table,
    Terms,
    write_document,
)
from .summary import summary_lines

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
    ("Device",
     "where a backend ran, from its rows: 'cpu', or 'gpu: <model>' (with the driver and CUDA "
     "version in the rows and the provenance). Lines of GPU backends are drawn thick; every "
     "speedup divides the normaliser's time (on the CPU) by the backend's, so a GPU line's "
     "speedup is a ratio across devices. 'not recorded': rows written before devices were."),
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

PROVENANCE_KEYS = ("sweep_id", "created", "command", "git_commit", "network", "neurons",
                   "synapses_expected", "spec_digest", "profile", "duration_ms", "cpu_model",
                   "cores", "gpu", "gpu_driver", "cuda_version", "os", "python", "threads", "input_stream",
                   "versions", "notes")


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
        "backend": r["backend"], "device": r["device"], "class": r.get("comparison", "exact"),
        "loop": r["loop"], "k": int(r["k"]), "n": int(r["n"]), "instances": int(r["instances"]), "mean (s / sim s)": fmt(r["mean"]),
        "std": fmt(r["std"]), "95 % CI": _ci(r["ci_low"], r["ci_high"]),
        "truncated": _trunc(r), "fidelity": fid.get(r["backend"], "not measured")}
        for _, r in t.iterrows()]))
    t = tables["latency"]
    out["latency"] = ("Per-chunk latency (µs): input in, k steps, output on the host; median "
                      "over timed passes, max over all", pd.DataFrame([{
        "backend": r["backend"], "device": r["device"], "k": int(r["k"]),
        "passes": int(r["passes"]),
        "p50": fmt(1e6 * r["p50_s"]), "p90": fmt(1e6 * r["p90_s"]), "p99": fmt(1e6 * r["p99_s"]),
        "max": fmt(1e6 * r["max_s"]), "p99 / p50": fmt(r["tail_ratio"])}
        for _, r in t.iterrows()]))
    t = tables["speedups"]
    out["speedups"] = ("Speedup over the normaliser (geometric mean), per backend × k", pd.DataFrame([{
        "backend": r["backend"], "device": r["device"], "class": r.get("comparison", "exact"),
        "loop": r["loop"], "k": int(r["k"]), "n": int(r["n"]), "speedup (×)": fmt(r["mean"]), "95 % CI": _ci(r["ci_low"], r["ci_high"]),
        "truncated": _trunc(r)} for _, r in t.iterrows()]))
    t = tables["compile_times"]
    out["compile_times"] = ("Build phases (s): compile cold / warm, construct", pd.DataFrame([{
        "backend": r["backend"], "device": r["device"], "phase": r["phase"], "n": int(r["n"]),
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
    if "sizes" in tables:
        out["sizes"] = sizes_display(tables["sizes"])
    t = tables["problems"]
    out["problems"] = ("Skipped, failed, truncated and missing cells", pd.DataFrame([{
        "backend": r["backend"], "loop": r["loop"], "k": r["k"], "phase": r["phase"],
        "status": r["status"], "instances": r["instances"], "rows": int(r["rows"]),
        "simulated (ms)": fmt(1e3 * r["sim_seconds"]), "reason": r["reason"]}
        for _, r in t.iterrows()]))
    return out


def sizes_display(t: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """(title, formatted frame) of the size study's table (``aggregate.size_stats``)."""
    return ("Cost vs network size (s per simulated second), per backend × k × network",
            pd.DataFrame([{
                "backend": r["backend"], "device": r["device"],
                "k": "whole run (open loop)" if r["loop"] == "open" else str(int(r["k"])),
                "network": r["network"], "neurons": f"{int(r['neurons']):,d}", "n": int(r["n"]),
                "mean (s / sim s)": fmt(r["mean"]), "95 % CI": _ci(r["ci_low"], r["ci_high"]),
                "truncated": "yes" if r["n_truncated"] else ""} for _, r in t.iterrows()]))




def roofline_table(results_dir: Path) -> pd.DataFrame | None:
    """The roofline rows of ``results_dir`` (checked: :func:`benchmarks.roofline.read_csv`),
    or None when it has none."""
    return read_roofline_csv(results_dir)


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


def _count(spec: dict, field: str) -> int | str:
    items = spec.get(field)
    return len(items) if isinstance(items, list) else "?"


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
        elif key == "spec" and isinstance(value, dict):  # the whole spec: too long to show
            text = (f"the spec as run, in provenance.json ({_count(value, 'populations')} "
                    f"populations, {_count(value, 'projections')} projections)")
        elif isinstance(value, (dict, list)):
            text = json.dumps(value, sort_keys=True)
        else:
            text = str(value)
        items.append((key, text))
    return items or [("provenance", "provenance.json missing")]


# --------------------------------------------------------------------------- the report


def _subtitle(provenance: dict, shape: dict) -> str:
    network = provenance.get("network") or "?"
    cpu = provenance.get("cpu_model") or "unknown CPU"
    gpu = f"; GPU {provenance['gpu']}" if provenance.get("gpu") else ""
    return (f"{network}, {'/'.join(shape['dtypes'])}, {len(shape['instances'])} instance(s) × "
            f"{shape['runs']} run(s), {fmt(shape['full_sim_seconds'] * 1e3)} ms simulated; "
            f"CPU {cpu}{gpu}")


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
    figs = {
        "speedup": figures.speedup_figure(
            tables["speedups"], agg.normaliser_label(normaliser), sub, fig_dir,
            normaliser_short=NORMALISER_BACKEND + (" end-to-end" if normaliser == "end-to-end" else ""),
            normaliser_device=normaliser_device(frame, provenance)),
        "compile": figures.compile_figure(tables["compile_times"], samples, sub, fig_dir,
                                          unavailable=_unavailable(frame)),
        "rtf": figures.rtf_figure(tables["loop_times"], tables["break_even"], sub, fig_dir),
        "latency": figures.latency_figure(tables["latency"], sub, fig_dir),
    }
    if "sizes" in tables:
        figs["size"] = figures.size_figure(agg.size_lines(tables["sizes"]), sub, fig_dir)
    return figs


def normaliser_device(frame: pd.DataFrame, provenance: dict) -> str:
    """The normaliser's device for labels: ``cpu (<CPU model>)`` for a CPU normaliser."""
    device = agg.normaliser_device(frame)
    cpu = provenance.get("cpu_model")
    return f"{device} ({cpu})" if device == "cpu" and cpu else device


def figure_captions(tables: dict[str, pd.DataFrame], frame: pd.DataFrame, provenance: dict,
                    normaliser: str) -> dict[str, str]:
    """The captions, with what this report's lines ran on: the speedup caption names the
    normaliser's device, and says when GPU lines are divided by it."""
    captions = dict(FIGURE_CAPTIONS)
    devices = agg.measured_devices(frame)
    norm_device = normaliser_device(frame, provenance)
    gpus = sorted({d for d in devices.values() if agg.is_gpu(d)})
    where = (f" Every line is divided by the normaliser, {agg.normaliser_label(normaliser)}, "
             f"which ran on {norm_device}; the legend names the device of every line ([cpu] or "
             "[gpu: model]).")
    if gpus and not agg.is_gpu(norm_device):
        where += (f" GPU lines (thick; {', '.join(gpus)}) are GPU time divided by this CPU "
                  "normaliser's time: a ratio across devices, not a GPU-vs-GPU speedup.")
    classes = agg.backend_comparisons(frame)
    native = sorted(b for b, c in classes.items() if c != "exact" and b in devices)
    if native:
        where += (f" Native-class lines ({', '.join(native)}: each simulator's own models and "
                  "generators, statistical fidelity) are divided by the exact-class normaliser: "
                  "a ratio across comparison classes.")
    captions["speedup"] += where
    return captions


FIGURE_CAPTIONS = {
    "speedup": ("Figure 1. Relative speedup vs execution timesteps k (log–log). One line per "
                "closed-loop backend: geometric mean over instances × runs, bars the 95 % "
                "t-interval on log(speedup). Dashed horizontal lines: open-loop (uninterrupted) "
                "best cases. Hollow markers: truncated cells. Thick lines ran on a GPU."),
    "compile": ("Figure 2. Code generation + compile time per backend, cold (empty caches) and "
                "warm (caches / build directory reused) side by side: bar = mean, error bar = "
                "95 % t-interval, dots = individual builds."),
    "rtf": ("Figure 3. (a) Real-time factor (wall seconds per simulated second) vs k, with open-"
            "loop best cases dashed; (b) break-even biological time T* against the normaliser "
            "per backend and k (see Definitions)."),
    "latency": ("Figure 4. Per-chunk latency vs k (log–log): what a closed-loop controller waits "
                "from presenting an input to reading the output. Solid: p50, dashed: p99 (median "
                "over timed passes); the gap between them is the jitter a controller must budget "
                "for."),
    "size": ("Figure 5. Cost vs network size (log–log): wall seconds per simulated second vs the "
             "network's neurons, one line per backend measured on more than one network size "
             "(closed loop at the k measured at the most sizes, open loop over the whole run; "
             "the legend says which, and the device). Bars: 95 % t-interval; hollow markers: "
             "truncated cells."),
}


def _check_options(formats: tuple[str, ...], normaliser: str) -> None:
    """Bad options fail before anything is read or written."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise agg.ReportError(f"report format(s) {', '.join(bad)}: expected html and/or md")
    if normaliser not in agg.NORMALISERS:
        raise agg.ReportError(f"normaliser {normaliser!r}: expected one of "
                              f"{', '.join(agg.NORMALISERS)}")


def _write_csv(out_dir: Path, name: str, table: pd.DataFrame) -> Path:
    path = out_dir / "tables" / f"{name}.csv"
    write_text_atomic(path, table.to_csv(index=False))
    return path


def _intro(results_dir: Path, provenance: dict, normaliser: str) -> Paragraph:
    note = (f". Sweep {provenance.get('sweep_id', '?')}, created "
            f"{provenance.get('created', '?')}, commit "
            f"{str(provenance.get('git_commit', '?'))[:12] or '?'}. "
            f"Normaliser: {agg.normaliser_label(normaliser)}.")
    return Paragraph(("Results: ", Code(str(results_dir)), note))


def _figures_section(figs: dict[str, dict[str, Path]],
                     captions: dict[str, str] | None = None) -> Section:
    captions = captions or FIGURE_CAPTIONS
    return Section("Figures", tuple(
        Image(paths["png"], name, captions[name], svg=paths["svg"], anchor=f"fig-{name}")
        for name, paths in figs.items()), anchor="figures")


def _table_sections(shown: dict[str, tuple[str, pd.DataFrame]]) -> list[Section]:
    """A "Tables" heading, then one level-3 section per table."""
    return [Section("Tables", anchor="tables"), *(
        Section(caption, (Table(table),), anchor=f"table-{key}", level=3)
        for key, (caption, table) in shown.items())]


def _provenance_section(provenance: dict) -> Section:
    frame = pd.DataFrame(provenance_items(provenance), columns=["field", "value"])
    raw = Paragraph(("Raw tables (CSV, unrounded) are in ", Code("tables/"), "."))
    return Section("Provenance", (Table(frame), raw), anchor="provenance")


def report_document(results_dir: Path, provenance: dict, normaliser: str, lines: list[str],
                    figs: dict[str, dict[str, Path]],
                    shown: dict[str, tuple[str, pd.DataFrame]],
                    captions: dict[str, str] | None = None) -> Document:
    """The report page, once, for both formats."""
    return Document(
        title=f"spark-bench report: {provenance.get('network', '?')} ({results_dir.name})",
        intro=(_intro(results_dir, provenance, normaliser),),
        sections=(Section("Summary", (Sentences(tuple(lines)),), anchor="summary"),
                  _figures_section(figs, captions),
                  *_table_sections(shown),
                  Section("Definitions", (Terms(tuple(DEFINITIONS)),), anchor="definitions"),
                  _provenance_section(provenance)))


def build(results_dir: Path, out_dir: Path, formats: tuple[str, ...] = FORMATS,
          normaliser: str = "uninterrupted") -> dict[str, Path]:
    """Write tables (CSV), figures and the report page(s); return ``{name: path}``.

    Rows measured on several machines (a sweep spread over a cluster) get one full report
    per machine under ``machines/<machine>/`` and an index page here: no figure, table or
    speedup ever divides a time measured on one machine by one measured on another."""
    formats = tuple(formats)
    _check_options(formats, normaliser)
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    frame, provenance = agg.load(results_dir)
    machine_of, unplaced = agg.machine_labels(frame), agg.unplaced_rows(frame)
    machines = agg.machines(frame)
    if len(machines) <= 1:
        return _build_one(results_dir, frame, provenance, out_dir, formats, normaliser)
    written: dict[str, Path] = {}
    index = []
    for machine in machines:
        sub = frame[(machine_of == machine) | unplaced]
        record = {**provenance, **machine_record(results_dir, machine), "machine": machine}
        folder = out_dir / "machines" / machine_folder_name(machine)
        pages = _build_one(results_dir, sub, record, folder, formats, normaliser)
        written |= {f"{machine_folder_name(machine)}/{name}": path for name, path in pages.items()}
        index.append({"machine": machine, "cpu": str(record.get("cpu_model", "")),
                      "cores": str(record.get("cores", "")), "gpu": str(record.get("gpu") or "none"),
                      "backends": ", ".join(sorted(set(sub["backend"]))),
                      "rows": str(len(sub)), "report": str(folder.relative_to(out_dir) / "report")})
    document = Document(
        title=f"spark-bench report: {provenance.get('network', '?')} ({results_dir.name}), "
              f"{len(machines)} machines",
        intro=(_intro(results_dir, provenance, normaliser),),
        sections=(Section("Machines", (
            Paragraph((f"The rows of this sweep were measured on {len(machines)} machines. Each "
                       "has its own report (figures, tables, speedups against the normaliser "
                       "measured on the same machine); times of different machines are never "
                       "divided by each other.",)),
            *((Paragraph((f"Warning: {int(unplaced.sum())} row(s) of rejected cells (corrupt or "
                          "from another sweep) belong to no machine; each machine's problems "
                          "table names them, and they are counted nowhere.",)),)
              if unplaced.any() else ()),
            Table(pd.DataFrame(index))), anchor="machines"),
            _provenance_section(provenance)))
    return written | write_document(document, out_dir, "report", formats)


def machine_record(results_dir: Path, machine: str) -> dict:
    """What ``machines/<machine>.json`` (written by the Ray executor) says about a machine,
    without its host name key; {} when there is none or it is not one JSON object of a
    regular file (a stranger's folder: never a link, a FIFO or a traceback)."""
    path = Path(results_dir) / "machines" / f"{machine_folder_name(machine)}.json"
    try:
        record = json.loads(read_regular_file(path, max_bytes=1 << 20).decode("utf-8"))
    except (OSError, UnsafePath, ValueError, RecursionError):
        return {}
    return {k: v for k, v in record.items() if k != "machine"} if isinstance(record, dict) else {}


def _build_one(results_dir: Path, frame: pd.DataFrame, provenance: dict, out_dir: Path,
               formats: tuple[str, ...], normaliser: str) -> dict[str, Path]:
    """The report of ``frame`` (rows of one machine) into ``out_dir``."""
    tables = agg.all_tables(frame, normaliser, provenance)
    written = {f"{name}_csv": _write_csv(out_dir, name, table) for name, table in tables.items()}
    figs = make_figures(frame, provenance, tables, out_dir / "figures", normaliser)
    written |= {f"{name}_{ext}": path for name, paths in figs.items() for ext, path in paths.items()}

    lines = summary_lines(frame, provenance, normaliser)
    shown = display_tables(tables)
    roof = roofline_table(results_dir)
    if roof is not None:
        written["roofline_csv"] = _write_csv(out_dir, "roofline", roof)
        shown["roofline"] = roofline_display(roof)
        lines.append(roofline_sentence(roof))
    document = report_document(results_dir, provenance, normaliser, lines, figs, shown,
                               figure_captions(tables, frame, provenance, normaliser))
    return written | write_document(document, out_dir, "report", formats)
