"""RLlib's PPO (and DQN) on recenv: training speed and the paired evaluation against random
and popularity.

    python benchmarks/rllib.py --json benchmarks/results/rllib.json
    python benchmarks/rllib.py --algorithms ppo --steps 20000 --env-runners 1   # a quick look

Each algorithm trains once (seed ``--seed``) with ``agents.rllib.RLlibAgent`` and the settings
of its preset (``conf/agent/rllib_ppo.yaml``, ``rllib_dqn.yaml``): ``--env-runners`` sampling
processes of the preset's shoppers each (or ``--envs-per-runner``), on a local Ray of
``--cpus`` CPUs that the agent starts and stops. Timed: ``learn`` as a whole
(``train_seconds``: Ray's start, RLlib's build and the training loop) and the loop alone
(``loop_steps_per_s``: env steps sampled per second over the ``algo.train()`` iterations,
RLlib's learner updates included; ``steps_per_s`` divides by ``train_seconds``). Random and
popularity (trained on ``--popularity-steps`` logged random steps) are the references; every
agent then meets the same ``--eval-shoppers`` evaluation shoppers (``agents.evaluation``,
seed 123456, as ``experiments.train``).

JSON (``--json``): ``preset, seed, steps, env_runners, envs_per_runner`` (null: the
presets'), ``cpus, eval_shoppers, eval_seed``; per algorithm ``settings`` (the agent's),
``steps_done, train_seconds, steps_per_s, loop_steps_per_s, return`` and ``minus_random``,
``minus_popularity`` (``{"mean", "ci_low", "ci_high"}``, paired 95% CIs over the shared
shoppers; one training seed, so they do not cover the spread over seeds);
``random_return``, ``popularity_return``; ``machine``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.base import MemoryLogger
from agents.evaluation import EvaluationResult, evaluate, paired_difference
from agents.popularity import PopularityAgent
from agents.random import RandomAgent
from agents.rllib import RLlibAgent
from benchmarks.timing import write_results
from experiments.factory import compose_config
from recenv import ShoppingVectorEnv, make_config

EVAL_SEED = 123_456


def mean_return(result: EvaluationResult) -> float:
    """The mean session return of an evaluation, rounded for the JSON."""
    return round(result.summary["return"].mean, 4)


def difference(first: EvaluationResult, second: EvaluationResult) -> dict[str, float]:
    """``first - second`` on the same shoppers: mean and paired 95% CI."""
    estimate = paired_difference(first, second, "return")
    return {key: round(getattr(estimate, key), 4) for key in ("mean", "ci_low", "ci_high")}


def train_rllib(algorithm: str, args: argparse.Namespace) -> tuple[RLlibAgent, dict[str, Any]]:
    """Train one RLlib agent with its preset's settings (``conf/agent/rllib_<algorithm>.yaml``)
    and the command line's runners; its step count and timings."""
    settings = OmegaConf.to_container(compose_config([f"agent=rllib_{algorithm}"]).agent)
    settings.pop("_target_")
    settings.update(num_env_runners=args.env_runners, num_cpus=args.cpus)
    if args.envs_per_runner is not None:
        settings["num_envs_per_env_runner"] = args.envs_per_runner
    agent = RLlibAgent(make_config(args.preset), seed=args.seed, device="cpu", **settings)
    logger = MemoryLogger()
    start = time.perf_counter()
    agent.learn(None, args.steps, logger)
    seconds = time.perf_counter() - start
    return agent, {
        "settings": dataclasses.asdict(agent.config),
        "steps_done": agent.steps_done,
        "train_seconds": round(seconds, 2),
        "steps_per_s": round(agent.steps_done / seconds, 1),
        "loop_steps_per_s": round(logger.scalars["time/steps_per_s"][-1][1], 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = make_config(args.preset)
    popularity = PopularityAgent(config, seed=args.seed, device="cpu")
    popularity.learn(ShoppingVectorEnv(32, config=config), args.popularity_steps)
    baselines = {"random": RandomAgent(config, seed=args.seed), "popularity": popularity}
    references = {
        name: evaluate(agent, config, args.eval_shoppers, EVAL_SEED)
        for name, agent in baselines.items()
    }
    figures: dict[str, Any] = {
        "preset": args.preset,
        "seed": args.seed,
        "steps": args.steps,
        "env_runners": args.env_runners,
        "envs_per_runner": args.envs_per_runner,
        "cpus": args.cpus,
        "eval_shoppers": args.eval_shoppers,
        "eval_seed": EVAL_SEED,
        **{f"{name}_return": mean_return(result) for name, result in references.items()},
    }
    for algorithm in args.algorithms:
        agent, timings = train_rllib(algorithm, args)
        result = evaluate(agent, config, args.eval_shoppers, EVAL_SEED)
        figures[algorithm] = {
            **timings,
            "return": mean_return(result),
            **{f"minus_{name}": difference(result, other) for name, other in references.items()},
        }
        print(algorithm, json.dumps(figures[algorithm]), flush=True)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--algorithms", nargs="+", default=["ppo", "dqn"], choices=["ppo", "dqn"])
    parser.add_argument("--preset", default="small", help="scenario (recenv/presets/env)")
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per training run")
    parser.add_argument("--env-runners", type=int, default=2, help="sampling processes")
    parser.add_argument("--envs-per-runner", type=int, help="shoppers per runner (the preset's)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--popularity-steps", type=int, default=100_000)
    parser.add_argument("--eval-shoppers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the driver")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    figures = run(args)
    print(json.dumps(figures, indent=2))
    if args.json:
        write_results(args.json, figures)


if __name__ == "__main__":
    main()
