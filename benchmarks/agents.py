"""Every agent on one scenario, 3 training seeds, the same evaluation shoppers for all.

    python benchmarks/agents.py --json benchmarks/results/agents.json

Each learning agent trains with the budget of its preset (``conf/agent/*.yaml``: shopper-
steps, vector width) and is evaluated on ``eval.n_shoppers`` shoppers of ``eval.seed``,
the same shoppers for every agent and seed (common random numbers). Per agent: mean session
return over seeds with a 95% bootstrap CI, per-seed returns and training seconds; then the
paired differences ``dqn_minus_<agent>`` (mean over seeds of the per-seed difference on the
same shoppers, 95% paired bootstrap CI). Oracles act on the hidden state and need no
training; they are evaluated once and reused for every seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.evaluation import EvaluationResult, evaluate, paired_difference, pooled_estimate
from experiments.factory import build_agent, compose_config, env_config_from, training_env

LEARNERS = ("random", "popularity", "kmeans", "mlp", "dqn")
ORACLES = ("myopic_oracle", "long_term_oracle")


def train_and_evaluate(agent_name: str, seed: int, overrides: list[str]) -> dict:
    """Build, train (with the preset's budget) and evaluate one agent for one seed."""
    cfg = compose_config([f"agent={agent_name}", f"seed={seed}", *overrides])
    env_config = env_config_from(cfg)
    agent = build_agent(cfg, env_config)
    start = time.perf_counter()
    if cfg.train.total_steps > 0:
        agent.learn(training_env(cfg, env_config), int(cfg.train.total_steps))
    seconds = time.perf_counter() - start
    result = evaluate(agent, env_config, int(cfg.eval.n_shoppers), int(cfg.eval.seed))
    return {"result": result, "train_seconds": seconds, "total_steps": int(cfg.train.total_steps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--agents", nargs="+", default=list(LEARNERS))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. env=small")
    args = parser.parse_args()

    results: dict[str, list[EvaluationResult]] = {}
    report: dict[str, dict] = {"agents": {}, "seeds": args.seeds, "overrides": args.overrides}
    for name in [*args.agents, *ORACLES]:
        seeds = args.seeds if name not in ORACLES else args.seeds[:1]
        runs = [train_and_evaluate(name, seed, args.overrides) for seed in seeds]
        results[name] = [run["result"] for run in runs] * (len(args.seeds) // len(runs))
        estimate = pooled_estimate(results[name])
        report["agents"][name] = {
            "mean_return": estimate.mean,
            "ci_low": estimate.ci_low,
            "ci_high": estimate.ci_high,
            "per_seed_return": [run["result"].summary["return"].mean for run in runs],
            "train_seconds": [round(run["train_seconds"], 1) for run in runs],
            "train_steps": runs[0]["total_steps"],
            "ctr": runs[0]["result"].summary["ctr"].mean,
            "session_length": runs[0]["result"].summary["session_length"].mean,
        }
        print(
            f"{name:>18}: return {estimate.mean:6.2f} [{estimate.ci_low:.2f}, "
            f"{estimate.ci_high:.2f}]  per seed "
            f"{[round(r, 2) for r in report['agents'][name]['per_seed_return']]}  "
            f"train {report['agents'][name]['train_seconds']} s",
            flush=True,
        )
    if "dqn" in results:
        for name, others in results.items():
            if name == "dqn":
                continue
            difference = paired_difference(results["dqn"], others)
            report[f"dqn_minus_{name}"] = difference.as_dict()
            print(
                f"dqn - {name:>16}: {difference.mean:+6.2f} "
                f"[{difference.ci_low:+.2f}, {difference.ci_high:+.2f}]"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
