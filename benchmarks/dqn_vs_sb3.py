"""Our DQN against stable-baselines3's DQN: same env, hyperparameters and budget, one run.

    python benchmarks/dqn_vs_sb3.py --json benchmarks/results/dqn_vs_sb3.json

Both learn on ``default`` from ``--n-envs`` shoppers stepped together, one gradient step
of ``batch_size`` per vector step, the same learning rate, discount, buffer, warm-up,
exploration schedule and target-network period (SB3 counts it in env steps, we count it in
gradient steps: the script converts). To match SB3's algorithm, ours runs as plain DQN here
(one-step targets, no Double DQN, no validation-based model selection). Reports env-steps/s
of each, their ratio, and the mean session return of each on the same evaluation shoppers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.dqn import DQNAgent
from agents.evaluation import evaluate, paired_difference
from agents.sb3 import SB3Agent
from recenv import ShoppingVectorEnv, make_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--steps", type=int, default=100_000, help="env-steps for each agent")
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--eval-shoppers", type=int, default=1000)
    args = parser.parse_args()

    config = make_config(args.preset)
    shared = {
        "learning_rate": 5e-4,
        "gamma": 0.97,
        "buffer_size": 100_000,
        "batch_size": 256,
        "learning_starts": 5_000,
        "exploration_fraction": 0.3,
        "exploration_final": 0.05,
    }
    target_updates = 250  # gradient steps between target copies
    ours = DQNAgent(
        config,
        seed=0,
        device="cpu",
        **shared,
        target_update="hard",
        target_update_interval=target_updates,
        double_dqn=False,
        n_steps=1,
        validation_interval=0,
        learning_rate_end=1.0,
    )
    sb3_kwargs = {key: value for key, value in shared.items() if key != "exploration_final"}
    sb3 = SB3Agent(
        config,
        seed=0,
        device="cpu",
        algorithm="dqn",
        n_envs=args.n_envs,
        **sb3_kwargs,
        exploration_final_eps=shared["exploration_final"],
        target_update_interval=target_updates * args.n_envs,
        train_freq=1,
        gradient_steps=1,
    )
    figures: dict[str, float | int | str] = {
        "preset": args.preset,
        "steps": args.steps,
        "n_envs": args.n_envs,
    }
    start = time.perf_counter()
    ours.learn(ShoppingVectorEnv(args.n_envs, config=config), args.steps)
    figures["ours_steps_per_s"] = args.steps / (time.perf_counter() - start)
    start = time.perf_counter()
    sb3.learn(None, args.steps)
    figures["sb3_steps_per_s"] = args.steps / (time.perf_counter() - start)
    figures["ratio"] = figures["ours_steps_per_s"] / figures["sb3_steps_per_s"]
    ours_result = evaluate(ours, config, args.eval_shoppers, seed=123_456)
    sb3_result = evaluate(sb3, config, args.eval_shoppers, seed=123_456)
    figures["ours_return"] = ours_result.summary["return"].mean
    figures["sb3_return"] = sb3_result.summary["return"].mean
    difference = paired_difference(ours_result, sb3_result)
    figures["ours_minus_sb3_return"] = difference.mean
    figures["ours_minus_sb3_ci"] = [difference.ci_low, difference.ci_high]
    for key, value in figures.items():
        print(f"{key:>24}: {value:.4g}" if isinstance(value, float) else f"{key:>24}: {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
