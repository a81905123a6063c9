"""Where and how a sweep ran: hardware, software versions, commit, command line."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("spark-bench", "jax", "jaxlib", "brian2", "brian2cuda", "numpy", "cython",
            "nest-simulator", "pandas", "matplotlib", "asv")
RESULT_PACKAGES = frozenset(PACKAGES) - {"pandas", "matplotlib", "asv"}
"""The packages whose version can change what a sweep measures (a resume must match them)."""
ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_model() -> str:
    """The first GPU nvidia-smi reports, or '' (no GPU is fine: that is recorded too)."""
    if shutil.which("nvidia-smi") is None:
        return ""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = ""
    return found


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    commit = out.stdout.strip()
    return commit + ("+dirty" if commit and dirty.stdout.strip() else "")


def collect(**extra: object) -> dict:
    """The provenance record of a sweep (``extra`` adds sweep settings)."""
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "git_commit": git_commit(ROOT),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": gpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
        **extra,
    }
