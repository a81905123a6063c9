"""Observation -> input spikes, readout counts -> action: the agent's two interfaces.

Both live on the host and are the same for every backend, so two backends that simulate
the same network emit the same spikes and therefore choose the same actions.

*Encoder* (a place code, as in the Spark paper's cartpole agent): each of the ``d``
observation components has ``n_per_dim`` input neurons with Gaussian tuning curves whose
centres are evenly spaced over the component's range; neuron ``j`` of component ``i`` fires
at ``max_rate * exp(-((clip(o_i) - c_j) / width)^2 / 2)`` Hz, where ``width`` is the
spacing of the centres. A spike at step t is ``u[t, n] < rate_n * dt``, with ``u`` the
agent's own uniform numbers (drawn from its seed, one per step and input neuron, in order).

*Decoder* (the paper's "traced measurement of the activity of each excitatory
subpopulation"): per readout population a trace ``z <- z * exp(-k dt / tau) + count``
updated after every chunk; the action is the index of the larger trace (ties: the lower
index, i.e. the first readout).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CARTPOLE_RANGES: tuple[tuple[float, float], ...] = (
    (-2.4, 2.4),     # cart position (m): the episode ends beyond +-2.4
    (-3.0, 3.0),     # cart velocity (m/s)
    (-0.2095, 0.2095),  # pole angle (rad): the episode ends beyond +-12 degrees
    (-3.0, 3.0),     # pole angular velocity (rad/s)
)
"""Ranges the place code covers, per CartPole-v1 observation component (values beyond are
clipped to the range: the edge neurons then fire most)."""


@dataclass(frozen=True)
class PlaceCode:
    """Gaussian place code of a ``len(ranges)``-dimensional observation."""

    ranges: tuple[tuple[float, float], ...] = CARTPOLE_RANGES
    n_per_dim: int = 10
    max_rate: float = 800.0  # Hz at the centre of a tuning curve (<= 1000 at dt = 1 ms)

    def __post_init__(self) -> None:
        if self.n_per_dim < 2:
            raise ValueError(f"n_per_dim must be >= 2, got {self.n_per_dim}")
        if not self.max_rate > 0:
            raise ValueError(f"max_rate must be > 0 Hz, got {self.max_rate}")
        for low, high in self.ranges:
            if not high > low:
                raise ValueError(f"a range must have high > low, got ({low}, {high})")

    @property
    def size(self) -> int:
        """Number of input neurons."""
        return len(self.ranges) * self.n_per_dim

    def centres(self) -> np.ndarray:
        """``(d, n_per_dim)`` tuning-curve centres."""
        return np.array([np.linspace(lo, hi, self.n_per_dim) for lo, hi in self.ranges])

    def rates(self, observation: np.ndarray) -> np.ndarray:
        """Rates (Hz) of every input neuron, ``(..., size)`` for observations ``(..., d)``."""
        obs = np.asarray(observation, dtype=np.float64)
        low = np.array([r[0] for r in self.ranges])
        high = np.array([r[1] for r in self.ranges])
        width = (high - low) / (self.n_per_dim - 1)
        clipped = np.clip(obs, low, high)[..., :, None]  # (..., d, 1)
        z = (clipped - self.centres()) / width[:, None]
        rates = self.max_rate * np.exp(-0.5 * z * z)
        return rates.reshape(*obs.shape[:-1], self.size)

    def spikes(self, observation: np.ndarray, uniforms: np.ndarray, dt_ms: float) -> np.ndarray:
        """Input spikes ``(..., k, size)`` bool for ``k`` steps of ``dt_ms``: ``uniforms``
        ``(..., k, size)`` against ``rate * dt``; the observation is held for the chunk."""
        p = self.rates(observation) * (dt_ms * 1e-3)
        return uniforms < p[..., None, :]


@dataclass(frozen=True)
class TracedReadout:
    """Per-readout exponential traces of chunk counts; the action is the larger trace."""

    tau_ms: float = 20.0

    def decay(self, k: int, dt_ms: float) -> float:
        """The trace's decay over one chunk of ``k`` steps."""
        return float(np.exp(-k * dt_ms / self.tau_ms))

    def update(self, trace: np.ndarray, counts: np.ndarray, k: int, dt_ms: float) -> np.ndarray:
        """The traces after a chunk with ``counts`` ``(..., n_readouts)``."""
        return trace * self.decay(k, dt_ms) + np.asarray(counts, dtype=np.float64)

    @staticmethod
    def action(trace: np.ndarray) -> np.ndarray | int:
        """Index of the larger trace (ties: the first readout)."""
        return np.argmax(trace, axis=-1)
