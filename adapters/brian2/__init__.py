"""Brian2 in every mode a researcher would compare, each labelled for what it measures.

=========================  ===========================================================
``brian2-runtime``         runtime device, Cython; ``Network.run(k*dt)`` per chunk
``brian2-numpy``           runtime device, numpy target; same loop
``brian2-cpp``             one resident ``cpp_standalone`` binary, chunks through a pipe
``brian2-cpp-uninterrupted`` the same binary, whole run in one call (open loop)
``brian2-cpp-relaunch``    ``device.run(run_args=...)`` per chunk, state carried by files
``brian2-cuda``            brian2cuda project generated and compiled with nvcc
=========================  ===========================================================

Modules: :mod:`.translate` (spec -> Brian2 objects, shared), :mod:`.device_context`
(global device/preferences), :mod:`.builds` (build directories), :mod:`.standalone`
(project generation), one module per mode. See ``NOTES.md`` for measured numbers.
"""

from __future__ import annotations

from ..base import Backend
from .cpp_relaunch import Brian2CppRelaunchBackend
from .cpp_resident import Brian2CppResidentBackend, Brian2CppUninterruptedBackend
from .cuda import Brian2CudaBackend
from .runtime import Brian2NumpyBackend, Brian2RuntimeBackend

BACKENDS: dict[str, type[Backend]] = {
    cls.name: cls
    for cls in (Brian2RuntimeBackend, Brian2NumpyBackend, Brian2CppResidentBackend,
                Brian2CppUninterruptedBackend, Brian2CppRelaunchBackend, Brian2CudaBackend)
}

__all__ = ["BACKENDS", "Brian2CppRelaunchBackend", "Brian2CppResidentBackend",
           "Brian2CppUninterruptedBackend", "Brian2CudaBackend", "Brian2NumpyBackend",
           "Brian2RuntimeBackend"]
