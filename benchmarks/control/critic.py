"""A host-side temporal-difference critic: turns the sparse failure signal into a per-step
modulator for the agent's three-factor rule.

Why: with a reward only at failure, the rule ``w += lr * m * e`` only ever punishes (every
weight drifts down until decisions are noise), and a once-per-episode return signal
reinforces whichever pool already wins. The classic answer (Barto, Sutton & Anderson 1983,
the "adaptive critic" of their cart-pole learner; dopamine as TD error in the three-factor
literature) is a critic that learns to predict failure and hands the actor its *surprise*
every step: ``delta = r + gamma * V(s') - V(s)``, negative when the state got more
dangerous than expected, positive when it got safer. The environment's reward is still
only the failure; the critic adds no knowledge of the task beyond it.

The critic is linear in the place code's normalised rates (the features the network's
input neurons encode) and, by default (``pairs``), in the outer products of every pair of
observation components, learns by TD(lambda) with accumulating traces, and lives on the
host, identical for every backend (it sees observations, never spikes), so two backends
with equal spikes still take the same actions and hand in the same modulators.

Why every pair, and why gamma 0.98: keeping the cart on the track needs the
counter-intuitive part of a cart-pole controller (push *towards* the side the cart is on,
so that the pole leans back to the centre and the cart follows it). A critic that only
sees (position x velocity) and (angle x angular velocity) cannot tell that the pole
leaning towards the centre is good *when the cart is off-centre*, so that push looks bad
for a second before it pays off, and the actor learns the intuitive, wrong sign; with
(position x angle) and the other pairs the value of that lean is immediate. Measured (10
agents, 100 training episodes, mean training return of episodes 91-100): 233 with
(gamma 0.95, lambda 0.8, conjunctive), 252 pairs at 0.95, 359 pairs at (0.98, 0.9); 216
at 0.99, 55 at lambda 0.95 (README, cartpole section).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .encoding import PlaceCode

FEATURES = ("place", "conjunctive", "pairs")
"""``place``: the place code's rates; ``conjunctive``: plus the outer products of (cart
position, velocity) and (pole angle, angular velocity); ``pairs``: plus the outer products
of every pair of components."""


@dataclass(frozen=True)
class TDCritic:
    """Settings of the critic: discount ``gamma`` per environment step, trace decay
    ``lam``, learning rate ``rate`` (divided by the current features' squared norm, so it
    is a step size in value units), and the feature set."""

    gamma: float = 0.98
    lam: float = 0.9
    rate: float = 0.05
    features: str = "pairs"

    def __post_init__(self) -> None:
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"critic gamma must be in [0, 1], got {self.gamma}")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"critic lam must be in [0, 1], got {self.lam}")
        if not self.rate > 0.0:
            raise ValueError(f"critic rate must be > 0, got {self.rate}")
        if self.features not in FEATURES:
            raise ValueError(f"critic features must be one of {', '.join(FEATURES)}, "
                             f"got {self.features!r}")

    def featurise(self, code: PlaceCode, observation: np.ndarray) -> np.ndarray:
        """Feature vector of one observation: the place code's rates / max_rate (one block
        per observation component), a constant 1, and the outer products of the blocks of
        component pairs: none for ``place``; (0, 1) and (2, 3) (cart position x velocity,
        pole angle x angular velocity) for ``conjunctive``; every pair, in order (0, 1),
        (0, 2), ... (2, 3), for ``pairs``."""
        d = len(code.ranges)
        rates = code.rates(observation) / code.max_rate
        parts = [rates, np.ones(1)]
        blocks = rates.reshape(d, code.n_per_dim)
        if self.features == "conjunctive":
            pairs = [(i, i + 1) for i in range(0, d - 1, 2)]
        elif self.features == "pairs":
            pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
        else:
            pairs = []
        parts += [np.outer(blocks[i], blocks[j]).ravel() for i, j in pairs]
        return np.concatenate(parts)


class CriticState:
    """One agent's critic: weights, eligibility trace, the last state's features."""

    def __init__(self, critic: TDCritic, code: PlaceCode):
        self.critic, self.code = critic, code
        size = critic.featurise(code, np.zeros(len(code.ranges))).size
        self.weights = np.zeros(size)
        self.trace = np.zeros(size)
        self.last: np.ndarray | None = None

    def value(self, features: np.ndarray) -> float:
        return float(self.weights @ features)

    def begin(self, observation: np.ndarray) -> None:
        """A new episode starts in ``observation`` (the trace starts empty)."""
        self.trace[:] = 0.0
        self.last = self.critic.featurise(self.code, observation)

    def step(self, reward: float, observation: np.ndarray, terminated: bool,
             learn: bool = True) -> float:
        """The TD error of the transition from the last state to ``observation`` with
        ``reward``; a terminal state is worth 0, a truncated one is bootstrapped (the
        caller starts the next episode with :meth:`begin`). Updates the weights when
        ``learn``."""
        if self.last is None:
            raise RuntimeError("CriticState.step before begin: no state to start from")
        c = self.critic
        now = c.featurise(self.code, observation)
        future = 0.0 if terminated else c.gamma * self.value(now)
        delta = reward + future - self.value(self.last)
        if learn:
            self.trace = c.gamma * c.lam * self.trace + self.last
            self.weights += c.rate / float(self.last @ self.last) * delta * self.trace
        self.last = now
        return delta
