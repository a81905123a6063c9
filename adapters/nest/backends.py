"""The two NEST modes, sharing one translation (:mod:`.translate`) and one kernel wrapper
(:mod:`.kernel`):

* ``nest`` (:class:`NestClosedLoop`): ``nest.Prepare()`` once, ``nest.Run(k * dt)`` per chunk
  with that chunk's input spikes written into the spike generators first, ``nest.Cleanup()``
  at close — a true closed loop: state and spikes in flight carry from chunk to chunk.
* ``nest-uninterrupted`` (:class:`NestUninterrupted`): open loop, every input spike set in
  advance, one ``nest.Simulate(n_steps * dt)``.
* ``nest-native`` (:class:`NestNative`): the native comparison class (:mod:`.native`):
  NEST's standard models and ``poisson_generator`` drives, run as ``nest``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from ..base import (
    Backend,
    BackendFailed,
    BackendOptions,
    BuildReport,
    Capabilities,
    ChunkInput,
    check_supported,
)
from ..spec.materialise import MaterialisedNetwork
from .kernel import Kernel, import_nest
from .native import FEATURES as NATIVE_FEATURES
from .native import translate_native
from .translate import FEATURES, NetworkPlan, translate


class _NestBackend(Backend):
    """Shared implementation; the two final classes below only choose the run mode."""

    prepared_mode: ClassVar[bool]
    plan_for: ClassVar[Callable[[MaterialisedNetwork], NetworkPlan]] = staticmethod(translate)

    def __init__(self) -> None:
        self._kernel: Kernel | None = None

    def prepare(self, net: MaterialisedNetwork, options: BackendOptions) -> BuildReport:
        check_supported(type(self), net)  # refuse before touching NEST
        nest = import_nest(self.name)
        plan = self.plan_for(net)
        self.close()
        self._kernel = Kernel(nest, plan, net, options, prepared=self.prepared_mode)
        try:
            construct = self._kernel.build()
        except nest.NESTError as err:  # a parameter NEST rejects
            self._kernel = None
            raise BackendFailed(self.name, f"NEST rejected the network: {err}") from None
        models = ", ".join(f"{p.name}: {p.model}" for p in plan.populations)
        notes = [f"NEST {nest.__version__}, float64; {models}"]
        notes += list(plan.notes)
        return BuildReport(phases={"codegen_compile": 0.0, "construct": construct},
                           cache_hit=None, notes="; ".join(notes))

    def _live(self) -> Kernel:
        if self._kernel is None:
            raise BackendFailed(self.name, "not prepared (call prepare first)")
        if not self._kernel.owns_kernel:
            raise BackendFailed(self.name, "another NEST backend instance rebuilt NEST's "
                                           "global kernel; call reset() to rebuild this one")
        return self._kernel

    def reset(self) -> None:
        kernel = self._kernel
        if kernel is None:
            raise BackendFailed(self.name, "not prepared (call prepare first)")
        if not kernel.owns_kernel or not kernel.plan.resettable_in_place:
            if kernel.owns_kernel and not kernel.dirty:
                return
            kernel.build()
            return
        kernel.reset_in_place()

    def run_chunk(self, chunk: ChunkInput) -> np.ndarray:
        return self._live().run(np.asarray(chunk.spikes, dtype=bool))

    def run_uninterrupted(self, spikes: np.ndarray) -> np.ndarray:
        return self._live().run(np.asarray(spikes, dtype=bool))

    def recorded_spikes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        kernel = self._live()
        if not kernel.options.record_spikes:
            raise BackendFailed(self.name, "built without record_spikes=True")
        return kernel.spikes()

    def close(self) -> None:
        if self._kernel is not None:
            self._kernel.close()
            self._kernel = None




class NestClosedLoop(_NestBackend):
    """Closed loop: ``nest.Prepare()`` once, ``nest.Run(k dt)`` per chunk."""

    name: ClassVar[str] = "nest"
    capabilities: ClassVar[Capabilities] = Capabilities(closed_loop=True, open_loop=True, threads=True, **FEATURES)
    prepared_mode: ClassVar[bool] = True


class NestUninterrupted(_NestBackend):
    """Open loop: all inputs set in advance, one ``nest.Simulate(n_steps dt)``.
    (``run_chunk`` works too — each chunk one ``Simulate``, state carried — but chunked
    runs are what ``nest`` measures.)"""

    name: ClassVar[str] = "nest-uninterrupted"
    capabilities: ClassVar[Capabilities] = Capabilities(closed_loop=False, open_loop=True, threads=True, **FEATURES)
    prepared_mode: ClassVar[bool] = False


class NestNative(_NestBackend):
    """The native class: NEST's standard models, ``poisson_generator`` drives and NEST's
    integrators (:mod:`.native`), closed loop as ``nest`` runs it."""

    name: ClassVar[str] = "nest-native"
    comparison: ClassVar[str] = "native"
    capabilities: ClassVar[Capabilities] = Capabilities(closed_loop=True, open_loop=True,
                                                        threads=True, **NATIVE_FEATURES)
    prepared_mode: ClassVar[bool] = True
    plan_for = staticmethod(translate_native)
