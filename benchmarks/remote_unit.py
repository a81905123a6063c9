"""Run one sweep unit on a cluster node and send its result files back as they are written.

This is the node's half of the Ray executor (:mod:`benchmarks.ray_executor`), kept free of
Ray so it can be tested as a plain generator. A node has no view of the sweep's results
directory, so the driver hands it a :class:`Seed`: the unit, the unit's finished cells (so
that they are skipped, as a resumed local sweep skips them), the fidelity reference's spikes
when they exist, and the spec file's *text* when the network is a file (validated again
here by ``load_spec``, as any spec is; the unit's content digest must still match). The unit
runs in a local results directory through exactly the worker a local sweep uses (same
pinning, same process-group hygiene, same unit timeout); after every event of the worker
the files it added or changed travel back, so a node that dies mid-unit loses only the cell
it was measuring.

A node whose code or simulator versions differ from the sweep's refuses the unit (a row
measured by other code must not join the store).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath

from adapters.spec import BUILTIN

from . import provenance
from .protocol import Unit
from .unit_process import worker_events

RESULT_FILE_DIRS = {"cells": ".csv", "spikes": ".npz"}
"""The only files a node may send back: ``cells/<id>.csv`` and ``spikes/<id>.npz``."""

LOG_TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class Seed:
    """Everything a node needs to run one unit: plain data (it travels to the node)."""

    unit: dict  # dataclasses.asdict(Unit)
    files: dict[str, bytes] = field(default_factory=dict)  # results-relative path -> bytes
    spec_file: tuple[str, str] | None = None  # (file name, text) when the network is a file
    expected: dict = field(default_factory=dict)  # {"git_commit": ..., "versions": {...}}


def result_path(relative: str) -> PurePosixPath:
    """``relative`` as a results-directory path a node may write (``cells/x.csv``,
    ``spikes/x.npz``); ValueError for anything else (another folder, ``..``, a suffix)."""
    path = PurePosixPath(relative)
    parts = path.parts
    if (len(parts) != 2 or parts[0] not in RESULT_FILE_DIRS or path.suffix != RESULT_FILE_DIRS[parts[0]]
            or parts[1].startswith(".") or "\\" in relative):
        raise ValueError(f"{relative!r}: not a results file (expected cells/*.csv or spikes/*.npz)")
    return path


def mismatch(expected: dict, here: dict) -> str | None:
    """Why this node's code differs from the sweep's (commit, result-relevant versions)."""
    said = []
    if expected.get("git_commit") and here.get("git_commit") != expected["git_commit"]:
        said.append(f"commit {here.get('git_commit') or '?'} here, {expected['git_commit']} in the sweep")
    for name, version in sorted((expected.get("versions") or {}).items()):
        if here.get("versions", {}).get(name, "") != version:
            said.append(f"{name} {here.get('versions', {}).get(name) or 'missing'} here, "
                        f"{version or 'missing'} in the sweep")
    return "; ".join(said) or None


def _scan(results: Path, sent: dict[str, bytes]) -> dict[str, bytes]:
    """Result files in ``results`` that are new or changed since ``sent`` (updated)."""
    changed = {}
    for folder, suffix in RESULT_FILE_DIRS.items():
        for path in sorted((results / folder).glob(f"*{suffix}")):
            rel = f"{folder}/{path.name}"
            data = path.read_bytes()
            if sent.get(rel) != data:
                changed[rel] = sent[rel] = data
    return changed


def run_on_node(seed: Seed, timeout_s: float) -> Iterator[dict]:
    """Run the seeded unit here. Yields ``{"kind": "progress", "event": ..., "files": ...}``
    after each worker event and last ``{"kind": "end", ...}`` with the worker's exit event
    (or ``refused``: why this node would not run it), the tail of its log, this machine's
    record and the node-side seconds (``task_s``) around the worker's own (``exit.seconds``)."""
    started = time.time()
    here = provenance.machine_record()
    end = {"kind": "end", "machine": here, "task_started": started}
    refused = mismatch(seed.expected, here)
    if refused:
        yield {**end, "refused": f"{here['machine']}: {refused}", "task_s": time.time() - started}
        return
    unit = Unit(**{**seed.unit, "timesteps": tuple(seed.unit["timesteps"])})
    if not Path(unit.cache_dir).is_absolute():  # relative to the checkout, as on the driver
        unit = replace(unit, cache_dir=str(provenance.ROOT / unit.cache_dir))
    Path(unit.cache_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="remote-unit-", dir=unit.cache_dir))
    try:
        results = work / "results"
        sent: dict[str, bytes] = {}
        for rel, data in seed.files.items():
            target = results / result_path(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            sent[rel] = data
        if seed.spec_file is not None:
            name, text = seed.spec_file
            spec_path = work / "spec" / PurePosixPath(name).name
            spec_path.parent.mkdir(parents=True)
            spec_path.write_text(text)
            unit = replace(unit, network=str(spec_path))
        log_path = work / "unit.log"
        exit_event: dict = {}
        for event in worker_events(unit, results, log_path, timeout_s, cwd=provenance.ROOT):
            if event["event"] == "exit":
                exit_event = event
                break
            yield {"kind": "progress", "event": event, "files": _scan(results, sent)}
        files = _scan(results, sent)
        log = log_path.read_bytes()[-LOG_TAIL_BYTES:].decode(errors="replace") if log_path.exists() else ""
        yield {**end, "exit": exit_event, "files": files, "log": log,
               "task_s": time.time() - started}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def seed_for(unit: Unit, results_dir: Path, cells: list[str], reference_spikes: Path | None,
             expected: dict) -> Seed:
    """The driver's side: a :class:`Seed` for ``unit`` from the results directory (its
    finished ``cells``, the reference's spike file when there is one, the spec file's text)."""
    files = {f"cells/{c}.csv": (results_dir / "cells" / f"{c}.csv").read_bytes() for c in cells}
    if reference_spikes is not None and reference_spikes.exists():
        files[f"spikes/{reference_spikes.name}"] = reference_spikes.read_bytes()
    network = Path(unit.network)
    spec_file = None if unit.network in BUILTIN else (network.name, network.read_text())
    return Seed(unit=asdict(unit), files=files, spec_file=spec_file, expected=expected)
