"""Spark: a modular spiking-network engine in plain JAX.

Importing spark enables ``jax_enable_x64`` globally, so float64 networks really run in
float64; float32 networks keep every array float32 (dtypes are explicit throughout).
"""

import jax

jax.config.update("jax_enable_x64", True)

from .api import NetworkBuilder  # noqa: E402
from .batched import run_batched  # noqa: E402
from .connectivity import Dense, EventDriven  # noqa: E402
from .engine import BatchedSimulator, ChunkResult, CompileRecord, Simulator, use_cache_dir  # noqa: E402
from .network import ChunkOutput, Layout, Network, NetworkState, build, make_layout, run_chunk, step  # noqa: E402
from .neurons import ALIFCells, AdExCells, IzhikevichCells, LIFCells  # noqa: E402
from .plasticity import PlasticState, PlasticSynapses  # noqa: E402

__all__ = [
    "ALIFCells", "AdExCells", "BatchedSimulator", "ChunkOutput", "ChunkResult", "CompileRecord",
    "Dense", "EventDriven", "IzhikevichCells", "LIFCells", "Layout", "Network", "NetworkBuilder",
    "NetworkState", "PlasticState", "PlasticSynapses", "Simulator", "build", "make_layout",
    "run_batched", "run_chunk", "step", "use_cache_dir",
]
