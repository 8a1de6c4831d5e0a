"""Every agent on one scenario, 5 independent training seeds, the same evaluation shoppers.

    python benchmarks/agents.py --json benchmarks/results/agents.json
    python benchmarks/agents.py --seeds 0 1 2 --agents random popularity dqn env=small
    python benchmarks/agents.py --agents kmeans dqn --agent-override dqn +agent.cart_shaping=1 \
        --json benchmarks/results/agents_sparse_shaping.json env=sparse

Each learning agent trains with the budget of its preset (``conf/agent/*.yaml``) on the
training split of its own seed (seeds never share shoppers: ``recenv.sim.streams``), and every
agent meets the same ``eval.n_shoppers`` shoppers of the evaluation split (common random
numbers). Per agent: mean session return over seeds with a 95% CI over seeds *and*
shoppers (two-level bootstrap), per-seed returns, the shopper-steps consumed (training,
model selection on validation shoppers) and the wall time, and the normalised score
``(agent - random) / (best reference - random)`` (``normalise``). Then
``dqn_minus_<agent>``: the paired difference on the same shoppers, seeds paired, with its
two-level 95% CI. Agents whose results do not depend on a seed (oracles) are evaluated once
and paired with every seed. Simple baselines (``role == "baseline"``: random, popularity, the
BoughtAndFresh rule) and oracles are always included; ``best_baseline`` names the best
of the baselines.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from agents.evaluation import EvaluationResult, paired_difference, pooled_estimate
from experiments.agent_runs import train_and_evaluate

LEARNERS = ("kmeans", "mlp", "dqn")
BASELINES = ("random", "popularity", "custom_example", "rule")
ORACLES = ("myopic_oracle", "long_term_oracle", "planner")
# References evaluated once and paired with every seed: the oracles' acts do not depend on a
# seed, and the planner's only through its planning streams (it is a reference, not a learner)
SEED_FREE = ORACLES


def normalise(report: dict) -> None:
    """``normalised = (agent - random) / (best reference - random)`` for every agent.

    The best reference is the oracle (myopic, long-term heuristic or planner) with the
    highest mean return *in this scenario*: the planner is the upper bound where its rollouts
    see the long-term effects, but not everywhere (on ``realistic`` the myopic oracle beats it),
    and a score above 1 against a weaker reference would overstate how close an agent is.
    """
    agents = report["agents"]
    references = [name for name, figures in agents.items() if figures["role"] == "oracle"]
    top_name = max(references, key=lambda name: agents[name]["mean_return"])
    floor, top = agents["random"]["mean_return"], agents[top_name]["mean_return"]
    report["normalised_by"] = top_name
    for figures in agents.values():
        figures["normalised"] = (figures["mean_return"] - floor) / (top - floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--agents", nargs="+", default=[*BASELINES, *LEARNERS])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest here)")
    parser.add_argument(
        "--agent-override",
        nargs=2,
        action="append",
        default=[],
        metavar=("AGENT", "OVERRIDE"),
        help="a Hydra override for one agent only (repeatable), e.g. dqn +agent.cart_shaping=1",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. env=small")
    args = parser.parse_args()
    own: dict[str, list[str]] = {}
    for agent, override in args.agent_override:
        own.setdefault(agent, []).append(override)
    torch.set_num_threads(args.threads)

    names = list(dict.fromkeys([*BASELINES, *args.agents, *ORACLES]))
    results: dict[str, list[EvaluationResult]] = {}
    report: dict = {
        "agents": {},
        "seeds": args.seeds,
        "overrides": args.overrides,
        "agent_overrides": own,
    }
    for name in names:
        seeds = args.seeds[:1] if name in SEED_FREE else args.seeds
        overrides = [*args.overrides, *own.get(name, [])]
        runs = [train_and_evaluate(name, seed, overrides) for seed in seeds]
        results[name] = [run["result"] for run in runs] * (len(args.seeds) // len(runs))
        estimate = pooled_estimate(results[name])
        first = runs[0]["result"].summary
        report["agents"][name] = {
            "role": runs[0]["role"],
            "mean_return": estimate.mean,
            "ci_low": estimate.ci_low,
            "ci_high": estimate.ci_high,
            "per_seed_return": [run["result"].summary["return"].mean for run in runs],
            "budget_steps": runs[0]["budget_steps"],
            "training_shopper_steps": [run["shopper_steps"]["training"] for run in runs],
            "selection_shopper_steps": [run["shopper_steps"]["selection"] for run in runs],
            "train_seconds": [round(run["train_seconds"], 1) for run in runs],
            "ctr": pooled_estimate(results[name], "ctr").mean,
            "conversion_rate": pooled_estimate(results[name], "conversion_rate").mean,
            "session_length": first["session_length"].mean,
        }
        print(
            f"{name:>18}: return {estimate.mean:6.2f} [{estimate.ci_low:.2f}, "
            f"{estimate.ci_high:.2f}]  per seed "
            f"{[round(r, 2) for r in report['agents'][name]['per_seed_return']]}  "
            f"train {report['agents'][name]['train_seconds']} s, shopper-steps "
            f"{report['agents'][name]['training_shopper_steps'][0]:,} + "
            f"{report['agents'][name]['selection_shopper_steps'][0]:,} selection",
            flush=True,
        )
    agents = report["agents"]
    normalise(report)
    baselines = [name for name, figures in agents.items() if figures["role"] == "baseline"]
    report["best_baseline"] = max(baselines, key=lambda name: agents[name]["mean_return"])
    if "planner" in results:  # the top reference against every other one
        for name in ("long_term_oracle", "myopic_oracle", report["best_baseline"]):
            if name in results:
                report[f"planner_minus_{name}"] = paired_difference(
                    results["planner"], results[name]
                ).as_dict()
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
