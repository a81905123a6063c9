"""Figures and Markdown for the cartpole jobs (:mod:`benchmarks.control.runs`).

Learning curves show every agent (no filtering, no hand-picking): each agent's raw training
returns as a thin line, plus the mean over agents of an exponential moving average (the
smoothing rule is written in the caption and in the figure title).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from adapters.spec.model import NetworkSpec

from .figures import save

EMA_ALPHA = 0.2
"""Smoothing of the mean learning curve: ``m <- (1 - a) m + a * return`` per episode."""


def ema(values: np.ndarray, alpha: float = EMA_ALPHA) -> np.ndarray:
    out = np.empty(len(values))
    m = float(values[0]) if len(values) else 0.0
    for i, v in enumerate(values):
        m = (1 - alpha) * m + alpha * float(v)
        out[i] = m
    return out


def learning_figures(returns: pd.DataFrame, out: Path) -> dict[str, Path]:
    """``learning_curves`` (every agent's training returns, raw, and the mean of their
    EMAs) and ``test_returns`` (each agent's test-return distribution)."""
    train = returns[returns.phase == "train"]
    test = returns[returns.phase == "test"]
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    curves = []
    for _, agent in train.groupby("agent"):
        r = agent.sort_values("episode")["return"].to_numpy()
        ax.plot(np.arange(1, len(r) + 1), r, lw=0.5, alpha=0.35, color="#0072B2")
        curves.append(ema(r))
    if curves:
        length = min(len(c) for c in curves)
        mean = np.mean([c[:length] for c in curves], axis=0)
        ax.plot(np.arange(1, length + 1), mean, lw=2.0, color="#D55E00",
                label=f"mean over {len(curves)} agents of EMA (alpha {EMA_ALPHA})")
    ax.axhline(475, color="0.4", ls=":", lw=1, label="solved (475)")
    ax.set(xlabel="training episode", ylabel="return (steps balanced)", ylim=(0, 510),
           title=f"CartPole-v1, all {len(curves)} agents (thin: raw returns of each agent)")
    ax.legend(loc="upper left", fontsize=8)
    paths = save(fig, out, "learning_curves")
    if not test.empty:
        fig = Figure(figsize=(8, 3.5), layout="constrained")
        ax = fig.add_subplot()
        groups = [g["return"].to_numpy() for _, g in test.groupby("agent")]
        ax.boxplot(groups, tick_labels=[str(a) for a in sorted(test.agent.unique())])
        ax.axhline(475, color="0.4", ls=":", lw=1)
        ax.set(xlabel="agent (seed)", ylabel="test return", ylim=(0, 510),
               title="Test returns after training (weights fixed), every agent")
        paths.update(save(fig, out, "test_returns"))
    return paths


def reward_text(task) -> str:
    """What the modulator was, in one phrase (the task's reward rule and its settings)."""
    if task.reward == "failure":
        return f"`failure` (modulator {task.failure_modulator} after a failure only)"
    if task.reward == "return":
        return (f"`return` (at each episode's end, {task.return_scale} x (return - b) / b, b a "
                f"running mean return, rate {task.baseline_rate})")
    c = task.critic
    return (f"`td` (every step, {task.td_scale} x the TD error of a host-side linear critic "
            f"on {c.features} place-code features whose only reward is "
            f"{task.failure_modulator} at a failure; gamma {c.gamma}, lambda {c.lam}, "
            f"rate {c.rate})")


def learning_markdown(summary: pd.DataFrame, totals: dict, spec: NetworkSpec, task) -> str:
    n = len(summary)
    solved = int(summary.solved.sum())
    learned = summary.learned_after_episodes.dropna()
    within = int((learned <= 100).sum())
    lines = [
        f"# Cartpole learning: {n} agents, network `{spec.name}`",
        "",
        f"k = {task.k} steps of {spec.simulation.dt} ms per environment step; reward "
        + reward_text(task) + ".",
        "",
        f"- solved (mean test return >= 475): **{solved} / {n}**",
        f"- learned (10 consecutive training returns of 500) within 100 episodes: "
        f"**{within} / {n}**",
        f"- wall {totals.get('wall_s', float('nan')):.0f} s: network {totals['network_s']:.0f} s, "
        f"encoding {totals['encode_s']:.0f} s, environments (and critics) "
        f"{totals['env_s']:.0f} s, "
        f"compile {totals['compile_s']:.1f} s, {totals['chunks']} batched chunks "
        f"(Spark connectivity method: {totals.get('method', 'not recorded')})",
        "",
        "| agent | learned after (episodes) | test mean | test min | solved |",
        "|---:|---:|---:|---:|:---:|",
    ]
    for row in summary.itertuples():
        after = "-" if pd.isna(row.learned_after_episodes) else f"{int(row.learned_after_episodes)}"
        lines.append(f"| {row.agent} | {after} | {row.test_mean_return:.1f} | "
                     f"{row.test_min_return:.0f} | {'yes' if row.solved else 'no'} |")
    lines += ["", "![learning curves](learning_curves.png)", "",
              "![test returns](test_returns.png)", ""]
    return "\n".join(lines)


def bench_markdown(table: pd.DataFrame, spec: NetworkSpec) -> str:
    lines = [f"# Cartpole loop benchmark, network `{spec.name}`", "",
             "One learning agent per cell, 1 thread; per environment step: network = input "
             "in, k steps, counts on the host; loop = network + encoding + environment (with "
             "the td critic's update).", "",
             "| backend | k | episodes | env steps | network / env step | loop / env step | "
             "loop / agent-episode | environment share | status |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in table.itertuples():
        if row.status != "ok":
            lines.append(f"| {row.backend} | {row.k} | | | | | | | {row.status} |")
            continue
        loop = row.network_s + row.encode_s + row.env_s
        lines.append(f"| {row.backend} | {row.k} | {row.episodes} | {row.env_steps} | "
                     f"{row.network_per_env_step_s * 1e6:.0f} us | "
                     f"{row.loop_per_env_step_s * 1e6:.0f} us | "
                     f"{row.loop_per_agent_episode_s * 1e3:.1f} ms | "
                     f"{row.env_s / loop:.1%} | ok |")
    return "\n".join(lines) + "\n"
