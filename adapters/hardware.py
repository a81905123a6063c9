"""What this machine has, as far as backends care (asked once per process)."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache


@cache
def gpu_present() -> bool:
    """Whether an NVIDIA GPU is usable here (``nvidia-smi -L`` lists one)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout
