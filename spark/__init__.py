"""Spark: a modular spiking-network engine in plain JAX.

Spark stands alone: compose a network from :mod:`spark.models` with
:class:`NetworkBuilder` (or a :class:`NetworkDef` of explicit arrays) and run it with
:class:`Simulator`, k steps per compiled call. The benchmark suite reaches it through
``adapters.spark``, exactly as it reaches Brian2 and NEST.

Importing spark changes no JAX setting: float64 networks run inside
``jax.enable_x64(True)`` scoped to their own calls, float32 networks never need it.
"""

from .api import NetworkBuilder
from .connectivity import Dense, EventDriven
from .definition import Drive, NetworkDef, Population, Synapses
from .engine import (BatchedSimulator, ChunkResult, CompileRecord, Simulator,
                     compilation_cache_dir, precision)
from .models import ALIF, LIF, STDP, AdEx, Izhikevich, RewardSTDP
from .network import ChunkOutput, Layout, Network, NetworkState, build, make_layout, run_chunk, step
from .neurons import AdExCells, ALIFCells, IzhikevichCells, LIFCells
from .plasticity import PlasticState, PlasticSynapses

__all__ = [
    "ALIF", "ALIFCells", "AdEx", "AdExCells", "BatchedSimulator", "ChunkOutput", "ChunkResult",
    "CompileRecord", "Dense", "Drive", "EventDriven", "Izhikevich", "IzhikevichCells", "LIF", "LIFCells",
    "Layout", "Network", "NetworkBuilder", "NetworkDef", "NetworkState", "PlasticState",
    "PlasticSynapses", "Population", "RewardSTDP", "STDP", "Simulator", "Synapses", "build",
    "compilation_cache_dir", "make_layout", "precision", "run_chunk", "step",
]
