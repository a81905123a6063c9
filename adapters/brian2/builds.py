"""Build directories, locks and logs for the compiled Brian2 modes.

One directory per (network digest, build flavour, dtype, threads, recording) under
``options.cache_dir / "brian2"``; ``cold=True`` gives a fresh, uniquely named empty
directory that is never reused (cold builds are kept for inspection; delete them with the
cache). A build holds an exclusive ``flock`` on ``<dir>.lock`` so two processes never
write one project at once. A directory whose ``spark_build.ok`` stamp matches the build
key is reused: that is the *warm* path (no code generation, no compiler), reported with
``cache_hit=True`` and zero ``codegen_compile``. Any other directory is emptied and built
from scratch (the stamp is written last, so a missing stamp means an unfinished build).

The build flavour, not the mode, names the directory where two modes compile the very
same project: ``brian2-cpp`` and ``brian2-cpp-uninterrupted`` share ``cpp-resident``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..base import BackendOptions
from ..spec.materialise import MaterialisedNetwork

STAMP = "spark_build.ok"
TRANSLATION = 7
"""Version of the spec -> Brian2 object mapping (2: merged groups/pathways, see
:func:`.translate.merge_plan`; 3: synaptic weight named ``w_syn``, AdEx/Izhikevich updates
in the order the formulas read; 4: conductance receptors, drives, a digest that covers the
spec's parameters; 5: numbered object names, host I/O sources by relative path; 6: plastic
pathways, the resident loop's modulator command; 7: one thread is ``openmp_threads = 0``,
Brian2's own single-threaded build); part of
the build key, so older projects are rebuilt."""


@dataclass(frozen=True)
class BuildDir:
    path: Path
    cold: bool

    @property
    def log(self) -> Path:
        return self.path / "spark_build.log"

    def is_built(self, key: dict) -> bool:
        stamp = self.path / STAMP
        if self.cold or not stamp.exists():
            return False
        try:
            return json.loads(stamp.read_text()) == key
        except ValueError:
            return False

    def mark_built(self, key: dict) -> None:
        (self.path / STAMP).write_text(json.dumps(key, sort_keys=True))

    def clear(self) -> None:
        """Empty the directory before a build: a project without its stamp may hold the
        remains of a build cut short (an object file half-written when the compiler was
        killed), and make, trusting timestamps, would link it ("file too short")."""
        for child in self.path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def build_key(net: MaterialisedNetwork, flavour: str, options: BackendOptions, **extra) -> dict:
    return {"digest": net.digest(), "flavour": flavour, "dtype": net.dtype,
            "threads": int(options.threads), "record": bool(options.record_spikes),
            "dt": net.dt, "spec": net.spec.name, "translation": TRANSLATION, **extra}


def build_dir(net: MaterialisedNetwork, flavour: str, options: BackendOptions) -> BuildDir:
    root = Path(options.cache_dir) / "brian2"
    rec = "-rec" if options.record_spikes else ""
    name = f"{net.spec.name}-{net.digest()[:16]}-{flavour}-{net.dtype}-t{int(options.threads)}{rec}"
    if options.cold:
        name += f"-cold-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return BuildDir(path=path.resolve(), cold=options.cold)


@contextlib.contextmanager
def locked(bdir: BuildDir) -> Iterator[None]:
    with open(str(bdir.path) + ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
