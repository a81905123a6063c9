"""``spark-bench``: the command line.

Sub-commands: ``spec show|validate|export`` (the shared network specification), ``run``
(the benchmark sweep), ``validate`` (cross-backend fidelity), ``roofline`` (events/s vs
the memory-bandwidth bound) and ``report``. Every user
error ends in one line on stderr naming the file/field and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from adapters.files import UnsafePath, staged_folder
from adapters.spec import BUILTIN, SpecError, dumps_json, dumps_toml, load_spec, materialise
from adapters.spec.estimate import check_fits, estimate
from adapters.spec.model import Distribution, NetworkSpec

from .arguments import UsageError, non_negative_int, positive_float, positive_int
from .terminal import printable


# --------------------------------------------------------------------------- spec


def _dropped_defaults(sim) -> str:
    """Say which default k were left out because they do not divide the run's steps."""
    from adapters.spec.model import DEFAULT_TIMESTEPS, default_timesteps

    kept = default_timesteps(sim.dt, sim.duration)
    if tuple(sim.timesteps) != kept or kept == DEFAULT_TIMESTEPS:
        return ""
    dropped = [k for k in DEFAULT_TIMESTEPS if k not in kept]
    return f" (the defaults that divide {sim.n_steps} steps; not {', '.join(map(str, dropped))})"


def describe_spec(spec: NetworkSpec, with_synapses: bool = True, source: str = "<spec>",
                  max_memory: float | None = None) -> str:
    """A readable summary: populations, input, projections with synapse counts, and the
    estimated memory; synapses are counted by materialising, which is refused (SpecError)
    when the estimate exceeds the available memory or ``max_memory`` bytes."""
    sim = spec.simulation
    est = estimate(spec)
    lines = [
        f"network {spec.name}: {printable(spec.description)}".rstrip(": "),
        f"  dt {sim.dt} ms, duration {sim.duration} ms ({sim.n_steps} steps), dtype {sim.dtype}, "
        f"k in {list(sim.timesteps)}{_dropped_defaults(sim)}, seed {sim.seed}, "
        f"input seed {sim.input_seed}",
        "populations:",
    ]
    for pop in spec.populations:
        params = ", ".join(f"{k}={v:g}" for k, v in vars(pop.model).items())
        lines.append(f"  {pop.name:<12} {pop.size:>7} x {pop.model.kind} ({params})")
    inp = spec.input
    lines.append(f"input:\n  {inp.name:<12} {inp.size:>7} Poisson sources at {inp.rate:g} Hz "
                 f"(feedback gain {inp.feedback_gain:g}, max {inp.max_rate:g} Hz)")
    lines.append(f"readouts: {', '.join(spec.readout_names)}")
    counts: dict[str, int] = {}
    materialise_s = None
    if with_synapses:
        check_fits(spec, source, max_memory)
        start = time.perf_counter()
        net = materialise(spec)
        materialise_s = time.perf_counter() - start
        counts = {p.name: p.n_synapses for p in net.projections}
    lines.append("projections:")
    for proj in spec.projections:
        line = (f"  {proj.name:<18} {proj.source:>8} -> {proj.target:<8} "
                f"{proj.connector.kind:<17} w={_dist(proj.weight)} d={_dist(proj.delay)}ms "
                f"{proj.synapse.short()}")
        if proj.name in counts:
            indegree = counts[proj.name] / spec.size_of(proj.target)
            line += f"  {counts[proj.name]:>9,d} synapses (mean in-degree {indegree:.1f})"
        if proj.plasticity is not None:
            line += f" +{proj.plasticity.kind}"
        lines.append(line)
    if spec.drives:
        lines.append("external Poisson drives (independent per neuron, open loop):")
        for drive in spec.drives:
            per_step = drive.n_sources * drive.rate * spec.simulation.dt * 1e-3
            lines.append(f"  {drive.name:<18} -> {drive.target:<8} {drive.n_sources} sources x "
                         f"{drive.rate:g} Hz, w={drive.weight:g} {drive.synapse.short()}  "
                         f"({per_step:.3g} spikes per neuron and step, "
                         f"{spec.size_of(drive.target) * drive.n_sources:,d} sources)")
    if counts:
        lines.append(f"total: {sum(p.size for p in spec.populations):,d} neurons, "
                     f"{sum(counts.values()):,d} synapses (instance seed {spec.simulation.seed}, "
                     f"materialised in {materialise_s:.2f} s)")
    lines += est.lines()
    return "\n".join(lines)


def _dist(dist: Distribution) -> str:
    return dist.short()


def cmd_spec_show(args: argparse.Namespace) -> int:
    print(describe_spec(load_spec(args.network), with_synapses=not args.no_synapses,
                        source=args.network, max_memory=args.max_memory))
    return 0


def cmd_spec_validate(args: argparse.Namespace) -> int:
    spec = load_spec(args.file)
    print(f"{args.file}: valid ({spec.name}: {len(spec.populations)} populations, "
          f"{len(spec.projections)} projections, {spec.simulation.n_steps} steps)")
    return 0


def cmd_spec_export(args: argparse.Namespace) -> int:
    spec = load_spec(args.network)
    text = dumps_toml(spec) if args.format == "toml" else dumps_json(spec)
    if args.out:
        from adapters.spec import write_spec_file

        out = Path(args.out)
        if out.is_dir():
            raise UsageError(f"--out {out}: is a directory; expected a file ending in .{args.format}")
        if out.suffix.lower() != f".{args.format}":
            raise UsageError(f"--out {out}: expected a file ending in .{args.format}")
        if (out.exists() or out.is_symlink()) and not args.force:
            raise UsageError(f"--out {out}: exists; add --force to overwrite it")
        write_spec_file(spec, out)
        print(f"wrote {out}")
    else:
        sys.stdout.write(text)
    return 0


# --------------------------------------------------------------------------- run


def _int_list(text: str) -> tuple[int, ...]:
    """Comma-separated whole numbers >= 1, each once (``10,10`` would measure a cell twice)."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one value")
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 1, got {min(values)}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected each value once, got {text!r}")
    return values


def _name_list(text: str) -> tuple[str, ...]:
    """Comma-separated names, each once; an empty list is refused (it must not silently
    mean 'the default')."""
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected each name once, got {text!r}")
    return values


def _threads(text: str) -> int:
    """Threads per backend: between 1 and the cores this process may use."""
    value = positive_int(text)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if value > (cores or 1):
        raise argparse.ArgumentTypeError(
            f"expected at most {cores} (the cores this process may use), got {value}")
    return value


def _memory(text: str) -> float:
    """A memory limit: bytes, or a number with K, M, G or T (binary units)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    scale = units.get(text[-1:].upper(), 1)
    number = text[:-1] if scale != 1 else text
    try:
        value = float(number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 8G or 512M, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a size > 0, got {text!r}")
    return value


def _known_backends(option: str, names: Sequence[str]) -> None:
    """Refuse unknown backend names (UsageError naming the option and the known names)."""
    from adapters.registry import BACKENDS

    unknown = [b for b in names if b not in BACKENDS]
    if unknown:
        raise UsageError(f"{option}: unknown {', '.join(unknown)}; known: {', '.join(BACKENDS)}")


def _seed(text: str) -> int:
    """A network instance seed: a whole number in [0, 2^62), as in a spec file."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if not 0 <= value < 2**62:
        raise argparse.ArgumentTypeError(f"expected a whole number in [0, 2^62), got {value}")
    return value


def _by_comparison(defaults: Sequence[str], comparison: str) -> tuple[str, ...]:
    """The default backends of a run in comparison class ``comparison`` (``exact``, the
    default, keeps the headline comparable with earlier reports; ``native`` the native
    labels; ``both``: every default label of either class)."""
    from adapters.registry import NATIVE_BACKENDS

    if comparison == "exact":
        return tuple(defaults)
    if comparison == "native":
        return tuple(NATIVE_BACKENDS)
    return (*defaults, *NATIVE_BACKENDS)


def cmd_run(args: argparse.Namespace) -> int:
    from adapters.registry import DEFAULT_BACKENDS, QUICK_BACKENDS

    from .results import MalformedResults
    from .sweep import PROFILES, SweepConfig, SweepError, run_sweep

    profile = "quick" if args.quick else "full"
    defaults = PROFILES[profile]
    spec = load_spec(args.network)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    backends = args.backends or _by_comparison(
        QUICK_BACKENDS if args.quick else DEFAULT_BACKENDS, args.comparison)
    check_fits(spec, args.network, args.max_memory,
               args.duration if args.duration is not None else defaults["duration_ms"],
               backends=backends)
    _known_backends("--backends", backends)
    duration = args.duration if args.duration is not None else defaults["duration_ms"]
    config = SweepConfig(
        network=args.network, backends=tuple(backends),
        timesteps=args.timesteps or defaults["timesteps"] or spec.simulation.timesteps,
        instances=args.instances or defaults["instances"], runs=args.runs or defaults["runs"],
        dtype=args.dtype or spec.simulation.dtype, threads=args.threads,
        duration_ms=duration, cell_budget_s=args.cell_budget or defaults["cell_budget_s"],
        unit_timeout_s=args.unit_timeout, profile=profile, cache_dir=args.cache_dir,
        measure_cold=not args.no_cold, fidelity=not args.no_fidelity)
    try:
        with sigterm_as_interrupt():
            outcome = run_sweep(config, out, executor=_executor(args))
    except (SweepError, MalformedResults) as err:  # e.g. a damaged provenance.json in --out
        raise UsageError(str(err)) from None
    except KeyboardInterrupt:
        print(f"spark-bench: every finished cell is kept in {out}; run the same command again "
              "to resume", file=sys.stderr)
        raise
    except OSError as err:  # a full disk, an unwritable --out: one line, no half-written cell
        raise UsageError(f"cannot write results: {err}") from None
    return 1 if outcome.failed else 0


def _executor(args: argparse.Namespace):
    """The executor ``--executor`` names (None: the local one). Ray is imported only here,
    only for ``--executor ray``: the local path never loads it."""
    if args.executor == "local":
        if args.address:
            raise UsageError("--address: only with --executor ray")
        return None
    if not args.address:
        raise UsageError("--executor ray: expected --address HOST:PORT of the cluster's head "
                         "(see the README's cluster recipe)")
    try:
        from .ray_executor import RayExecutor
    except ImportError as err:
        raise UsageError(f"--executor ray: Ray is not installed here ({err}); install it with "
                         "pip install 'spark-bench[ray]'") from None
    return RayExecutor(args.address, retries=args.retries)


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interrupt so that clean-up (ending worker process groups,
    releasing the results lock) runs as it does for Ctrl-C."""


@contextlib.contextmanager
def sigterm_as_interrupt():
    def interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    """Run every backend open loop on one instance and compare spikes with the reference.

    With ``--rates-vs-float64`` (float32 runs only) the reference backend also runs the
    same instance in float64, and every float32 run's per-population firing rates are
    compared with those float64 rates (tolerance: the float32 rate threshold, 2 %)."""
    from adapters.base import BackendFailed, BackendOptions, BackendUnavailable, UnsupportedSpec
    from adapters.registry import load_backend

    from .fidelity import (Thresholds, activity, compare_spikes, format_activity_table,
                           format_rate_table, format_table)
    from .protocol import record_open_loop_spikes

    spec = load_spec(args.network).overridden(dtype=args.dtype, duration=args.duration)
    check_fits(spec, args.network, args.max_memory, backends=(*args.backends, args.reference))
    sim = spec.simulation
    if args.rates_vs_float64 and sim.dtype != "float32":
        raise UsageError("--rates-vs-float64 compares float32 runs with a float64 reference: "
                         f"add --dtype float32 (this run is {sim.dtype})")
    backends = args.backends
    _known_backends("--backends", backends)
    if args.reference:
        _known_backends("--reference", (args.reference,))
    reference = args.reference or backends[0]
    if reference not in backends:
        backends = (reference, *backends)
    net = materialise(spec, args.seed)
    sizes = {p.name: p.size for p in net.populations}
    options = BackendOptions(threads=args.threads, cache_dir=Path(args.cache_dir))

    def record(names, network) -> dict:
        out = {}
        for name in names:
            print(f"running {name} ({spec.name}, {network.dtype}, {sim.duration:g} ms) ...",
                  file=sys.stderr)
            try:
                out[name] = record_open_loop_spikes(load_backend(name), network, options)
            except (BackendUnavailable, BackendFailed, UnsupportedSpec) as err:
                print(f"  {name}: skipped: {err}", file=sys.stderr)
        return out

    recorded = record(backends, net)
    if reference not in recorded:
        raise UsageError(f"reference backend {reference} could not run")
    agreements = [compare_spikes(recorded[reference], recorded[name], sizes, net.n_steps, net.dt,
                                 labels=(reference, name))
                  for name in recorded if name != reference]
    thresholds = Thresholds.for_dtype(sim.dtype)
    if agreements:
        print(format_table(agreements))
    print(f"\nactivity ({sim.duration:g} ms, instance seed {net.instance_seed}):")
    print(format_activity_table({name: activity(spikes, sizes, net.n_steps, net.dt)
                                 for name, spikes in recorded.items()}))
    failures = [f"{a.candidate}: {reason}" for a in agreements for reason in a.failures(thresholds)]
    if args.rates_vs_float64:
        reference64 = record([reference], net.with_dtype("float64")).get(reference)
        if reference64 is None:
            raise UsageError(f"float64 reference backend {reference} could not run")
        rate_thresholds = Thresholds.for_dtype("float32")
        tolerance = rate_thresholds.rate_rel_error_max
        vs64 = [compare_spikes(reference64, recorded[name], sizes, net.n_steps, net.dt,
                               labels=(f"{reference} float64", f"{name} float32"))
                for name in recorded]
        print(f"\nfiring rates, float32 vs float64 ({reference}), {sim.duration:g} ms, "
              f"tolerance {100.0 * tolerance:g} %:")
        print(format_rate_table(vs64, tolerance))
        failures += [f"{a.candidate} vs {a.reference}: {reason}"
                     for a in vs64 for reason in a.failures(rate_thresholds)]
    for line in failures:
        print(f"BELOW THRESHOLD {line}")
    return 1 if failures else 0


# --------------------------------------------------------------------------- report


REPORT_FILES = tuple(f"{stem}.{ext}" for stem in ("report", "compare", "size-study")
                     for ext in ("html", "md"))
"""What a report folder of an earlier version holds (it has no marker yet): such a folder
may be replaced by a new report."""


def cmd_report(args: argparse.Namespace) -> int:
    import reports

    dirs = [Path(d) for d in args.results]
    for d in dirs:
        if not (d / "cells").is_dir():
            raise UsageError(f"{d}: not a results directory (expected {d}/cells/*.csv from spark-bench run)")
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    bad = [f for f in formats if f not in ("html", "md")]
    if bad:
        raise UsageError(f"--format: expected html and/or md, got {', '.join(bad)}")
    from .results import MalformedResults

    if args.size_study and len(dirs) < 2:
        raise UsageError("--size-study: expected two or more results directories (one per "
                         "network size, e.g. of paper8 and paper8x8)")
    if not args.size_study and len(dirs) > 2:
        raise UsageError(f"expected one results directory (a report) or two (a comparison), got "
                         f"{len(dirs)}; add --size-study to draw cost vs network size")
    if args.size_study:
        out = Path(args.out) if args.out else dirs[0] / "size-study"
        write = lambda where: reports.size_study(dirs, where, formats=formats)  # noqa: E731
    elif len(dirs) == 1:
        out = Path(args.out) if args.out else dirs[0] / "report"
        write = lambda where: reports.build_report(  # noqa: E731
            dirs[0], where, formats=formats, normaliser=args.normaliser)
    else:
        out = Path(args.out) if args.out else dirs[1] / f"compare-{dirs[0].name}"
        write = lambda where: reports.compare(dirs[0], dirs[1], where)  # noqa: E731
    for d in dirs:
        if out.resolve() == d.resolve() or d.resolve().is_relative_to(out.resolve()):
            raise UsageError(f"--out {out}: holds the results directory {d}; a report is "
                             "written as a folder of its own (the default is inside it)")
    try:  # built in a folder beside ``out``, moved into place whole (adapters.files)
        with staged_folder(out, legacy=REPORT_FILES) as staging:
            written = {kind: out / path.relative_to(staging) for kind, path in write(staging).items()}
    except (reports.ReportError, MalformedResults) as err:
        raise UsageError(str(err)) from None
    for kind, path in written.items():
        print(f"{kind:>10}: {path}")
    return 0


# --------------------------------------------------------------------------- parser


# --------------------------------------------------------------------------- roofline


def cmd_validate_native(args: argparse.Namespace) -> int:
    """The native class's statistical fidelity (:mod:`.native_fidelity`): per-population rate
    and ISI CV over ``--seeds`` instances, each native backend against the exact
    reference's seed-to-seed spread; exit 1 when a statistic fails."""
    from adapters.base import BackendFailed, BackendOptions, BackendUnavailable, UnsupportedSpec
    from adapters.registry import BACKENDS, NATIVE_BACKENDS, entry, load_backend

    from .fidelity import activity
    from .native_fidelity import format_checks, judge

    if args.backends is None:
        args.backends = tuple(n for n in NATIVE_BACKENDS if not BACKENDS[n].capabilities.needs_gpu)
    from .protocol import record_open_loop_spikes

    spec = load_spec(args.network).overridden(dtype=args.dtype, duration=args.duration)
    check_fits(spec, args.network, args.max_memory, backends=(*args.backends, args.reference))
    _known_backends("--backends", args.backends)
    _known_backends("--reference", (args.reference,))
    if entry(args.reference).comparison != "exact":
        raise UsageError(f"--reference {args.reference}: not an exact-class backend")
    if args.seeds < 2:
        raise UsageError(f"--seeds {args.seeds}: the seed-to-seed spread needs at least 2")
    options = BackendOptions(threads=args.threads, cache_dir=Path(args.cache_dir))
    seeds = [spec.simulation.seed + i for i in range(args.seeds)]
    sizes = None

    def activities(name: str) -> list:
        nonlocal sizes
        out = []
        for seed in seeds:
            net = materialise(spec, seed)
            sizes = {p.name: p.size for p in net.populations}
            print(f"running {name} ({spec.name}, seed {seed}, {net.dtype}, "
                  f"{spec.simulation.duration:g} ms) ...", file=sys.stderr)
            spikes = record_open_loop_spikes(load_backend(name), net, options)
            out.append(activity(spikes, sizes, net.n_steps, net.dt))
        return out

    try:
        exact = activities(args.reference)
    except (BackendUnavailable, BackendFailed, UnsupportedSpec) as err:
        raise UsageError(f"the exact reference cannot run this network: {err}") from None
    failed = False
    for name in args.backends:
        try:
            native = activities(name)
        except (BackendUnavailable, BackendFailed, UnsupportedSpec) as err:
            print(f"{name}: skipped: {err}")
            continue
        checks = judge(exact, native)
        print(format_checks(name, args.reference, checks, len(seeds)))
        failed = failed or not all(c.passed for c in checks)
    return 1 if failed else 0


def cmd_roofline(args: argparse.Namespace) -> int:
    """Events/s of each backend against the measured memory-bandwidth bound."""
    from adapters.base import BackendOptions, BackendUnavailable
    from adapters.registry import load_backend

    from . import roofline
    from .worker import pin_to_cores

    _known_backends("--backends", args.backends)
    _known_backends("--reference", (args.reference,))
    spec = load_spec(args.network).overridden(dtype=args.dtype, duration=args.duration)
    sim = spec.simulation
    net = materialise(spec)
    backends = {}
    for name in args.backends:
        try:
            backends[name] = load_backend(name)
        except BackendUnavailable as err:
            print(f"{name}: skipped ({err.reason})", file=sys.stderr)
    if not backends:
        raise UsageError("no requested backend is available")
    reference = load_backend(args.reference)
    options = BackendOptions(threads=1, cache_dir=Path(args.cache_dir))
    pin_to_cores(1)  # the figures are per core: one core for every backend, as in a sweep
    print(f"{spec.name}, {net.dtype}, {sim.duration:g} ms, {net.n_synapses} synapses; "
          "open loop, pinned to 1 core; measuring...", file=sys.stderr)
    bandwidth, rows = roofline.measure(net, backends, reference, options, runs=args.runs)
    print(roofline.format_table(bandwidth, rows, net.dtype))
    if args.out:
        path = roofline.write_csv(Path(args.out), spec.name, net.dtype, bandwidth, rows)
        print(f"wrote {path} (spark-bench report {args.out} shows it)", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spark-bench",
        description="Honest cross-simulator SNN benchmarks (closed loop, same network, same inputs).")
    sub = parser.add_subparsers(dest="command", required=True)

    spec = sub.add_parser("spec", help="show, validate or export a network specification")
    spec_sub = spec.add_subparsers(dest="spec_command", required=True)
    show = spec_sub.add_parser("show", help="readable summary of a built-in network or spec file")
    show.add_argument("network", help=f"built-in name ({', '.join(BUILTIN)}) or a .toml/.json file")
    show.add_argument("--max-memory", type=_memory, default=None,
                     help="refuse a network whose estimated memory exceeds this (e.g. 8G; "
                          "default: the memory available now)")
    show.add_argument("--no-synapses", action="store_true",
                      help="skip materialisation (no synapse counts)")
    show.set_defaults(func=cmd_spec_show)
    val = spec_sub.add_parser("validate", help="check a spec file; exit 2 with the first error")
    val.add_argument("file")
    val.set_defaults(func=cmd_spec_validate)
    export = spec_sub.add_parser("export", help="write a network as TOML or JSON")
    export.add_argument("network")
    export.add_argument("--format", choices=("toml", "json"), default="toml")
    export.add_argument("--out", help="file to write (default: stdout)")
    export.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    export.set_defaults(func=cmd_spec_export)

    run = sub.add_parser("run", help="benchmark sweep: backends x k x instances x runs")
    run.add_argument("network", nargs="?", default="paper8",
                     help="built-in name or spec file (default: paper8)")
    run.add_argument("--backends", type=_name_list, help="comma-separated backend labels")
    run.add_argument("--comparison", choices=("exact", "native", "both"), default="exact",
                     help="comparison class of the default backends (exact: the spec's pinned "
                          "semantics, spike-identical; native: each simulator's own models "
                          "and generators; both); every row names its class (default exact)")
    run.add_argument("--timesteps", type=_int_list,
                     help="execution timesteps k, comma-separated (default: the spec's)")
    run.add_argument("--instances", type=positive_int,
                     help="network instances (connectivity seeds)")
    run.add_argument("--runs", type=positive_int, help="timed runs per instance and k")
    run.add_argument("--dtype", choices=("float32", "float64"))
    run.add_argument("--threads", type=_threads, default=1, help="threads per backend (default 1)")
    run.add_argument("--duration", type=positive_float,
                     help="simulated ms per run (default: the spec's)")
    run.add_argument("--cell-budget", type=positive_float,
                     help="wall seconds per cell before truncating")
    run.add_argument("--unit-timeout", type=positive_float, default=3600.0,
                     help="kill a backend's worker after this many seconds (default 3600)")
    run.add_argument("--quick", action="store_true",
                     help="a few minutes on a laptop: 1 instance, 2 runs, 100 ms, k=1,10,100,1000")
    run.add_argument("--no-cold", action="store_true", help="skip cold-compile measurements")
    run.add_argument("--no-fidelity", action="store_true", help="skip the fidelity check")
    run.add_argument("--cache-dir", default=".cache/spark-bench",
                     help="build directories and compilation caches")
    run.add_argument("--out", default="results/latest", help="results directory")
    run.add_argument("--executor", choices=("local", "ray"), default="local",
                     help="where units run: one after another on this machine (default), or "
                          "on a Ray cluster (--address), one timing unit per node at a time")
    run.add_argument("--address", help="with --executor ray: the cluster head, HOST:PORT")
    run.add_argument("--retries", type=non_negative_int, default=1,
                     help="with --executor ray: tries again of a unit lost with its node (default 1)")
    run.add_argument("--max-memory", type=_memory, default=None,
                     help="refuse a network whose estimated memory exceeds this (e.g. 8G; "
                          "default: the memory available now)")
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="fidelity: compare every backend's spikes with a reference")
    val.add_argument("network", help="built-in name or spec file")
    val.add_argument("--backends", type=_name_list, default=("brian2-cpp-uninterrupted", "spark"),
                     help="comma-separated backends (default: brian2-cpp-uninterrupted,spark)")
    val.add_argument("--reference", help="reference backend (default: the first of --backends)")
    val.add_argument("--dtype", choices=("float32", "float64"))
    val.add_argument("--duration", type=positive_float, help="simulated ms (default: the spec's)")
    val.add_argument("--seed", type=_seed, help="network instance seed (default: the spec's)")
    val.add_argument("--threads", type=_threads, default=1)
    val.add_argument("--cache-dir", default=".cache/spark-bench")
    val.add_argument("--max-memory", type=_memory, default=None,
                     help="refuse a network whose estimated memory exceeds this (e.g. 8G; "
                          "default: the memory available now)")
    val.add_argument("--rates-vs-float64", action="store_true",
                     help="with --dtype float32: also run the reference backend in float64 and "
                          "compare every float32 run's per-population rates with it (fails above 2 %%)")
    val.set_defaults(func=cmd_validate)

    nat = sub.add_parser("validate-native", help="native class: rates and ISI CV over seeds "
                                                 "against the exact class's spread")
    nat.add_argument("network", help="built-in name or spec file")
    nat.add_argument("--backends", type=_name_list, default=None,
                     help="native-class backends (default: every one that runs on a CPU, "
                          "nest-native and brainpy; one not installed is skipped with the "
                          "reason)")
    nat.add_argument("--reference", default="spark-native",
                     help="exact-class reference (default: spark-native, spike-identical to "
                          "Brian2 in float64 and with no build per seed)")
    nat.add_argument("--seeds", type=positive_int, default=5,
                     help="network instances per class (default 5)")
    nat.add_argument("--dtype", choices=("float32", "float64"))
    nat.add_argument("--duration", type=positive_float, help="simulated ms (default: the spec's)")
    nat.add_argument("--threads", type=_threads, default=1)
    nat.add_argument("--cache-dir", default=".cache/spark-bench")
    nat.add_argument("--max-memory", type=_memory, default=None,
                     help="refuse a network whose estimated memory exceeds this")
    nat.set_defaults(func=cmd_validate_native)

    roof = sub.add_parser("roofline", help="synaptic events/s of each backend vs the measured "
                                           "memory-bandwidth bound")
    roof.add_argument("network", nargs="?", default="paper8")
    roof.add_argument("--backends", type=_name_list,
                      default=("spark", "spark-native", "brian2-cpp-uninterrupted"))
    roof.add_argument("--reference", default="spark-native",
                      help="backend whose recorded spikes give the event count")
    roof.add_argument("--dtype", choices=["float32", "float64"], default=None)
    roof.add_argument("--duration", type=positive_float, default=None, help="simulated ms")
    roof.add_argument("--runs", type=positive_int, default=3)
    roof.add_argument("--cache-dir", default=".cache/spark-bench")
    roof.add_argument("--out", default=None,
                      help="also write roofline.csv into this results directory (for its report)")
    roof.set_defaults(func=cmd_roofline)

    rep = sub.add_parser("report", help="figures, tables and an HTML/Markdown report; two dirs compare")
    rep.add_argument("results", nargs="+", help="a results directory (two: compare A vs B; "
                                                "with --size-study, one per network size)")
    rep.add_argument("--size-study", action="store_true",
                     help="one page over several results directories of networks of different "
                          "sizes (e.g. paper8 and paper8x8): cost vs network size per backend")
    rep.add_argument("--out", help="output directory (default: RESULTS/report)")
    rep.add_argument("--format", default="html,md", help="html,md (default both)")
    rep.add_argument("--normaliser", choices=("uninterrupted", "end-to-end"), default="uninterrupted",
                     help="speedups relative to Brian2 C++ uninterrupted loop, or end-to-end (compile included)")
    rep.set_defaults(func=cmd_report)

    from benchmarks.control.__main__ import add_arguments as add_cartpole_arguments
    from benchmarks.control.__main__ import run as run_cartpole

    cart = sub.add_parser("cartpole", help="a spiking agent in closed loop with CartPole-v1: "
                                           "learn (many agents) or bench (per backend and k)")
    add_cartpole_arguments(cart)
    cart.set_defaults(func=run_cartpole)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SpecError, UsageError, UnsafePath) as err:
        print(f"spark-bench: error: {printable(str(err))}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a read-only folder: the environment's, one line
        where = f"{err.filename}: " if err.filename else ""
        print(f"spark-bench: error: {printable(where + (err.strerror or str(err)))}",
              file=sys.stderr)
        return 1
    except Terminated:
        print("spark-bench: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("spark-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
