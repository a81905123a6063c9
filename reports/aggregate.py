"""Statistics over a results directory (pandas): what every figure, table and summary uses.

Definitions (stated once, repeated in the report):

* **Time per simulated second** of a loop row: ``seconds / sim_seconds`` (wall seconds of the
  timed loop divided by the biological seconds it simulated; equal to the real-time factor).
  Truncated cells simulated less than the full duration and are compared on this scale
  only, never extrapolated; they are flagged wherever they appear.
* **Spread**: the unit of observation is one timed loop row (one network instance x one
  run); warm-up rows are never used. Mean, sample standard deviation (ddof = 1) and a
  two-sided 95 % Student-t interval of the mean, ``mean +- t(0.975, n-1) * sd / sqrt(n)``,
  treating the n = instances x runs rows as independent (runs of one instance are not
  quite independent, so the interval is if anything optimistic). No interval for n = 1.
* **Speedup** of a loop row: ``normaliser(instance) / (seconds / sim_seconds)``, paired by
  network instance. Normaliser ``"uninterrupted"``: the mean loop time per simulated second of
  ``brian2-cpp-uninterrupted`` on that instance (the Spark paper's baseline: one C++
  standalone execution of the whole run). ``"end-to-end"``: the same backend's
  ``(compile_cold + construct + loop seconds) / sim_seconds`` per instance (compile included;
  warm compile when no cold compile was measured). Speedups are ratios, so they are
  summarised by the geometric mean with a 95 % t-interval computed on log(speedup).
* **Break-even biological time** of backend B against the normaliser N at a given k: with
  one-off cost ``C = compile_cold + construct`` (mean seconds; compile_warm when no cold
  compile was recorded) and loop cost ``r`` (mean seconds per simulated second),
  B costs ``C_B + r_B T`` and N costs ``C_N + r_N T`` for T simulated seconds;
  ``T* = (C_B - C_N) / (r_N - r_B)`` is the biological time after which B's extra one-off
  cost is paid back by its faster loop. ``0`` when B is cheaper in both; ``inf`` (never)
  when B is dearer in both; when B is cheaper to build but slower per simulated second,
  T* is the time after which N catches up (verdict "ahead until").
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as _st

from benchmarks.results import COLUMNS, REJECTED, TEXT_COLUMNS, load_provenance, load_rows

NORMALISER_BACKEND = "brian2-cpp-uninterrupted"
NORMALISERS = ("uninterrupted", "end-to-end")
OK_STATUSES = ("ok", "truncated")
PROBLEM_STATUSES = ("truncated", "skipped", "failed", "rejected")
BUILD_PHASES = ("materialise", "compile_cold", "compile_warm", "construct")
PREFERRED_K = 10  # the k the summary talks about when it was measured


class ReportError(Exception):
    """A results directory that cannot be reported on (the message is one line)."""


class NoResults(ReportError, FileNotFoundError):
    """A results directory without result rows."""


# --------------------------------------------------------------------------- loading


def load(results_dir: Path) -> tuple[pd.DataFrame, dict]:
    """Rows and provenance of ``results_dir``; :class:`NoResults` (one line) when empty."""
    path = Path(results_dir)
    if not path.is_dir():
        raise NoResults(f"{path}: no such results directory (expected provenance.json and cells/*.csv)")
    try:
        frame = load_rows(path)
    except FileNotFoundError:
        raise NoResults(f"{path}: no result rows (cells/*.csv missing)") from None
    except KeyError as err:
        raise ReportError(f"{path}: cells/*.csv lack result columns ({err}); "
                          f"expected {', '.join(COLUMNS)}") from None
    if frame.empty:
        raise NoResults(f"{path}: no result rows (cells/*.csv hold only headers)")
    rejected = frame["status"] == "rejected"
    if rejected.all():
        reasons = list(frame.loc[rejected, "reason"])
        raise ReportError(f"{path}: no usable result rows, every cell or row was rejected: "
                          f"{reasons[0]}" + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""))
    frame = prepare(frame)
    try:
        provenance = load_provenance(path)
    except ValueError as err:  # MalformedResults: one line naming the file
        raise ReportError(str(err)) from None
    return frame, provenance


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as strings ('' for empty), numbers as numbers; idempotent."""
    frame = frame.copy()
    for col in ("sweep_id", "network", "backend", "loop", "dtype", "phase", "status", *TEXT_COLUMNS):
        frame[col] = frame[col].fillna("").astype(str) if col in frame else ""
    for col in ("instance", "k", "run", "threads", "n_chunks"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").fillna(0).astype(int)
    for col in COLUMNS:
        if col in ("seconds", "sim_seconds", "rtf", "peak_rss_mb") or col.startswith("latency_") \
                or col.startswith("fidelity_") and col != "fidelity_reference":
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


# --------------------------------------------------------------------------- formatting


def fmt(x: float | int | None, digits: int = 3) -> str:
    """A number for prose and tables: 3 significant digits, no exponent below 10^6."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,d}"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-4):
        return f"{x:.{digits - 1}e}"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


# --------------------------------------------------------------------------- statistics


def describe(values) -> dict[str, float]:
    """n, mean, sample sd and the 95 % Student-t interval of the mean."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return dict(n=0, mean=np.nan, std=np.nan, ci_low=np.nan, ci_high=np.nan)
    mean = float(v.mean())
    if n == 1:
        return dict(n=1, mean=mean, std=np.nan, ci_low=np.nan, ci_high=np.nan)
    sd = float(v.std(ddof=1))
    half = float(_st.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return dict(n=n, mean=mean, std=sd, ci_low=mean - half, ci_high=mean + half)


def describe_ratio(values) -> dict[str, float]:
    """Geometric mean of positive ratios with the 95 % t-interval computed on their logs."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    d = describe(np.log(v))
    return dict(n=d["n"], mean=math.exp(d["mean"]) if d["n"] else np.nan,
                gsd=math.exp(d["std"]) if d["n"] > 1 else np.nan,
                ci_low=math.exp(d["ci_low"]) if d["n"] > 1 else np.nan,
                ci_high=math.exp(d["ci_high"]) if d["n"] > 1 else np.nan)


# --------------------------------------------------------------------------- loop timings


def loop_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Timed loop rows (ok or truncated, finite) with ``per_sim_s`` = seconds / sim_seconds."""
    m = ((frame["phase"] == "loop") & frame["status"].isin(OK_STATUSES)
         & np.isfinite(frame["seconds"]) & (frame["sim_seconds"] > 0))
    rows = frame.loc[m].copy()
    rows["per_sim_s"] = rows["seconds"] / rows["sim_seconds"]
    rows["truncated"] = rows["status"] == "truncated"
    return rows


NOT_RECORDED = "not recorded"
"""The device label of rows written before devices were recorded."""


def backend_devices(frame: pd.DataFrame) -> dict[str, str]:
    """backend -> the device its rows say it ran on (``cpu``, ``gpu: NVIDIA H200``; several
    joined by " / "; :data:`NOT_RECORDED` for rows without one), from its timed loop rows
    when it has any, else from all its rows."""
    frame = frame if "device" in frame else frame.assign(device="")
    timed = loop_rows(frame)
    out = {}
    for backend, g in frame.groupby("backend", sort=True):
        t = timed[timed["backend"] == backend]
        values = sorted({str(v) for v in (t if len(t) else g)["device"] if str(v)})
        out[backend] = " / ".join(values) or NOT_RECORDED
    return out


def measured_devices(frame: pd.DataFrame) -> dict[str, str]:
    """:func:`backend_devices` of the backends with timed loop results (the lines drawn)."""
    timed = set(loop_rows(frame)["backend"])
    return {b: d for b, d in backend_devices(frame).items() if b in timed}


def machine_labels(frame: pd.DataFrame) -> pd.Series:
    """Each row's machine (:data:`NOT_RECORDED` for rows that do not say: results written
    before machines were recorded)."""
    if "machine" not in frame:
        return pd.Series(NOT_RECORDED, index=frame.index)
    return frame["machine"].replace("", NOT_RECORDED)


def unplaced_rows(frame: pd.DataFrame) -> pd.Series:
    """Rows of rejected cells (corrupt, foreign) that name no machine: they have no
    trustworthy one, so every machine's report names them and none is made for them."""
    if "status" not in frame:
        return pd.Series(False, index=frame.index)
    return (frame["status"] == "rejected") & (machine_labels(frame) == NOT_RECORDED)


def machines(frame: pd.DataFrame) -> list[str]:
    """The machines ``frame``'s rows were measured on (:func:`machine_labels`), not counting
    :func:`unplaced_rows`."""
    if "machine" not in frame:
        return [NOT_RECORDED]
    return sorted(set(machine_labels(frame)[~unplaced_rows(frame)]))


def is_gpu(device: str) -> bool:
    """Whether a device label (``backend_devices``) names a GPU."""
    return str(device).startswith("gpu")


def backend_comparisons(frame: pd.DataFrame) -> dict[str, str]:
    """backend -> its comparison class (``exact`` or ``native``) as its rows record it;
    rows written before the column existed are exact (only exact backends existed)."""
    if "comparison" not in frame:
        return dict.fromkeys(frame["backend"].unique(), "exact")
    out = {}
    for backend, g in frame.groupby("backend", sort=True):
        values = sorted({str(v) for v in g["comparison"] if str(v)})
        out[backend] = " / ".join(values) or "exact"
    return out


def _with_device(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``device`` and ``comparison`` columns after ``backend`` (a time of one
    comparison class is never divided by one of the other without the table saying so)."""
    devices = backend_devices(frame)
    classes = backend_comparisons(frame)
    table = table.copy()
    table.insert(1, "device", [devices.get(b, NOT_RECORDED) for b in table["backend"]])
    table.insert(2, "comparison", [classes.get(b, "exact") for b in table["backend"]])
    return table


def full_sim_seconds(frame: pd.DataFrame) -> float:
    """The full simulated duration of the sweep (the longest loop; open loop always runs it)."""
    sim = frame.loc[frame["phase"] == "loop", "sim_seconds"]
    sim = sim[np.isfinite(sim)]
    return float(sim.max()) if len(sim) else float("nan")


def _group_stats(rows: pd.DataFrame, value: str, keys: list[str], ratio: bool = False) -> pd.DataFrame:
    out = []
    for key, g in rows.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        d = describe_ratio(g[value]) if ratio else describe(g[value])
        rec = dict(zip(keys, key))
        rec.update(d)
        rec["instances"] = int(g["instance"].nunique())
        if "truncated" in g:
            rec["n_truncated"] = int(g["truncated"].sum())
            rec["sim_seconds_min"] = float(g["sim_seconds"].min())
        out.append(rec)
    return pd.DataFrame(out)


def loop_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per backend x loop x k: n, mean / std / 95 % CI of seconds per simulated second."""
    rows = loop_rows(frame)
    cols = ["backend", "device", "comparison", "loop", "k", "n", "instances", "mean", "std",
            "ci_low", "ci_high", "n_truncated", "sim_seconds_min"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    return _with_device(_group_stats(rows, "per_sim_s", ["backend", "loop", "k"]), frame)[cols]


LATENCY_COLUMNS = ["backend", "device", "k", "passes", "p50_s", "p90_s", "p99_s", "max_s", "tail_ratio"]


def latency_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per closed-loop backend x k: the per-chunk latency of a typical timed pass (median
    over passes of each pass's p50, p90 and p99), the worst chunk seen in any pass, and
    ``tail_ratio`` = p99 / p50 (1: every chunk alike; a controller feels the tail)."""
    rows = loop_rows(frame)
    rows = rows[(rows["loop"] == "closed") & np.isfinite(rows["latency_p50_s"])]
    devices = backend_devices(frame)
    out = [dict(backend=backend, device=devices.get(backend, NOT_RECORDED), k=int(k), passes=len(g),
                p50_s=float(g["latency_p50_s"].median()), p90_s=float(g["latency_p90_s"].median()),
                p99_s=float(g["latency_p99_s"].median()), max_s=float(g["latency_max_s"].max()),
                tail_ratio=float(g["latency_p99_s"].median() / g["latency_p50_s"].median()))
           for (backend, k), g in rows.groupby(["backend", "k"], sort=True)]
    return pd.DataFrame(out, columns=LATENCY_COLUMNS)


def _phase_mean_per_instance(frame: pd.DataFrame, backend: str, phase: str) -> pd.Series:
    m = ((frame["backend"] == backend) & (frame["phase"] == phase)
         & (frame["status"] == "ok") & np.isfinite(frame["seconds"]))
    return frame.loc[m].groupby("instance")["seconds"].mean()


def normaliser_per_instance(frame: pd.DataFrame, normaliser: str = "uninterrupted") -> pd.Series:
    """Seconds per simulated second of the normaliser, per network instance (may be empty)."""
    if normaliser not in NORMALISERS:
        raise ReportError(f"normaliser {normaliser!r}: expected one of {', '.join(NORMALISERS)}")
    rows = loop_rows(frame)
    rows = rows[rows["backend"] == NORMALISER_BACKEND]
    if rows.empty:
        return pd.Series(dtype=float, name="normaliser")
    if normaliser == "uninterrupted":
        return rows.groupby("instance")["per_sim_s"].mean().rename("normaliser")
    loop = rows.groupby("instance").agg(seconds=("seconds", "mean"), sim=("sim_seconds", "mean"))
    compile_s = _phase_mean_per_instance(frame, NORMALISER_BACKEND, "compile_cold")
    if compile_s.empty:
        compile_s = _phase_mean_per_instance(frame, NORMALISER_BACKEND, "compile_warm")
    construct = _phase_mean_per_instance(frame, NORMALISER_BACKEND, "construct")
    total = (loop["seconds"] + compile_s.reindex(loop.index)
             + construct.reindex(loop.index).fillna(0.0))
    return (total / loop["sim"]).dropna().rename("normaliser")


def normaliser_device(frame: pd.DataFrame) -> str:
    """The device the normaliser backend's rows ran on (``cpu`` unless they say otherwise:
    brian2-cpp-uninterrupted is a CPU backend)."""
    device = backend_devices(frame).get(NORMALISER_BACKEND, NOT_RECORDED)
    return "cpu" if device == NOT_RECORDED else device


def normaliser_label(normaliser: str) -> str:
    if normaliser == "end-to-end":
        return f"{NORMALISER_BACKEND} end-to-end (compile + construct + loop)"
    return f"{NORMALISER_BACKEND} (loop only)"


def speedup_rows(frame: pd.DataFrame, normaliser: str = "uninterrupted") -> pd.DataFrame:
    """Loop rows with ``speedup`` = normaliser(instance) / per_sim_s; rows of instances
    without a normaliser measurement are left out."""
    norm = normaliser_per_instance(frame, normaliser)
    rows = loop_rows(frame)
    if norm.empty:
        return rows.iloc[0:0].assign(normaliser=np.nan, speedup=np.nan)
    rows = rows.merge(norm.rename_axis("instance").reset_index(), on="instance", how="inner")
    rows["speedup"] = rows["normaliser"] / rows["per_sim_s"]
    return rows


def speedup_stats(frame: pd.DataFrame, normaliser: str = "uninterrupted") -> pd.DataFrame:
    """Per backend x loop x k: geometric mean speedup and its 95 % interval."""
    rows = speedup_rows(frame, normaliser)
    cols = ["backend", "device", "comparison", "loop", "k", "n", "instances", "mean", "gsd",
            "ci_low", "ci_high", "n_truncated", "sim_seconds_min"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    return _with_device(_group_stats(rows, "speedup", ["backend", "loop", "k"], ratio=True),
                        frame)[cols]


# --------------------------------------------------------------------------- compile / build


def compile_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per backend x build phase (compile_cold, compile_warm, construct): n, mean, CI."""
    m = (frame["phase"].isin(("compile_cold", "compile_warm", "construct"))
         & (frame["status"] == "ok") & np.isfinite(frame["seconds"]))
    rows = frame.loc[m]
    cols = ["backend", "device", "phase", "n", "instances", "mean", "std", "ci_low", "ci_high",
            "cache_hit"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    out = _group_stats(rows, "seconds", ["backend", "phase"])
    hits = rows.groupby(["backend", "phase"])["cache_hit"].agg(
        lambda s: "/".join(sorted({v for v in s if v})) or "")
    out = out.merge(hits.reset_index(), on=["backend", "phase"], how="left")
    return _with_device(out, frame)[cols]


def one_off_cost(frame: pd.DataFrame, backend: str) -> tuple[float, str]:
    """Mean compile (cold, else warm) + construct seconds of ``backend``, and which compile."""
    def mean(phase: str) -> float:
        m = ((frame["backend"] == backend) & (frame["phase"] == phase)
             & (frame["status"] == "ok") & np.isfinite(frame["seconds"]))
        return float(frame.loc[m, "seconds"].mean()) if m.any() else float("nan")

    compile_s, which = mean("compile_cold"), "cold"
    if math.isnan(compile_s):
        compile_s, which = mean("compile_warm"), "warm"
    construct = mean("construct")
    if math.isnan(compile_s) and math.isnan(construct):
        return float("nan"), ""
    return (0.0 if math.isnan(compile_s) else compile_s) + (0.0 if math.isnan(construct) else construct), which


def break_even(frame: pd.DataFrame) -> pd.DataFrame:
    """Break-even biological time of every backend x k against the normaliser backend."""
    cols = ["backend", "loop", "k", "one_off_s", "compile", "per_sim_s", "norm_one_off_s",
            "norm_per_sim_s", "break_even_s", "verdict"]
    stats = loop_stats(frame)
    norm = stats[stats["backend"] == NORMALISER_BACKEND]
    if norm.empty or stats.empty:
        return pd.DataFrame(columns=cols)
    r_n = float(norm["mean"].mean())
    c_n, _ = one_off_cost(frame, NORMALISER_BACKEND)
    out = []
    for _, s in stats[stats["backend"] != NORMALISER_BACKEND].iterrows():
        c_b, which = one_off_cost(frame, s["backend"])
        r_b = float(s["mean"])
        d_c, d_r = c_b - c_n, r_n - r_b
        if math.isnan(d_c) or math.isnan(d_r):
            t, verdict = float("nan"), "unknown (no compile or loop time)"
        elif d_r > 0:
            t, verdict = (d_c / d_r, "pays back after") if d_c > 0 else (0.0, "ahead from the start")
        elif d_c < 0:
            t, verdict = (d_c / d_r, "ahead until") if d_r < 0 else (float("inf"), "always ahead")
        else:
            t, verdict = float("inf"), "never pays back"
        out.append(dict(backend=s["backend"], loop=s["loop"], k=int(s["k"]), one_off_s=c_b,
                        compile=which, per_sim_s=r_b, norm_one_off_s=c_n, norm_per_sim_s=r_n,
                        break_even_s=t, verdict=verdict))
    return pd.DataFrame(out, columns=cols)


# --------------------------------------------------------------------------- network size


def network_sizes(frame: pd.DataFrame, provenance: dict | None = None) -> dict[str, int]:
    """network name -> neurons: the provenance's ``neurons`` for its own network (a sweep
    records it), else the built-in network of that name; networks of neither are left out."""
    provenance = provenance or {}
    sizes: dict[str, int] = {}
    for network in sorted(set(frame["network"])):
        if network == provenance.get("network") and provenance.get("neurons"):
            sizes[network] = int(provenance["neurons"])
            continue
        from adapters.spec import BUILTIN

        if network in BUILTIN:
            sizes[network] = sum(pop.size for pop in BUILTIN[network]().populations)
    return sizes


def with_sizes(frame: pd.DataFrame, provenance: dict | None = None) -> pd.DataFrame:
    """``frame`` with a ``neurons`` column (NaN where the size is unknown); one already
    there is kept."""
    if "neurons" in frame:
        return frame
    sizes = network_sizes(frame, provenance)
    return frame.assign(neurons=frame["network"].map(sizes).astype(float))


SIZE_COLUMNS = ["backend", "device", "loop", "k", "network", "neurons", "n", "instances",
                "mean", "std", "ci_low", "ci_high", "n_truncated"]


def size_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per backend x loop x k x network (``frame`` from :func:`with_sizes`): seconds per
    simulated second with its 95 % interval, and the network's neuron count. Open-loop rows
    have ``k`` 0 (their k is the whole run, which differs with the duration)."""
    rows = loop_rows(frame)
    if "neurons" not in rows:
        return pd.DataFrame(columns=SIZE_COLUMNS)
    rows = rows[np.isfinite(rows["neurons"])].copy()
    if rows.empty:
        return pd.DataFrame(columns=SIZE_COLUMNS)
    rows.loc[rows["loop"] == "open", "k"] = 0
    out = _group_stats(rows, "per_sim_s", ["backend", "loop", "k", "network", "neurons"])
    out["k"] = out["k"].astype(int)
    return _with_device(out, frame)[SIZE_COLUMNS].sort_values(
        ["backend", "loop", "k", "neurons"]).reset_index(drop=True)


def size_lines(sizes: pd.DataFrame) -> pd.DataFrame:
    """The lines of the cost-vs-size figure: per backend with more than one network size,
    one k (closed loop: the k measured at the most sizes, the largest among equals;
    open loop: the whole run). Empty when no backend was measured at two sizes."""
    parts = []
    for backend, g in sizes.groupby("backend", sort=True):
        counts = g.groupby(["loop", "k"])["neurons"].nunique()
        best = max(counts.items(), key=lambda item: (item[1], item[0][0] == "closed", item[0][1]))
        (loop, k), n_sizes = best
        if n_sizes > 1:
            parts.append(g[(g["loop"] == loop) & (g["k"] == k)].sort_values("neurons"))
    return pd.concat(parts, ignore_index=True) if parts else sizes.iloc[0:0]


# --------------------------------------------------------------------------- fidelity


def fidelity_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per backend vs its reference, over instances (one measurement per backend x instance):
    rate error (worst over instances), exact-match window (shortest), identical fraction
    (mean), SPIKE-distance and shuffled control (means), and their ratio."""
    cols = ["backend", "reference", "dtype", "instances", "rate_rel_error_max",
            "exact_window_ms_min", "identical_fraction_mean", "distance_mean",
            "distance_control_mean", "distance_ratio"]
    rows = frame[frame["fidelity_reference"] != ""]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    rows = rows.drop_duplicates(["backend", "instance", "dtype"])
    out = []
    for (backend, ref, dtype), g in rows.groupby(["backend", "fidelity_reference", "dtype"]):
        dist = float(g["fidelity_distance"].mean())
        ctrl = float(g["fidelity_distance_control"].mean())
        out.append(dict(
            backend=backend, reference=ref, dtype=dtype, instances=int(g["instance"].nunique()),
            rate_rel_error_max=float(g["fidelity_rate_rel_error_max"].max()),
            exact_window_ms_min=float(g["fidelity_exact_window_ms"].min()),
            identical_fraction_mean=float(g["fidelity_identical_fraction"].mean()),
            distance_mean=dist, distance_control_mean=ctrl,
            distance_ratio=dist / ctrl if ctrl > 0 else float("nan")))
    return pd.DataFrame(out, columns=cols)


# --------------------------------------------------------------------------- problems


def problem_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Skipped, failed and truncated cells with their reasons, plus grid cells with no rows
    (an unfinished sweep): one line per backend x loop x k x phase x status x reason."""
    cols = ["backend", "loop", "k", "phase", "status", "instances", "rows", "sim_seconds",
            "reason"]
    bad = frame[frame["status"].isin(PROBLEM_STATUSES)]
    out = []
    for (backend, loop, k, phase, status, reason), g in bad.groupby(
            ["backend", "loop", "k", "phase", "status", "reason"], dropna=False, sort=True):
        sim = g["sim_seconds"][np.isfinite(g["sim_seconds"])]
        out.append(dict(backend=backend, loop=loop or "",
                        k=str(int(k)) if phase in ("loop", "warmup") else "build",
                        phase=phase, status=status,
                        instances=", ".join(str(i) for i in sorted(g["instance"].unique())),
                        rows=len(g), sim_seconds=float(sim.min()) if len(sim) else float("nan"),
                        reason=str(reason)))
    # Grid cells never written: every closed-loop backend should have every closed-loop k
    # for every instance; every backend should have every instance.
    loops = frame[frame["phase"] == "loop"]
    instances = sorted(frame["instance"].unique())
    closed_ks = sorted(loops.loc[loops["loop"] == "closed", "k"].unique())
    for backend, g in loops.groupby("backend"):
        is_open = (g["loop"] == "open").all()
        ks = sorted(g["k"].unique()) if is_open else closed_ks
        have = set(zip(g["instance"], g["k"]))
        for k in ks:
            missing = [i for i in instances if (i, k) not in have]
            if missing:
                out.append(dict(backend=backend, loop="open" if is_open else "closed",
                                k=str(int(k)), phase="loop", status="missing",
                                instances=", ".join(str(i) for i in missing), rows=0,
                                sim_seconds=float("nan"),
                                reason="no rows for this cell (sweep unfinished or interrupted?)"))
    return pd.DataFrame(out, columns=cols)


# --------------------------------------------------------------------------- sweep shape


def sweep_shape(frame: pd.DataFrame, provenance: dict | None = None) -> dict:
    """Instances, runs, dtypes, threads, backends, ks and sweeps actually present in the rows
    a report may use (runs and the simulated duration from the provenance's settings when
    nothing was timed). Rejected rows are left out: they are listed with their reasons, and
    their values (k = 0 of a rejected cell's stand-in, a hostile k or sweep id) are not
    the sweep's."""
    frame = frame[frame["status"] != REJECTED]
    loops = frame[frame["phase"] == "loop"]
    timed = loops[loops["status"].isin(OK_STATUSES)]
    runs = timed.loc[timed["run"] >= 0, "run"]
    provenance = provenance or {}
    settings = provenance.get("settings") if isinstance(provenance.get("settings"), dict) else {}
    full = full_sim_seconds(frame)
    if not math.isfinite(full) and provenance.get("duration_ms"):
        full = float(provenance["duration_ms"]) * 1e-3
    return dict(
        instances=sorted(int(i) for i in frame["instance"].unique()),
        runs=int(runs.max()) + 1 if len(runs) else int(settings.get("runs", 0) or 0),
        dtypes=sorted(str(d) for d in frame["dtype"].unique()),
        threads=sorted(int(t) for t in frame["threads"].unique()),
        backends=list(dict.fromkeys(frame["backend"])),
        closed_ks=sorted(int(k) for k in loops.loc[loops["loop"] == "closed", "k"].unique()),
        open_backends=sorted(loops.loc[loops["loop"] == "open", "backend"].unique()),
        closed_backends=sorted(loops.loc[loops["loop"] == "closed", "backend"].unique()),
        full_sim_seconds=full,
        sweep_ids=sorted(str(i) for i in frame["sweep_id"].unique()),
        provenance_sweep_id=str(provenance.get("sweep_id", "")),
    )


def all_tables(frame: pd.DataFrame, normaliser: str = "uninterrupted",
               provenance: dict | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the report; ``sizes`` (the size study) only when some backend was
    measured on networks of more than one size."""
    frame = prepare(frame)
    sizes = size_stats(with_sizes(frame, provenance))
    return {
        "loop_times": loop_stats(frame),
        "latency": latency_stats(frame),
        "speedups": speedup_stats(frame, normaliser),
        "compile_times": compile_stats(frame),
        "break_even": break_even(frame),
        "fidelity": fidelity_table(frame),
        "problems": problem_cells(frame),
        **({"sizes": sizes} if not size_lines(sizes).empty else {}),
    }
