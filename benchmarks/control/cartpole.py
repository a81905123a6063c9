"""CartPole-v1 in closed loop with a spiking agent: one environment step = one chunk of k
network steps.

The loop, identical for every backend and for Spark's batched agents (pinned here, so that
two backends given the same agent seed take the same actions when they emit the same
spikes):

1. the observation is place-coded into the chunk's input spikes (the agent's own uniform
   numbers, drawn in order from its seed: :func:`agent_rng`);
2. the chunk runs k steps and returns the readout counts (A, B); the modulator handed in
   with it is the reward of the *previous* environment step (applied by the rule at the
   chunk's end, see :class:`~adapters.spec.model.RewardModulatedSTDP`);
3. traces of the counts decide the action (:class:`~.encoding.TracedReadout`);
4. the environment steps. The reward is sparse, one scalar per episode at most, handed in
   with the next chunk (the first of the next episode), per ``reward``:
   ``"failure"``: ``failure_modulator`` (negative) when the pole falls or the cart leaves
   the track (``terminated``), nothing after a truncated episode (500 steps is no failure);
   ``"return"``: at the end of every episode, ``return_scale * (R - b) / b`` with ``R`` the
   episode's return and ``b`` a running mean of the agent's past returns
   (``b <- b + baseline_rate * (R - b)``, starting at the first return): the episode's
   outcome against the agent's own expectation;
   ``"td"``: every step, ``td_scale`` times the TD error of a host-side critic
   (:mod:`.critic`) whose only reward is ``failure_modulator`` at a failure: the failure
   signal turned into a per-step "better or worse than expected".
   A reward due after the last training episode is not applied; test episodes hand in 0
   (the weights stay fixed, and so does the critic).

Network state (membranes, traces, weights) carries over from one episode to the next, as in
an animal; only the readout traces and the environment are reset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from adapters.base import Backend, ChunkInput
from adapters.spec.model import NetworkSpec

from .critic import CriticState, TDCritic
from .encoding import PlaceCode, TracedReadout

SOLVED_RETURN = 475.0
"""CartPole-v1 counts as solved at a mean return of 475 (of at most 500)."""

REWARDS = ("td", "failure", "return")
"""The sparse reward rules (see the module docstring)."""

LEARNED_RUN = 10
"""An agent has learned at the first of ``LEARNED_RUN`` consecutive training episodes that
all reach the maximum return (500)."""


@dataclass(frozen=True)
class CartpoleTask:
    """What the environment loop needs besides the network: chunk length k (steps per
    environment step), the encoder, the decoder, the reward, and the seed base of the
    agents' input uniforms."""

    k: int = 50
    code: PlaceCode = field(default_factory=PlaceCode)
    readout: TracedReadout = field(default_factory=TracedReadout)
    reward: str = "td"  # "td", "failure" or "return" (see the module docstring)
    failure_modulator: float = -1.0
    return_scale: float = 1.0
    baseline_rate: float = 0.1
    critic: TDCritic = field(default_factory=TDCritic)
    td_scale: float = 1.0
    input_seed: int = 12345
    env_id: str = "CartPole-v1"

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1 step per environment step, got {self.k}")
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {', '.join(REWARDS)}, got {self.reward!r}")


def check_agent(spec: NetworkSpec, task: CartpoleTask) -> None:
    """The agent must have two readouts (the two actions) and as many inputs as the code."""
    if len(spec.readout_names) != 2:
        raise ValueError(f"network {spec.name!r}: a cartpole agent needs exactly 2 readouts "
                         f"(one per action), it has {len(spec.readout_names)}")
    if spec.input.size != task.code.size:
        raise ValueError(f"network {spec.name!r}: input size {spec.input.size} != "
                         f"{task.code.size} place-code neurons")


def agent_rng(task: CartpoleTask, agent_seed: int) -> np.random.Generator:
    """The agent's input uniforms: one stream per agent, fixed by its seed."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([task.input_seed, agent_seed])))


def make_env(task: CartpoleTask):
    import gymnasium

    return gymnasium.make(task.env_id)


@dataclass
class AgentLog:
    """Per-episode returns of one agent and where its time went (seconds)."""

    seed: int
    train_returns: list[int] = field(default_factory=list)
    test_returns: list[int] = field(default_factory=list)
    network_s: float = 0.0  # run_chunk: k steps, output on the host
    encode_s: float = 0.0  # observation -> input spikes
    env_s: float = 0.0  # gymnasium step + reset, and the td critic's update (host side)
    env_steps: int = 0

    @property
    def episodes(self) -> int:
        return len(self.train_returns) + len(self.test_returns)

    def learned_after(self) -> int | None:
        """Training episodes before the first run of :data:`LEARNED_RUN` consecutive
        maximal (500) returns, or None."""
        run = 0
        for i, ret in enumerate(self.train_returns):
            run = run + 1 if ret >= 500 else 0
            if run == LEARNED_RUN:
                return i + 1 - LEARNED_RUN
        return None

    @property
    def test_mean(self) -> float:
        return float(np.mean(self.test_returns)) if self.test_returns else float("nan")

    @property
    def solved(self) -> bool:
        return self.test_mean >= SOLVED_RETURN


class _Episodes:
    """One agent's episode bookkeeping: phase (train/test), return, the pending reward."""

    def __init__(self, task: CartpoleTask, seed: int, train: int, test: int):
        self.task, self.train, self.test = task, train, test
        self.log = AgentLog(seed=seed)
        self.ret = 0
        self.pending = 0.0  # the modulator the next chunk carries
        self.baseline: float | None = None  # running mean return ("return" reward)
        self.critic = CriticState(task.critic, task.code) if task.reward == "td" else None

    def begin(self, observation: np.ndarray) -> None:
        """An episode starts in ``observation``."""
        if self.critic is not None:
            self.critic.begin(observation)

    @property
    def done(self) -> bool:
        return self.log.episodes >= self.train + self.test

    @property
    def learning(self) -> bool:
        return len(self.log.train_returns) < self.train

    def after_step(self, terminated: bool, truncated: bool, observation: np.ndarray) -> bool:
        """Book one environment step that led to ``observation``; True when the episode
        ended (the caller then resets the environment and calls :meth:`begin`)."""
        self.ret += 1
        self.log.env_steps += 1
        self.pending = 0.0
        if self.critic is not None and self.learning:
            failure = self.task.failure_modulator if terminated else 0.0
            self.pending = self.task.td_scale * self.critic.step(failure, observation, terminated)
        if not (terminated or truncated):
            return False
        if self.learning and self.critic is None:  # td: the critic's error is already set
            self.pending = self._episode_reward(terminated)
        (self.log.train_returns if self.learning else self.log.test_returns).append(self.ret)
        self.ret = 0
        if not self.learning:
            self.pending = 0.0  # test phase (or training just ended): weights stay fixed
        return True

    def _episode_reward(self, terminated: bool) -> float:
        """The modulator of the "failure" and "return" rules, due at an episode's end."""
        task = self.task
        if task.reward == "failure":
            return task.failure_modulator if terminated else 0.0
        if self.baseline is None:
            self.baseline = float(self.ret)
        reward = task.return_scale * (self.ret - self.baseline) / max(self.baseline, 1.0)
        self.baseline += task.baseline_rate * (self.ret - self.baseline)
        return reward


def _env_step(env, book: _Episodes, action: int) -> tuple[np.ndarray, bool]:
    """Step 4 of the loop, shared by :func:`run_agent` and :func:`run_agents_batched`: one
    environment step, booked; after an episode's end the environment is reset and the next
    episode begun. Returns the next observation and whether an episode ended."""
    obs, _, terminated, truncated, _ = env.step(action)
    if not book.after_step(terminated, truncated, obs):
        return obs, False
    obs, _ = env.reset()
    book.begin(obs)
    return obs, True


Progress = Callable[[int, int], None]
"""``progress(episodes_done, episodes_total)``."""


def run_agent(backend: Backend, spec: NetworkSpec, task: CartpoleTask, seed: int,
              train: int, test: int, progress: Progress | None = None) -> AgentLog:
    """One agent on any prepared closed-loop backend (built from ``spec`` instance
    ``seed``): ``train`` learning episodes, then ``test`` with the weights fixed.

    The agent is the controller of one :meth:`~adapters.base.Backend.run_closed_loop`
    pass, so every backend is driven as its users drive it (Brian2's runtime: one
    ``run()`` with a network operation every k steps). The pass is started for the most
    chunks the episodes can take (the environment's step limit per episode) and ends at
    the chunk boundary after the last episode."""
    check_agent(spec, task)
    dt = spec.simulation.dt
    env, rng = make_env(task), agent_rng(task, seed)
    limit = env.spec.max_episode_steps if env.spec is not None else None
    if not limit:
        env.close()
        raise ValueError(f"{task.env_id}: the environment has no episode step limit, so a "
                         "closed-loop pass cannot be bounded")
    book = _Episodes(task, seed, train, test)
    log, k, n_in = book.log, task.k, task.code.size
    backend.reset()
    t0 = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    book.begin(obs)
    log.env_s += time.perf_counter() - t0
    trace, handed_out = np.zeros(2), 0.0

    def agent(counts: np.ndarray | None) -> ChunkInput | None:
        nonlocal obs, trace, handed_out
        t_back = time.perf_counter()
        if counts is not None:
            log.network_s += t_back - handed_out
            trace = task.readout.update(trace, counts, k, dt)
            obs, ended = _env_step(env, book, int(task.readout.action(trace)))
            if ended:
                trace = np.zeros(2)
                if progress is not None:
                    progress(log.episodes, train + test)
        t_env = time.perf_counter()
        log.env_s += t_env - t_back
        if book.done:
            return None
        chunk = ChunkInput(spikes=task.code.spikes(obs, rng.random((k, n_in)), dt),
                           modulator=book.pending)
        handed_out = time.perf_counter()
        log.encode_s += handed_out - t_env
        return chunk

    backend.run_closed_loop(agent, (train + test) * limit)
    env.close()
    return log


def run_agents_batched(spec: NetworkSpec, task: CartpoleTask, seeds: list[int], train: int,
                       test: int, method: str = "native",
                       progress: Progress | None = None) -> tuple[list[AgentLog], dict]:
    """``len(seeds)`` agents (network instance ``seed``, its own environment and input
    stream) in one vmapped Spark program, all environments stepped together; each agent
    runs the loop of :func:`run_agent` exactly (an agent that has finished its episodes
    gets silent chunks until the last one finishes; nobody reads them). Returns the logs
    and the run's totals (compile, network, encode and environment seconds, the engine's
    connectivity method).

    ``method`` ``"native"`` (falls back to pure JAX with a notice where the kernels cannot
    be built): the agent's whole chunk is one native call, bit for bit the pure-JAX
    engine's (tests/spark/test_native_plastic.py; 25 agents x 60 episodes: the same
    returns, network time 17 s instead of 64)."""
    import jax

    from adapters.spark.translate import to_spark
    from adapters.spec.materialise import materialise
    from spark.engine import BatchedSimulator

    check_agent(spec, task)
    dt, k, n_in, batch = spec.simulation.dt, task.k, task.code.size, len(seeds)
    names = [p.name for p in spec.populations]
    readout = [names.index(r) for r in spec.readout_names]
    with jax.default_device(jax.devices("cpu")[0]):
        sim = BatchedSimulator([to_spark(materialise(spec, s)) for s in seeds], method=method)
        t0 = time.perf_counter()
        sim.compile(k)
        totals = {"compile_s": time.perf_counter() - t0, "network_s": 0.0, "encode_s": 0.0,
                  "env_s": 0.0, "chunks": 0, "method": sim.layout.method}
        envs = [make_env(task) for _ in seeds]
        rngs = [agent_rng(task, s) for s in seeds]
        books = [_Episodes(task, s, train, test) for s in seeds]
        obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds)])
        for book, o in zip(books, obs):
            book.begin(o)
        traces = np.zeros((batch, 2))
        spikes = np.zeros((batch, k, n_in), bool)
        modulator = np.zeros(batch)
        done_before = 0
        while not all(b.done for b in books):
            t0 = time.perf_counter()
            for i, (book, rng) in enumerate(zip(books, rngs)):
                if book.done:
                    spikes[i] = False
                    modulator[i] = 0.0
                else:
                    spikes[i] = task.code.spikes(obs[i], rng.random((k, n_in)), dt)
                    modulator[i] = book.pending
            t1 = time.perf_counter()
            counts = sim.run_chunk(spikes, modulator)[:, readout]
            t2 = time.perf_counter()
            traces = task.readout.update(traces, counts, k, dt)
            actions = task.readout.action(traces)
            for i, (book, env) in enumerate(zip(books, envs)):
                if book.done:
                    continue
                obs[i], ended = _env_step(env, book, int(actions[i]))
                if ended:
                    traces[i] = 0.0
            t3 = time.perf_counter()
            totals["encode_s"] += t1 - t0
            totals["network_s"] += t2 - t1
            totals["env_s"] += t3 - t2
            totals["chunks"] += 1
            done_now = sum(b.log.episodes for b in books)
            if progress is not None and done_now != done_before:
                progress(done_now, batch * (train + test))
                done_before = done_now
        for env in envs:
            env.close()
    return [b.log for b in books], totals
