"""The two cartpole jobs and their files: the learning result (many agents, batched Spark)
and the benchmark of the loop (one agent per backend and k).

Every file is written atomically; a run directory holds ``provenance.json`` (machine,
versions, commit, command, task), the raw per-episode returns, a summary and figures.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from adapters.base import BackendFailed, BackendOptions, BackendUnavailable, UnsupportedSpec
from adapters.files import write_text_atomic
from adapters.registry import load_backend
from adapters.spec.materialise import materialise
from adapters.spec.model import NetworkSpec
from benchmarks import provenance
from benchmarks.results import write_json_atomic

from .cartpole import AgentLog, CartpoleTask, Progress, run_agent, run_agents_batched


def task_record(task: CartpoleTask) -> dict:
    """The task's settings as plain data (for provenance)."""
    return dataclasses.asdict(task)


# --------------------------------------------------------------------------- learning


def returns_table(logs: list[AgentLog]) -> pd.DataFrame:
    """Long table: agent, phase (train/test), episode (from 1 per phase), return."""
    rows = []
    for log in logs:
        for phase, returns in (("train", log.train_returns), ("test", log.test_returns)):
            rows += [(log.seed, phase, i + 1, r) for i, r in enumerate(returns)]
    return pd.DataFrame(rows, columns=["agent", "phase", "episode", "return"])


def summary_table(logs: list[AgentLog]) -> pd.DataFrame:
    """One row per agent: training episodes before it learned (see
    :data:`~.cartpole.LEARNED_RUN`), mean and min test return, solved (mean >= 475)."""
    return pd.DataFrame([{
        "agent": log.seed,
        "learned_after_episodes": log.learned_after(),
        "train_episodes": len(log.train_returns),
        "test_episodes": len(log.test_returns),
        "test_mean_return": log.test_mean,
        "test_min_return": min(log.test_returns) if log.test_returns else float("nan"),
        "solved": log.solved,
    } for log in logs])


def learn(spec: NetworkSpec, task: CartpoleTask, agents: int, train: int, test: int,
          out: Path, progress: Progress | None = None) -> pd.DataFrame:
    """``agents`` agents (seeds 0 .. agents-1, every one reported), batched in one Spark
    program; writes returns.csv, summary.csv, provenance.json, figures and summary.md."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    logs, totals = run_agents_batched(spec, task, list(range(agents)), train, test,
                                      progress=progress)
    totals["wall_s"] = time.perf_counter() - start
    summary = summary_table(logs)
    write_text_atomic(out / "returns.csv", returns_table(logs).to_csv(index=False))
    write_text_atomic(out / "summary.csv", summary.to_csv(index=False))
    write_json_atomic(out / "provenance.json", provenance.collect(
        job="cartpole learn", network=spec.name, agents=agents, train_episodes=train,
        test_episodes=test, task=task_record(task), totals=totals))
    from reports.cartpole import learning_figures, learning_markdown

    learning_figures(returns_table(logs), out)
    write_text_atomic(out / "summary.md", learning_markdown(summary, totals, spec, task))
    return summary


# --------------------------------------------------------------------------- benchmark


BENCH_COLUMNS = ["backend", "k", "seed", "episodes", "env_steps", "prepare_s", "network_s",
                 "encode_s", "env_s", "network_per_env_step_s", "loop_per_env_step_s",
                 "loop_per_agent_episode_s", "status"]


def bench_cell(spec: NetworkSpec, task: CartpoleTask, name: str, episodes: int, seed: int,
               cache_dir: Path) -> dict:
    """One (backend, k) cell, in the calling process: prepare, then ``episodes`` learning
    episodes through :func:`~.cartpole.run_agent`, timed; a backend that cannot run the
    agent gives a row with its reason. The backend is prepared for chunks of exactly k
    steps (the spec's execution timesteps set to ``(k,)``), so that what a backend compiles
    per k (Spark's chunk program) is compiled in ``prepare``, never inside the timed loop."""
    row = {"backend": name, "k": task.k, "seed": seed, "episodes": episodes}
    spec = dataclasses.replace(spec, simulation=dataclasses.replace(spec.simulation,
                                                                    timesteps=(task.k,)))
    try:
        backend = load_backend(name)()
    except BackendUnavailable as err:
        return {**row, "status": f"skipped: {err.reason}"}
    refusal = backend.capabilities.refusal(spec)
    if refusal:
        return {**row, "status": f"skipped: {refusal}"}
    try:
        t0 = time.perf_counter()
        backend.prepare(materialise(spec, seed), BackendOptions(cache_dir=cache_dir))
        prepare_s = time.perf_counter() - t0
        log = run_agent(backend, spec, task, seed, episodes, 0)
    except BackendUnavailable as err:
        return {**row, "status": f"skipped: {err.reason}"}
    except UnsupportedSpec as err:
        return {**row, "status": f"skipped: {err}"}
    except BackendFailed as err:
        return {**row, "status": f"failed: {err.reason}"}
    finally:
        backend.close()
    loop_s = log.network_s + log.encode_s + log.env_s
    return {**row, "env_steps": log.env_steps, "prepare_s": prepare_s,
            "network_s": log.network_s, "encode_s": log.encode_s, "env_s": log.env_s,
            "network_per_env_step_s": log.network_s / log.env_steps,
            "loop_per_env_step_s": loop_s / log.env_steps,
            "loop_per_agent_episode_s": loop_s / episodes, "status": "ok"}


def _cell_in_fresh_process(*args) -> dict:
    """:func:`bench_cell` pinned to one core, in the worker process (see :func:`bench`)."""
    from benchmarks.worker import pin_to_cores

    pin_to_cores(1)
    return bench_cell(*args)


def bench(spec: NetworkSpec, task: CartpoleTask, backends: list[str], ks: list[int],
          episodes: int, out: Path, seed: int = 0, cache_dir: Path = Path(".cache/spark-bench"),
          progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One learning agent per (backend, k), each cell in a fresh Python process pinned to
    one core (as the sweep's workers: what one backend leaves in memory must not cost the
    next one anything, e.g. Brian2's per-run ``gc.collect`` over a heap that holds JAX),
    cells one after another (same machine, same thread count: the ratios are side by side).
    Identical spikes on every backend mean the same episodes: ``env_steps`` is the same
    in every row of one k."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    context = multiprocessing.get_context("spawn")
    for name in backends:
        for k in ks:
            if progress is not None:
                progress(f"{name} k={k}")
            cell = dataclasses.replace(task, k=k)
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                rows.append(pool.submit(_cell_in_fresh_process, spec, cell, name, episodes,
                                        seed, Path(cache_dir)).result())
    table = pd.DataFrame(rows, columns=BENCH_COLUMNS)
    write_text_atomic(out / "loop_bench.csv", table.to_csv(index=False))
    write_json_atomic(out / "provenance.json", provenance.collect(
        job="cartpole bench", network=spec.name, episodes=episodes, seed=seed,
        task=task_record(task), threads=1, cells="one fresh process per cell, pinned to one core"))
    from reports.cartpole import bench_markdown

    write_text_atomic(out / "summary.md", bench_markdown(table, spec))
    return table
