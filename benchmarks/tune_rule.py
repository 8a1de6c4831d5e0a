"""Tune the rule baseline on tuning shoppers, never on the benchmark's evaluation shoppers.

    python benchmarks/tune_rule.py --json benchmarks/results/rule_tuning.json
    python benchmarks/tune_rule.py --windows 0 4 8 --click-weights 0 0.1 env=small

``agents.rule.RuleAgent`` has three knobs a log cannot fit: ``rotation_window`` (steps a
shown category stays blocked), ``click_weight`` (what a click is worth beside the logged
revenue; the env's ``reward_click`` makes the score myopic) and ``prior_strength`` (the
pseudo-count smoothing each item's rates). Every grid point is a rule fitted, as ``learn``
fits it, on the random logs of each ``--log-seeds`` seed (training split, the preset's
budget; seeds apart from the benchmark's 0-4) and scored by its mean session return on
``--n-shoppers`` evaluation-split shoppers of ``--tuning-seed``, which must differ from the
benchmark's ``eval.seed`` (123456): the benchmark then judges the chosen values on shoppers
the choice never saw. The best mean over log seeds is written to ``chosen``; for it, the
paired difference with random and with the env's own click weight (95% CI over log seeds
and shoppers), the per-window best, and every grid point. ``conf/agent/rule.yaml`` ships
the chosen values.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from agents.evaluation import EvaluationResult, evaluate, paired_difference, run_sessions
from agents.logs import InteractionLog, collect_random_logs
from agents.random import RandomAgent
from agents.rule import RuleAgent
from benchmarks.timing import write_results
from experiments.factory import compose_config, env_config_from, training_env
from recenv.sim.config import EnvConfig

KNOBS = ("rotation_window", "click_weight", "prior_strength")
Logs = dict[int, InteractionLog]  # log seed -> its random log


def fitted_rule(env_config: EnvConfig, seed: int, logs: InteractionLog, **knobs) -> RuleAgent:
    """The rule with these hyperparameters fitted on one seed's log (what ``learn`` does)."""
    agent = RuleAgent(env_config, seed=seed, **knobs)
    agent.fit(logs)
    return agent


def grid_search(
    env_config: EnvConfig, logs: Logs, args: argparse.Namespace, n_shoppers: int
) -> list[dict]:
    """Mean session return on the tuning shoppers of every grid point, per log seed."""
    grid = []
    for strength, click_weight, window in itertools.product(
        args.prior_strengths, args.click_weights, args.windows
    ):
        knobs = {
            "rotation_window": window,
            "click_weight": click_weight,
            "prior_strength": strength,
        }
        returns = [
            float(
                run_sessions(
                    fitted_rule(env_config, seed, log, **knobs),
                    env_config,
                    n_shoppers,
                    args.tuning_seed,
                )["return"].mean()
            )
            for seed, log in logs.items()
        ]
        grid.append(
            {**knobs, "per_log_seed_return": returns, "mean_return": float(np.mean(returns))}
        )
    return grid


def chosen_figures(
    env_config: EnvConfig, logs: Logs, chosen: dict, tuning_seed: int, n_shoppers: int
) -> dict:
    """The chosen rule against random and against the env's own click weight, paired."""

    def results_of(**knobs) -> list[EvaluationResult]:
        return [
            evaluate(
                fitted_rule(env_config, seed, log, **knobs), env_config, n_shoppers, tuning_seed
            )
            for seed, log in logs.items()
        ]

    rule = results_of(**chosen)
    myopic = results_of(**{**chosen, "click_weight": env_config.funnel.reward_click})
    random = [
        evaluate(RandomAgent(env_config, seed=seed), env_config, n_shoppers, tuning_seed)
        for seed in logs
    ]
    return {
        "random_mean_return": float(np.mean([one.summary["return"].mean for one in random])),
        "rule_minus_random": paired_difference(rule, random).as_dict(),
        "rule_minus_env_click_weight": paired_difference(rule, myopic).as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--tuning-seed", type=int, default=777)
    parser.add_argument("--log-seeds", type=int, nargs="+", default=[100, 101])
    parser.add_argument("--windows", type=int, nargs="+", default=list(range(13)))
    parser.add_argument(
        "--click-weights",
        type=float,
        nargs="+",
        default=[0.0, 0.05, 0.1, 0.125, 0.15, 0.175, 0.2, 0.3],
    )
    parser.add_argument("--prior-strengths", type=float, nargs="+", default=[2.0, 10.0, 50.0])
    parser.add_argument("--n-shoppers", type=int, help="tuning shoppers (default eval.n_shoppers)")
    parser.add_argument("--steps", type=int, help="logged shopper-steps (default: the preset's)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. env=small")
    args = parser.parse_args()

    cfg = compose_config(["agent=rule", *args.overrides])
    env_config = env_config_from(cfg)
    if args.tuning_seed == int(cfg.eval.seed):
        raise ValueError(
            f"--tuning-seed = {args.tuning_seed} is the benchmark's eval.seed; choose another"
        )
    steps = args.steps or int(cfg.train.total_steps)
    n_shoppers = args.n_shoppers or int(cfg.eval.n_shoppers)
    start = time.perf_counter()
    logs = {
        seed: collect_random_logs(training_env(cfg, env_config), env_config, steps, seed)
        for seed in args.log_seeds
    }
    grid = grid_search(env_config, logs, args, n_shoppers)
    best = max(grid, key=lambda point: point["mean_return"])
    chosen = {name: best[name] for name in KNOBS}
    print(f"chosen {chosen}: mean return {best['mean_return']:.2f}", flush=True)
    figures = {
        "overrides": args.overrides,
        "tuning_seed": args.tuning_seed,
        "benchmark_eval_seed": int(cfg.eval.seed),
        "log_seeds": args.log_seeds,
        "logged_shopper_steps": steps,
        "n_shoppers": n_shoppers,
        "chosen": chosen,
        "chosen_mean_return": best["mean_return"],
        **chosen_figures(env_config, logs, chosen, args.tuning_seed, n_shoppers),
        "best_per_window": {
            str(window): max(
                (point for point in grid if point["rotation_window"] == window),
                key=lambda point: point["mean_return"],
            )
            for window in args.windows
        },
        "grid": grid,
        "seconds": round(time.perf_counter() - start, 1),
    }
    for name in ("rule_minus_random", "rule_minus_env_click_weight"):
        print(f"{name}: {figures[name]}")
    if args.json:
        write_results(args.json, figures)


if __name__ == "__main__":
    main()
