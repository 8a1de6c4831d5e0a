"""The agents on the two scenario presets, paired on the same shoppers, seeds paired.

    python benchmarks/scenarios.py --json benchmarks/results/scenarios.json

On ``cross_category`` (complementary categories) and ``shops`` (a marketplace of shops
with reputations): random, popularity, the rule baseline, the long-term heuristic oracle,
the planner and DQN at a small budget (``--dqn-steps``) on the same ``--shoppers``
evaluation shoppers. Learners and baselines run one training seed each of ``--seeds``;
the oracles do not depend on a seed and are evaluated once and paired with every seed
(as in ``benchmarks/agents.py``). Per agent and preset: the mean return and every scenario
metric the preset reports (``recenv.metrics.SCENARIO_METRICS``: cross-category click and
purchase shares; purchase concentration over shops, reputation of what is shown and of
what is bought), each with its two-level 95% CI, and on ``shops`` each shop's share of the
purchases. Then the paired differences ``agent - best baseline`` of the return and the
scenario metrics. An existing ``--json`` file is kept unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from agents.base import write_json_atomically
from agents.evaluation import EvaluationResult, paired_difference, pooled_estimate
from experiments.agent_runs import train_and_evaluate
from recenv import metrics

PRESETS = ("cross_category", "shops")
BASELINES = ("random", "popularity", "rule")
AGENTS = (*BASELINES, "long_term_oracle", "planner", "dqn")
SEED_FREE = ("long_term_oracle", "planner")


def run_preset(preset: str, args: argparse.Namespace) -> dict:
    """Every agent of ``AGENTS`` on ``preset``: figures, shop shares, paired differences."""
    overrides = [f"env={preset}", f"eval.n_shoppers={args.shoppers}", f"eval.seed={args.seed}"]
    results: dict[str, list[EvaluationResult]] = {}
    report: dict = {"agents": {}}
    for name in AGENTS:
        seeds = args.seeds[:1] if name in SEED_FREE else args.seeds
        own = [f"train.total_steps={args.dqn_steps}"] if name == "dqn" else []
        start = time.perf_counter()
        runs = [train_and_evaluate(name, seed, [*overrides, *own]) for seed in seeds]
        results[name] = [run["result"] for run in runs] * (len(args.seeds) // len(runs))
        names = [
            "return",
            "ctr",
            *(m.name for m in metrics.scenario_metrics(runs[0]["result"].sessions)),
        ]
        figures = {metric: pooled_estimate(results[name], metric).as_dict() for metric in names}
        report["agents"][name] = {
            "role": runs[0]["role"],
            "budget_steps": runs[0]["budget_steps"],
            "per_seed_return": [run["result"].summary["return"].mean for run in runs],
            "seconds": round(time.perf_counter() - start, 1),
            **figures,
        }
        if "shop_purchases" in runs[0]["result"].sessions:
            counts = sum(run["result"].sessions["shop_purchases"].sum(axis=0) for run in runs)
            shares = counts / max(float(np.sum(counts)), 1e-12)
            report["agents"][name]["shop_purchase_share"] = shares.round(4).tolist()
        print(
            f"{preset:>14} {name:>16}: "
            + "  ".join(f"{metric} {figures[metric]['mean']:.3f}" for metric in names),
            flush=True,
        )
    agents = report["agents"]
    best = max(BASELINES, key=lambda name: agents[name]["return"]["mean"])
    report["best_baseline"] = best
    for name in AGENTS:
        if name == best:
            continue
        report[f"{name}_minus_{best}"] = {
            metric: paired_difference(results[name], results[best], metric).as_dict()
            for metric in agents[name]
            if metric in metrics.BY_NAME
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shoppers", type=int, default=300, help="evaluation shoppers")
    parser.add_argument("--seed", type=int, default=123_456, help="evaluation shoppers' seed")
    parser.add_argument("--dqn-steps", type=int, default=50_000, help="DQN training budget")
    args = parser.parse_args()
    if args.json and args.json.exists() and not args.overwrite:
        parser.error(f"{args.json} exists; pass --overwrite to replace it")
    torch.set_num_threads(1)
    report = {
        "shoppers": args.shoppers,
        "seed": args.seed,
        "seeds": args.seeds,
        "dqn_steps": args.dqn_steps,
        "presets": {preset: run_preset(preset, args) for preset in args.presets},
    }
    if args.json:
        write_json_atomically(args.json, report)


if __name__ == "__main__":
    main()
