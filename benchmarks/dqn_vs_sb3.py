"""Our DQN against stable-baselines3's DQN at equal architecture, repeated and interleaved.

    python benchmarks/dqn_vs_sb3.py --json benchmarks/results/dqn_vs_sb3.json
    python benchmarks/dqn_vs_sb3.py --preset small --steps 5000 --repeats 1   # a quick look

Three learners, each ``--repeats`` times, run in turn (ours, sb3, sb3_default, ours, ...),
so a slow spell of a shared machine falls on all of them; repeat ``r`` builds a fresh agent
of each with seed ``r``:

* ``ours``: ``agents.dqn.DQNAgent`` run as plain DQN (one-step targets, no Double DQN, no
  validation-based model selection, constant learning rate), to match SB3's algorithm.
* ``sb3``: SB3's ``DQN`` with ``policy="recenv"`` (``agents.sb3_policies``): our encoder
  and item-score head, on raw ids, the same parameter count. Its speed ratio to ours
  measures the frameworks at equal function class.
* ``sb3_default``: SB3's ``DQN`` with its ``MultiInputPolicy`` (one-hot inputs, an MLP;
  about 2.0M parameters on ``default``), the SB3 a user gets out of the box.

All learn on ``--preset`` from ``--n-envs`` shoppers stepped together, one gradient step of
``batch_size`` per vector step, the same learning rate, discount, buffer, warm-up,
exploration schedule and target-network period (SB3 counts it in env steps, we count it
in gradient steps: the script converts). Differences that remain, by design of each
library: SB3 draws epsilon once per vector step for all shoppers (ours per shopper); SB3
scores the whole catalog with gradients to read Q(s, a) (ours scores the taken pairs);
ours collects with NEXT_STEP autoreset, which spends one step per session on the restart
(counted in its env-steps, like SB3's SAME_STEP steps; about 1/(session length + 1) of
them, the evaluation session lengths are reported).

Only ``learn`` is timed (building the agent and its env is not). Torch runs on
``--threads`` threads (default 1: on a 2-core machine one thread per process is fastest for
these small networks and leaves the other core to the OS). Each trained agent is then
scored by ``agents.evaluation.evaluate`` on the same ``--eval-shoppers`` shoppers.

JSON (``--json``): ``preset, steps, repeats, n_envs, threads, eval_shoppers, eval_seed``;
``hyperparameters`` (the shared values); ``parameters`` (count per learner);
``ours_steps_per_s``, ``sb3_steps_per_s``, ``sb3_default_steps_per_s``: env-steps per
second as ``{"median", "min", "max", "runs"}`` with ``runs`` in repeat order; ``ratio``
(ours / sb3) and ``ratio_default_policy`` (ours / sb3_default): the same summary of the
per-repeat ratios (neighbours in time, so a shared machine's load mostly cancels);
``ours_return``, ``sb3_return``, ``sb3_default_return``: mean evaluation return as
``{"mean", "min", "max", "runs"}``; ``ours_minus_sb3_return`` and
``ours_minus_sb3_default_return``: ``{"mean", "ci_low", "ci_high"}``, the paired
difference averaged over repeats with its 95% bootstrap CI over the shared shoppers (it
covers shopper noise, not the spread over training seeds: see the runs);
``session_length``: mean evaluation session length per learner; ``machine``: CPU count,
1-minute load average before and after (other work on a shared machine slows every
learner), torch and SB3 versions, and the git commit at the start (``+dirty`` with
uncommitted changes to tracked files outside ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import stable_baselines3
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.dqn import DQNAgent
from agents.evaluation import EvaluationResult, evaluate, paired_difference
from agents.sb3 import SB3Agent
from recenv import ShoppingVectorEnv, make_config
from recenv.sim.config import EnvConfig

LEARNERS = ("ours", "sb3", "sb3_default")
EVAL_SEED = 123_456
SHARED = {
    "learning_rate": 5e-4,
    "gamma": 0.97,
    "buffer_size": 100_000,
    "batch_size": 256,
    "learning_starts": 5_000,
    "exploration_fraction": 0.3,
    "exploration_final": 0.05,
}
TARGET_UPDATES = 250  # gradient steps between target copies
NETWORK = {"embedding_dim": 32, "hidden_size": 128}  # DQNConfig's defaults, stated


def build(learner: str, config: EnvConfig, seed: int, n_envs: int, shared: dict[str, Any]) -> Any:
    """A fresh agent of ``learner`` with the shared hyperparameters."""
    if learner == "ours":
        return DQNAgent(
            config,
            seed=seed,
            device="cpu",
            **shared,
            **NETWORK,
            target_update="hard",
            target_update_interval=TARGET_UPDATES,
            double_dqn=False,
            n_steps=1,
            validation_interval=0,
            learning_rate_end=1.0,
        )
    sb3_shared = {key: value for key, value in shared.items() if key != "exploration_final"}
    policy = {"policy": "recenv", "policy_kwargs": NETWORK} if learner == "sb3" else {}
    return SB3Agent(
        config,
        seed=seed,
        device="cpu",
        algorithm="dqn",
        n_envs=n_envs,
        **policy,
        **sb3_shared,
        exploration_final_eps=shared["exploration_final"],
        target_update_interval=TARGET_UPDATES * n_envs,
        train_freq=1,
        gradient_steps=1,
    )


def parameter_count(agent: Any) -> int:
    """Trainable parameters of the online Q-network (shared modules counted once)."""
    network = agent.q_network if isinstance(agent, DQNAgent) else agent.model.q_net
    return sum(parameter.numel() for parameter in network.parameters())


def train_seconds(agent: Any, config: EnvConfig, n_envs: int, steps: int) -> float:
    """Wall time of ``learn`` alone; ours gets a NEXT_STEP env, SB3 steps its own copy."""
    env = ShoppingVectorEnv(n_envs, config=config) if isinstance(agent, DQNAgent) else None
    start = time.perf_counter()
    agent.learn(env, steps)
    return time.perf_counter() - start


def spread(values: Sequence[float], centre: Callable[[Sequence[float]], float]) -> dict:
    """``{"median" or "mean", "min", "max", "runs"}`` of per-repeat figures."""
    name = "median" if centre is statistics.median else "mean"
    return {name: centre(values), "min": min(values), "max": max(values), "runs": list(values)}


def revision() -> str | None:
    """The git commit, ``+dirty`` when tracked code (not the results folder) has changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)benchmarks/results",
            ],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:  # no git: the figures stand without a revision
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def run(
    preset: str = "default",
    steps: int = 100_000,
    repeats: int = 3,
    n_envs: int = 16,
    eval_shoppers: int = 1000,
    threads: int = 1,
    shared: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train and evaluate every learner ``repeats`` times, interleaved; return the figures."""
    for name, value, least in (
        ("steps", steps, 1),
        ("repeats", repeats, 1),
        ("n_envs", n_envs, 1),
        ("eval_shoppers", eval_shoppers, 2),
        ("threads", threads, 1),
    ):
        if value < least:
            raise ValueError(f"{name} = {value} is out of range; allowed: >= {least}")
    shared = {**SHARED, **(shared or {})}
    machine = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()[0]}
    machine["commit"] = revision()  # read before the runs: the code that was imported
    torch.set_num_threads(threads)
    config = make_config(preset)
    rates: dict[str, list[float]] = {learner: [] for learner in LEARNERS}
    results: dict[str, list[EvaluationResult]] = {learner: [] for learner in LEARNERS}
    parameters: dict[str, int] = {}
    for seed in range(repeats):
        for learner in LEARNERS:
            agent = build(learner, config, seed, n_envs, shared)
            parameters[learner] = parameter_count(agent)
            rates[learner].append(steps / train_seconds(agent, config, n_envs, steps))
            results[learner].append(evaluate(agent, config, eval_shoppers, seed=EVAL_SEED))
            print(
                f"repeat {seed} {learner:>11}: {rates[learner][-1]:7.0f} env-steps/s, "
                f"return {results[learner][-1].summary['return'].mean:.3f}",
                flush=True,
            )
    figures: dict[str, Any] = {
        "preset": preset,
        "steps": steps,
        "repeats": repeats,
        "n_envs": n_envs,
        "threads": threads,
        "eval_shoppers": eval_shoppers,
        "eval_seed": EVAL_SEED,
        "hyperparameters": {**shared, **NETWORK, "target_update_gradient_steps": TARGET_UPDATES},
        "parameters": parameters,
    }
    for learner in LEARNERS:
        figures[f"{learner}_steps_per_s"] = spread(rates[learner], statistics.median)
    for key, other in (("ratio", "sb3"), ("ratio_default_policy", "sb3_default")):
        ratios = [ours / theirs for ours, theirs in zip(rates["ours"], rates[other], strict=True)]
        figures[key] = spread(ratios, statistics.median)
    for learner in LEARNERS:
        returns = [result.summary["return"].mean for result in results[learner]]
        figures[f"{learner}_return"] = spread(returns, statistics.mean)
    for other in ("sb3", "sb3_default"):
        difference = paired_difference(results["ours"], results[other], "return")
        figures[f"ours_minus_{other}_return"] = difference.as_dict()
    figures["session_length"] = {
        learner: statistics.mean(r.summary["session_length"].mean for r in results[learner])
        for learner in LEARNERS
    }
    figures["machine"] = {
        **machine,
        "load_average_after": os.getloadavg()[0],
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
    }
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--steps", type=int, default=100_000, help="env-steps per training run")
    parser.add_argument("--repeats", type=int, default=3, help="training runs per learner")
    parser.add_argument("--n-envs", type=int, default=16, help="shoppers stepped together")
    parser.add_argument("--preset", default="default", help="scenario (recenv/presets/env)")
    parser.add_argument("--eval-shoppers", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    figures = run(
        args.preset, args.steps, args.repeats, args.n_envs, args.eval_shoppers, args.threads
    )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
