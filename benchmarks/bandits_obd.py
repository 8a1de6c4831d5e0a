"""The Open Bandit Dataset's headline direction on the calibrated ``obd`` world: Thompson
sampling above random, with the other bandits, the simple baselines and the oracle.

    python benchmarks/bandits_obd.py --json benchmarks/results/bandits_obd.json

Each agent trains with its preset's budget (``conf/agent/*.yaml``; the bandits learn online
from 300k shopper-steps of clicks) on its own seed's training shoppers, and every agent meets
the same ``--shoppers`` evaluation shoppers (common random numbers). Per agent: the mean
session return (clicks in 50 steps of 3-item slates) over seeds with a 95% CI over seeds and
shoppers, the normalised score ``(agent - random) / (myopic oracle - random)``, and the
*true* click probability of the items it showed (``sigmoid(b + a_i)`` of the fitted click
model, averaged over its impressions: what it chose, without the click noise). Paired
differences on the same shoppers, seeds paired: each bandit minus random (Thompson sampling's
whatever it is), minus the best simple baseline and minus the oracle, and Thompson sampling
minus the other bandits. Then Thompson sampling's learning curve
(its budget from ``--curve`` steps): how much data it takes to find the few better items.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from threadpoolctl import threadpool_limits

from agents.base import write_json_atomically
from agents.evaluation import EvaluationResult, paired_difference, pooled_estimate
from benchmarks.agents import normalise
from experiments.agent_runs import train_and_evaluate
from recenv.sim.calibrated import ClickModel, calibration_path

BANDITS = ("thompson", "epsilon_greedy", "linucb")
BASELINES = ("random", "popularity", "custom_example", "rule")
REFERENCE = "myopic_oracle"  # greedy on the true click probabilities: the upper bound here


def true_click_probability(model: ClickModel, result: EvaluationResult) -> float:
    """Mean ``sigmoid(b + a_i)`` over the impressions shown (positions have no effect here)."""
    items = result.sessions["items"]
    shown = items[items >= 0]
    return float(np.mean(1.0 / (1.0 + np.exp(-(model.intercept + model.item[shown])))))


def world_summary(model: ClickModel) -> dict:
    """What the fitted world offers: the spread of item appeal and the best possible lift."""
    probability = 1.0 / (1.0 + np.exp(-(model.intercept + model.item)))
    top = np.argsort(-probability)[:3]
    return {
        "log_rows": model.n_rows,
        "log_clicks": model.n_clicks,
        "item_spread_prior_sd": model.item_spread,
        "item_spread_ci": list(model.item_spread_ci or ()),
        "item_effect_sd": float(model.item.std()),
        "item_effect_range": [float(model.item.min()), float(model.item.max())],
        "mean_click_probability": float(probability.mean()),
        "top3_items": top.tolist(),
        "top3_click_probability": float(probability[top].mean()),
        "items_within_0.05_logit_of_the_top3": int(
            (model.item >= model.item[top].min() - 0.05).sum()
        ),
    }


def run_agent(name: str, seeds: list[int], overrides: list[str], model: ClickModel) -> dict:
    """Train and evaluate ``name`` on each seed; its figures and per-seed results."""
    runs = [train_and_evaluate(name, seed, overrides) for seed in seeds]
    results = [run["result"] for run in runs]
    estimate, ctr = pooled_estimate(results), pooled_estimate(results, "ctr")
    figures = {
        "role": runs[0]["role"],
        "mean_return": estimate.mean,
        "ci_low": estimate.ci_low,
        "ci_high": estimate.ci_high,
        "ctr": ctr.as_dict(),
        "per_seed_return": [result.summary["return"].mean for result in results],
        "true_click_probability": [true_click_probability(model, r) for r in results],
        "budget_steps": runs[0]["budget_steps"],
        "training_shopper_steps": [run["shopper_steps"]["training"] for run in runs],
        "train_seconds": [round(run["train_seconds"], 1) for run in runs],
    }
    print(
        f"{name:>16}: return {estimate.mean:.4f} [{estimate.ci_low:.4f}, {estimate.ci_high:.4f}]"
        f"  true p(click) {np.mean(figures['true_click_probability']):.5f}"
        f"  train {figures['train_seconds']} s",
        flush=True,
    )
    return {"figures": figures, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--shoppers", type=int, default=5000, help="evaluation shoppers")
    parser.add_argument(
        "--curve",
        type=int,
        nargs="*",
        default=[10_000, 30_000, 100_000, 1_000_000],
        help="Thompson sampling's extra training budgets (shopper-steps) for its curve",
    )
    args = parser.parse_args()
    # one BLAS thread: LinUCB's small matrix products stall on spinning threads when the
    # machine is shared (measured 25x slower on two loaded cores)
    threadpool_limits(1)
    if args.json and args.json.exists() and not args.overwrite:
        raise SystemExit(f"{args.json} exists; pass --overwrite to replace it")
    overrides = ["env=obd", f"eval.n_shoppers={args.shoppers}"]
    model = ClickModel.load(calibration_path("obd"))
    report: dict = {
        "seeds": args.seeds,
        "shoppers": args.shoppers,
        "overrides": overrides,
        "world": world_summary(model),
        "agents": {},
    }
    results: dict[str, list[EvaluationResult]] = {}
    for name in (*BASELINES, *BANDITS, REFERENCE):
        # the oracle's act does not depend on a seed: evaluated once, paired with every seed
        seeds = args.seeds[:1] if name == REFERENCE else args.seeds
        run = run_agent(name, seeds, overrides, model)
        report["agents"][name] = run["figures"]
        results[name] = run["results"] * (len(args.seeds) // len(seeds))
    normalise(report)
    agents = report["agents"]
    baselines = [name for name in BASELINES if name != "random"]
    report["best_baseline"] = max(baselines, key=lambda name: agents[name]["mean_return"])
    differences = {}
    for bandit in BANDITS:
        for other in dict.fromkeys(("random", report["best_baseline"], REFERENCE)):
            differences[f"{bandit}_minus_{other}"] = paired_difference(
                results[bandit], results[other]
            ).as_dict()
    for other in BANDITS[1:]:  # Thompson sampling against the other bandits
        differences[f"thompson_minus_{other}"] = paired_difference(
            results["thompson"], results[other]
        ).as_dict()
    report["differences"] = differences
    for key, value in differences.items():
        print(f"{key:>36}: {value['mean']:+.4f} [{value['ci_low']:+.4f}, {value['ci_high']:+.4f}]")
    preset_budget = agents["thompson"]["budget_steps"]
    report["thompson_curve"] = thompson_curve(
        args.curve, args.seeds, overrides, model, results, preset_budget
    )
    if args.json:
        write_json_atomically(args.json, report)


def thompson_curve(
    budgets: list[int],
    seeds: list[int],
    overrides: list[str],
    model: ClickModel,
    results: dict[str, list[EvaluationResult]],
    preset_budget: int,
) -> list[dict]:
    """Thompson sampling minus random at each training budget, the preset's main run included."""
    curve = []
    for budget in sorted({*budgets, preset_budget}):
        if budget == preset_budget:
            runs = results["thompson"]
        else:
            budgeted = [*overrides, f"train.total_steps={budget}"]
            runs = [train_and_evaluate("thompson", seed, budgeted)["result"] for seed in seeds]
        difference = paired_difference(runs, results["random"])
        curve.append(
            {
                "budget_steps": budget,
                "minus_random": difference.as_dict(),
                "true_click_probability": [true_click_probability(model, r) for r in runs],
            }
        )
        print(
            f"thompson, {budget:>9,} steps, minus random: {difference.mean:+.4f} "
            f"[{difference.ci_low:+.4f}, {difference.ci_high:+.4f}]",
            flush=True,
        )
    return curve


if __name__ == "__main__":
    main()
