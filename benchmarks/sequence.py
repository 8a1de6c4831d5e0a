"""The self-attention sequence recommender (SASRec-style) against the MLP, and as DQN's encoder.

    python benchmarks/sequence.py --json benchmarks/results/sequence.json

Per preset and training seed, one log of uniform-random recommendations is collected and
both supervised recommenders fit on that same log (``encoder: mlp`` and ``transformer``,
otherwise the same hyperparameters; validation-shopper model selection off for both, so the
weights kept are the lowest held-out log-loss): held-out click AUC / log-loss and ranking
metrics on the same held-out sessions, fit seconds, and the return of the greedy
recommender on the same evaluation shoppers (paired differences over seeds and shoppers,
with popularity, the best simple baseline on ``realistic``, and random beside them). Then
``act`` latency for one shopper on ``large`` (p50 / p99, one torch thread), and DQN with
each encoder on ``default`` at the same budget.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.dqn import DQNAgent
from agents.evaluation import evaluate, paired_difference, pooled_estimate
from agents.logs import collect_random_logs
from agents.mlp import MLPAgent
from agents.popularity import PopularityAgent
from agents.random import RandomAgent
from benchmarks.latency import sample_observations, time_calls
from benchmarks.timing import write_results
from recenv import ShoppingVectorEnv, make_config

ENCODERS = ("mlp", "transformer")
EVAL_SEED = 2024


def estimate(value: Any) -> dict[str, float]:
    return {"mean": value.mean, "ci_low": value.ci_low, "ci_high": value.ci_high}


def supervised(
    preset: str, seeds: list[int], log_steps: int, shoppers: int
) -> tuple[dict, dict[str, Any]]:
    """Both encoders fit on the same logs; metrics, fit time and paired returns."""
    config = make_config(preset)
    settings = {"selection_shoppers": 0, "max_epochs": 10}
    results: dict[str, list] = {name: [] for name in (*ENCODERS, "popularity", "random")}
    rows: dict[str, dict[str, list]] = {name: {} for name in ENCODERS}
    agents: dict[str, Any] = {}
    for seed in seeds:
        log = collect_random_logs(ShoppingVectorEnv(64, config=config), config, log_steps, seed)
        for encoder in ENCODERS:
            agent = MLPAgent(config, seed=seed, device="cpu", encoder=encoder, **settings)
            start = time.perf_counter()
            agent.fit(log)
            fit_s = time.perf_counter() - start
            for metric, value in {**agent.metrics, "fit_s": fit_s}.items():
                rows[encoder].setdefault(metric, []).append(value)
            results[encoder].append(evaluate(agent, config, shoppers, EVAL_SEED))
            agents[encoder] = agent
            print(preset, seed, encoder, {k: round(v[-1], 4) for k, v in rows[encoder].items()})
        popularity = PopularityAgent(config, seed=seed, device="cpu")
        popularity.learn(ShoppingVectorEnv(64, config=config), log_steps)
        results["popularity"].append(evaluate(popularity, config, shoppers, EVAL_SEED))
        results["random"].append(
            evaluate(RandomAgent(config, seed=seed), config, shoppers, EVAL_SEED)
        )
    report = {
        "log_steps": log_steps,
        "shoppers": shoppers,
        "seeds": seeds,
        "held_out": rows,
        "return": {name: estimate(pooled_estimate(runs)) for name, runs in results.items()},
        "sasrec_minus": {
            name: estimate(paired_difference(results["transformer"], results[name]))
            for name in ("mlp", "popularity", "random")
        },
    }
    return report, agents


def latency(agents: dict[str, Any], calls: int) -> dict[str, dict[str, float]]:
    """``act`` for one shopper of ``large`` with each trained encoder."""
    observations = sample_observations(agents["mlp"].env_config, calls)
    figures = {}
    for encoder, agent in agents.items():
        p50, p99 = time_calls(agent, observations)
        figures[encoder] = {"p50_ms": p50, "p99_ms": p99}
        print("latency", encoder, figures[encoder])
    return figures


def dqn(seeds: list[int], steps: int, shoppers: int) -> dict:
    """DQN on ``default`` with each encoder, same budget and evaluation shoppers."""
    config = make_config("default")
    results: dict[str, list] = {name: [] for name in ENCODERS}
    seconds: dict[str, list[float]] = {name: [] for name in ENCODERS}
    for seed in seeds:
        for encoder in ENCODERS:
            agent = DQNAgent(config, seed=seed, device="cpu", encoder=encoder)
            start = time.perf_counter()
            agent.learn(ShoppingVectorEnv(64, config=config), steps)
            seconds[encoder].append(time.perf_counter() - start)
            results[encoder].append(evaluate(agent, config, shoppers, EVAL_SEED))
            print(
                "dqn", seed, encoder, seconds[encoder][-1], pooled_estimate(results[encoder][-1:])
            )
    return {
        "steps": steps,
        "seeds": seeds,
        "shoppers": shoppers,
        "train_s": seconds,
        "return": {name: estimate(pooled_estimate(runs)) for name, runs in results.items()},
        "transformer_minus_mlp": estimate(
            paired_difference(results["transformer"], results["mlp"])
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    parser.add_argument("--presets", nargs="+", default=["default", "large", "realistic"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--log-steps", type=int, default=100_000)
    parser.add_argument("--shoppers", type=int, default=500, help="evaluation shoppers")
    parser.add_argument("--realistic-shoppers", type=int, default=100)
    parser.add_argument("--calls", type=int, default=2_000, help="act calls timed on large")
    parser.add_argument("--dqn-steps", type=int, default=100_000)
    args = parser.parse_args()
    if args.json and args.json.exists() and not args.overwrite:
        parser.error(f"--json {args.json} exists; pass --overwrite to replace it")
    torch.set_num_threads(1)
    report: dict[str, Any] = {
        "presets": {},
        "command": " ".join(sys.argv[1:]),
        "load_average_at_start": os.getloadavg(),  # this 2-core machine was shared when > 2
    }
    for preset in args.presets:
        shoppers = args.realistic_shoppers if preset == "realistic" else args.shoppers
        report["presets"][preset], agents = supervised(preset, args.seeds, args.log_steps, shoppers)
        if preset == "large":
            report["latency_large"] = latency(agents, args.calls)
    if args.dqn_steps:
        report["dqn_default"] = dqn(args.seeds, args.dqn_steps, args.shoppers)
    if args.json:
        write_results(args.json, report)


if __name__ == "__main__":
    main()
