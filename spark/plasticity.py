"""Pair-based STDP and the reward-modulated three-factor rule, on a flat synapse list.

Plastic synapses are kept apart from the static propagators as one flat table with
per-synapse parameters (so several plastic projections with different constants share one
code path). This is the simple path, not the fastest: every step touches every plastic
synapse. Per step, in the synaptic-propagation phase of step t (pinned order; where the
spec leaves a choice, Brian2's canonical STDP example decides):

1. traces decay exactly: ``x_pre *= exp(-dt/tau_pre)``, ``x_post *= exp(-dt/tau_post)``,
   ``e *= exp(-dt/tau_elig)`` (per synapse);
2. deliveries: a synapse whose presynaptic neuron spiked at step ``t - d`` delivers its
   *current* weight (before this step's update), then ``x_pre += 1`` and the depression
   ``-a_minus * x_post`` is applied (to ``w`` for STDP, to ``e`` for the reward rule);
3. postsynaptic spikes of step t: ``x_post += 1`` and the potentiation ``a_plus * x_pre``
   (``x_pre`` already includes a delivery of this step: pre pathway before post pathway);
4. STDP weights are clipped to ``[w_min, w_max]`` at each update; the reward rule applies
   ``w = clip(w + lr * modulator * e, w_min, w_max)`` once at the end of every chunk.

XLA:CPU contracts a product and the addition that follows (``e + a_plus * x_pre``,
``w + lr * m * e``) into one fused multiply-add, as it does in the neuron updates: Brian2,
C++ and numpy round twice, so traces and weights agree with theirs to the last bit or two
(measured: 219 of 1,600 eligibility traces of the cartpole agent differ after a chunk, by
one ulp), and the spikes agree exactly in the tested episodes (tests/brian2/test_plasticity.py;
in float32 with a modulator every chunk a threshold crossing flips after ~45 chunks). Optimisation
barriers do not stop the contraction (XLA folds them away); ``XLA_FLAGS=--xla_cpu_max_isa=AVX``
(no FMA instructions) does: with it, the cartpole agent's float32 weights and traces equal
brian2-numpy's bit for bit over 75 chunks with a modulator in each, at no measured cost on
that agent but 1.31x on paper8's pure-JAX path (README, cartpole section).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .models import PlasticityRule
from .pytree import static

Array = jax.Array


class PlasticState(NamedTuple):
    weight: Array
    x_pre: Array
    x_post: Array
    elig: Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class PlasticSynapses:
    """Flat plastic synapse list; ``valid`` masks padding (batched instances)."""

    pre: Array  # int32 global presynaptic row
    col: Array  # int32 target column (delta or exponential)
    post: Array  # int32 global postsynaptic neuron
    delay: Array  # int32
    valid: Array  # bool
    reward: Array  # bool: update goes to the eligibility trace
    a_plus: Array
    a_minus: Array
    w_min: Array
    w_max: Array
    lr: Array
    pre_decay: Array
    post_decay: Array
    elig_decay: Array
    initial_weight: Array
    n_cols: int = static()
    ring: int = static()

    def init(self) -> PlasticState:
        zeros = jnp.zeros_like(self.initial_weight)
        return PlasticState(weight=self.initial_weight, x_pre=zeros, x_post=zeros, elig=zeros)

    def step(self, state: PlasticState, history: Array, spikes: Array, t: Array,
             ) -> tuple[PlasticState, Array]:
        """One synaptic phase. ``history`` ``(D, n_pre)`` holds the spikes of steps
        ``t - D + 1 .. t - 1`` at rows ``step % D``; ``spikes`` are this step's neuron spikes.
        Returns the new state and the delivered input per column ``(C,)``."""
        delivered = history[(t - self.delay) % self.ring, self.pre] & self.valid
        w = state.weight
        current = jnp.zeros(self.n_cols, w.dtype).at[self.col].add(
            jnp.where(delivered, w, jnp.zeros_like(w)))
        x_pre = state.x_pre * self.pre_decay
        x_post = state.x_post * self.post_decay
        elig = state.elig * self.elig_decay
        x_pre = jnp.where(delivered, x_pre + 1.0, x_pre)
        depress = -self.a_minus * x_post
        stdp = delivered & ~self.reward
        w = jnp.where(stdp, jnp.clip(w + depress, self.w_min, self.w_max), w)
        elig = jnp.where(delivered & self.reward, elig + depress, elig)
        post_spiked = spikes[self.post] & self.valid
        x_post = jnp.where(post_spiked, x_post + 1.0, x_post)
        potentiate = self.a_plus * x_pre
        w = jnp.where(post_spiked & ~self.reward, jnp.clip(w + potentiate, self.w_min, self.w_max), w)
        elig = jnp.where(post_spiked & self.reward, elig + potentiate, elig)
        return PlasticState(weight=w, x_pre=x_pre, x_post=x_post, elig=elig), current

    def apply_modulator(self, state: PlasticState, modulator: Array) -> PlasticState:
        """End-of-chunk three-factor update of the reward-modulated synapses."""
        new = jnp.clip(state.weight + self.lr * modulator * state.elig, self.w_min, self.w_max)
        return state._replace(weight=jnp.where(self.reward & self.valid, new, state.weight))


@dataclass(frozen=True)
class PlasticRecord:
    """Host-side list of the synapses of one plastic projection (global numbering)."""

    rule: PlasticityRule
    pre: np.ndarray
    col: np.ndarray
    post: np.ndarray
    delay: np.ndarray
    weight: np.ndarray


def build_plastic(records: list[PlasticRecord], size: int, n_cols: int, ring: int, dt: float,
                  dtype: np.dtype) -> PlasticSynapses:
    """Concatenate plastic projections and pad to ``size`` synapses."""
    n = sum(r.pre.size for r in records)
    if size < n:
        raise ValueError(f"plastic table size {size} < {n} synapses")

    def cat(get, fill, out_dtype) -> Array:
        """One entry per synapse (a per-projection value is broadcast), then padding."""
        parts = [np.broadcast_to(np.asarray(get(r), dtype=np.float64), r.pre.shape) for r in records]
        parts.append(np.full(size - n, fill, dtype=np.float64))
        return jnp.asarray(np.concatenate(parts).astype(out_dtype))

    def decay(tau: float) -> float:
        return float(np.exp(-dt / tau))

    return PlasticSynapses(
        pre=cat(lambda r: r.pre, 0, np.int32),
        col=cat(lambda r: r.col, 0, np.int32),
        post=cat(lambda r: r.post, 0, np.int32),
        delay=cat(lambda r: r.delay, 1, np.int32),
        valid=cat(lambda r: True, False, np.bool_),
        reward=cat(lambda r: r.rule.modulated, False, np.bool_),
        a_plus=cat(lambda r: r.rule.a_plus, 0.0, dtype),
        a_minus=cat(lambda r: r.rule.a_minus, 0.0, dtype),
        w_min=cat(lambda r: r.rule.w_min, 0.0, dtype),
        w_max=cat(lambda r: r.rule.w_max, 0.0, dtype),
        lr=cat(lambda r: r.rule.learning_rate, 0.0, dtype),
        pre_decay=cat(lambda r: decay(r.rule.tau_pre), 0.0, dtype),
        post_decay=cat(lambda r: decay(r.rule.tau_post), 0.0, dtype),
        elig_decay=cat(lambda r: r.rule.eligibility_decay(dt), 0.0, dtype),
        initial_weight=cat(lambda r: r.weight, 0.0, dtype),
        n_cols=n_cols, ring=ring)
