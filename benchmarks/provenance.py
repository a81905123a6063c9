"""Where and how a sweep ran: hardware, software versions, commit, command line."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

CORE_PACKAGES = ("spark-bench", "numpy", "jax", "jaxlib")
"""What every sweep runs on, whatever its backends (the input stream, the spec, Spark)."""
REPORT_PACKAGES = ("pandas", "matplotlib", "asv")
"""Recorded, but they draw results rather than measure them."""


@cache
def packages() -> tuple[str, ...]:
    """Every package provenance records: the core, each backend's own (its registry
    entry's ``packages``, so a new backend cannot be half-added) and the report's. The
    registry is imported here, not at module level: it imports JAX (Spark's tables), and
    reading results must not."""
    from adapters.registry import BACKENDS

    return tuple(dict.fromkeys((*CORE_PACKAGES,
                                *(p for e in BACKENDS.values() for p in e.packages),
                                *REPORT_PACKAGES)))


def result_packages() -> frozenset[str]:
    """The packages whose version can change what a sweep measures (a resume must match)."""
    return frozenset(packages()) - set(REPORT_PACKAGES)


ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


NVIDIA_SMI_TIMEOUT_S = 10


def _run(argv: list[str]) -> str:
    """stdout of ``argv`` ('' when the program is missing, fails or hangs)."""
    if shutil.which(argv[0]) is None:
        return ""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout if out.returncode == 0 else ""


def parse_gpu_query(text: str) -> tuple[str, str]:
    """(model, driver) of the first GPU in ``nvidia-smi --query-gpu=name,driver_version
    --format=csv,noheader`` output; ('', '') when it lists none."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "", ""
    name, _, driver = lines[0].rpartition(",")
    return (name.strip(), driver.strip()) if name else (driver.strip(), "")


def parse_cuda_version(smi_header: str, nvcc: str) -> str:
    """The CUDA version: the one nvidia-smi's header names (``CUDA Version: 13.0``, what the
    driver supports), else the toolkit's (``nvcc --version``: ``release 13.0``); '' when
    neither says."""
    found = re.search(r"CUDA Version\s*:\s*([0-9][0-9.]*)", smi_header)
    if found:
        return found.group(1)
    found = re.search(r"release\s+([0-9][0-9.]*)", nvcc)
    return found.group(1) if found else ""


@cache
def gpu_info() -> dict[str, str]:
    """``gpu_model``, ``gpu_driver``, ``cuda_version`` of this machine's first GPU, each ''
    when absent (no GPU is fine: that is recorded too). Asked once per process."""
    model, driver = parse_gpu_query(_run(["nvidia-smi", "--query-gpu=name,driver_version",
                                          "--format=csv,noheader"]))
    cuda = ""
    if model:
        cuda = parse_cuda_version(_run(["nvidia-smi"]), "")
        if not cuda:
            cuda = parse_cuda_version("", _run(["nvcc", "--version"]))
    return {"gpu_model": model, "gpu_driver": driver, "cuda_version": cuda}


def gpu_model() -> str:
    """The first GPU nvidia-smi reports, or ''."""
    return gpu_info()["gpu_model"]


# --------------------------------------------------------------------------- per row

ROW_FIELDS = ("device", "gpu_model", "gpu_driver", "cuda_version", "jax_device", "machine")
"""The result-row columns :func:`device_fields` fills: where the row's backend ran."""


def machine_name() -> str:
    """The machine a row was measured on: its host name. A sweep spread over a cluster
    compares times only between rows of one machine."""
    return platform.node() or "unknown"


def _loaded_backend_class(backend: str) -> type | None:
    """The backend class named ``backend`` if this process has imported it (nothing is
    imported here: a worker has loaded its backend, the sweep process has not)."""
    base = sys.modules.get("adapters.base")
    if base is None:
        return None
    todo, seen = list(base.Backend.__subclasses__()), set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if getattr(cls, "name", None) == backend:
            return cls
        todo.extend(cls.__subclasses__())
    return None


def backend_device_kind(backend: str) -> str:
    """``"gpu"`` when the loaded backend class says ``device = "gpu"`` or its capabilities
    (class or registry entry, if this process has imported them) need a GPU; ``"cpu"`` when
    either is known otherwise; '' when neither is known here. Imports nothing."""
    cls = _loaded_backend_class(backend)
    registry = sys.modules.get("adapters.registry")
    entry = registry.BACKENDS.get(backend) if registry is not None else None
    if cls is None and entry is None:
        return ""
    gpu = ((cls is not None and (getattr(cls, "device", "cpu") == "gpu"
                                 or getattr(getattr(cls, "capabilities", None), "needs_gpu", False)))
           or (entry is not None and entry.capabilities.needs_gpu))
    return "gpu" if gpu else "cpu"


def jax_device(kind: str) -> str:
    """The JAX device a backend of ``kind`` runs on (the first of that platform, as the
    Spark backends choose it), only when this process has JAX imported *and* initialised
    (something here ran on JAX); '' otherwise. Never imports or initialises JAX: a Brian2
    worker, or the sweep process, records ''."""
    jax = sys.modules.get("jax")
    bridge = sys.modules.get("jax._src.xla_bridge")
    if jax is None or bridge is None or kind not in ("cpu", "gpu"):
        return ""
    try:
        initialised = getattr(bridge, "backends_are_initialized", None)
        if not (initialised() if initialised is not None else getattr(bridge, "_backends", None)):
            return ""
        return str(jax.devices(kind)[0])
    except Exception:  # noqa: BLE001 - no device of that kind, a JAX without the API: unknown
        return ""


def device_label(kind: str, gpu_model: str) -> str:
    """The ``device`` column: ``cpu``, ``gpu: NVIDIA H200`` (``gpu`` when the model is
    unknown), or '' when the backend's device is unknown."""
    if kind == "gpu":
        return f"gpu: {gpu_model}" if gpu_model else "gpu"
    return kind


def device_fields(backend: str) -> dict[str, str]:
    """The :data:`ROW_FIELDS` of a row of ``backend`` written by this process: ``device``,
    and for a GPU backend the GPU model, driver and CUDA version (nvidia-smi, asked once per
    process; '' without a GPU), and the JAX device when this process ran JAX."""
    kind = backend_device_kind(backend)
    gpu = gpu_info() if kind == "gpu" else dict.fromkeys(("gpu_model", "gpu_driver", "cuda_version"), "")
    return {"device": device_label(kind, gpu["gpu_model"]), **gpu, "jax_device": jax_device(kind),
            "machine": machine_name()}


def versions() -> dict[str, str]:
    found = {}
    for name in packages():
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


def input_stream() -> str:
    """How closed-loop input chunks are drawn on this machine (the same for every backend;
    the compiled stream is ~3x cheaper per k = 1 chunk, identical spikes)."""
    from adapters.spec import inputs_native

    if inputs_native.available():
        return "compiled (adapters/spec/inputs_native.cc)"
    return f"numpy ({inputs_native.unavailable_reason()})"


def machine_folder_name(machine: str) -> str:
    """A machine name as a file or folder name (``machines/<name>.json``, a report folder),
    one per machine: a plain host name is kept as it is; any other (``..``, ``a b``, a
    name of 300 characters) becomes its safe characters, cut to 40, and a hash of the
    whole name, so that no two machines share a folder and none escapes ``machines/``."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", machine):
        return machine
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", machine).lstrip(".")[:40] or "machine"
    return f"{safe}-{hashlib.sha256(machine.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"


def machine_record() -> dict:
    """What this machine is and runs: host name, CPU, GPU, OS, Python, package versions
    and the commit of this code (one per machine of a sweep spread over a cluster)."""
    return {
        "machine": machine_name(),
        "git_commit": git_commit(ROOT),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": gpu_model(),
        "gpu_driver": gpu_info()["gpu_driver"],
        "cuda_version": gpu_info()["cuda_version"],
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
        "input_stream": input_stream(),
    }


def collect(**extra: object) -> dict:
    """The provenance record of a sweep: when, the command line, this machine's record
    (:func:`machine_record`) and ``extra`` (sweep settings)."""
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        **machine_record(),
        **extra,
    }
