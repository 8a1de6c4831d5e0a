"""Each long-term mechanism's share of the planner's lead over the myopic oracle.

    python benchmarks/ablation.py --json benchmarks/results/ablation.json
    python benchmarks/ablation.py --preset long_term --shoppers 500 --agents myopic_oracle planner

On a preset with its mechanisms on (``long_term`` by default), the oracles are evaluated
on the same shoppers (common random numbers) in the full world and with each mechanism
switched off in turn (``MECHANISMS``: one place). For each world: every oracle's mean return,
``planner - myopic_oracle`` and ``long_term_oracle - myopic_oracle`` with paired 95% CIs.
A mechanism's *share* of the planner's lead is ``(gap_all - gap_without) / gap_all``: how
much of the long-term advantage disappears without it (shares need not sum to 1: effects
interact). The oracles need no training, so the whole table is one evaluation per agent
and world.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from agents.evaluation import EvaluationResult, evaluate, paired_difference
from experiments.factory import build_agent, compose_config, env_config_from

# mechanism -> the env overrides that switch it off (from a preset that has it on)
MECHANISMS: dict[str, list[str]] = {
    "clickbait": ["env.catalog.clickbait_fraction=0"],
    "boredom": ["env.dynamics.boredom=0"],
    "needs": ["env.dynamics.satiation=0", "env.dynamics.complement_boost=0"],
    "returning": ["env.episode=session"],
    "budget_carry": ["env.shoppers.budget_refill=1"],
    "taste_spread": ["env.shoppers.taste_noise=0.5"],  # back to default's spread
}
AGENTS = ("random", "myopic_oracle", "long_term_oracle", "planner")


def evaluate_world(
    agents: list[str], overrides: list[str], shoppers: int, seed: int
) -> dict[str, EvaluationResult]:
    """Every agent on the same ``shoppers`` evaluation shoppers of one world."""
    results = {}
    for name in agents:
        cfg = compose_config([f"agent={name}", *overrides])
        env_config = env_config_from(cfg)
        results[name] = evaluate(build_agent(cfg, env_config), env_config, shoppers, seed)
    return results


def gaps(results: dict[str, EvaluationResult]) -> dict[str, dict[str, float]]:
    """Paired differences to the myopic oracle of the long-term references."""
    out = {}
    for name in ("planner", "long_term_oracle"):
        if name in results and "myopic_oracle" in results:
            difference = paired_difference(results[name], results["myopic_oracle"])
            out[f"{name}_minus_myopic"] = difference.as_dict()
    if "planner" in results and "long_term_oracle" in results:
        difference = paired_difference(results["planner"], results["long_term_oracle"])
        out["planner_minus_long_term_oracle"] = difference.as_dict()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--preset", default="long_term")
    parser.add_argument("--shoppers", type=int, default=500)
    parser.add_argument("--seed", type=int, default=123_456, help="evaluation shoppers' seed")
    parser.add_argument("--agents", nargs="+", default=list(AGENTS))
    parser.add_argument("--mechanisms", nargs="+", default=list(MECHANISMS))
    args = parser.parse_args()
    unknown = sorted(set(args.mechanisms) - set(MECHANISMS))
    if unknown:
        parser.error(f"unknown mechanisms {unknown}; choose from {sorted(MECHANISMS)}")
    torch.set_num_threads(1)
    base = [f"env={args.preset}"]
    report: dict = {"preset": args.preset, "shoppers": args.shoppers, "worlds": {}}
    for world in ["all", *args.mechanisms]:
        start = time.perf_counter()
        overrides = base + ([] if world == "all" else MECHANISMS[world])
        results = evaluate_world(args.agents, overrides, args.shoppers, args.seed)
        report["worlds"][world] = {
            "overrides": overrides,
            "returns": {
                name: result.summary["return"].as_dict() for name, result in results.items()
            },
            **gaps(results),
        }
        print(
            f"{world:>14}: "
            + "  ".join(f"{name} {r.summary['return'].mean:.2f}" for name, r in results.items())
            + f"  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    full = report["worlds"]["all"].get("planner_minus_myopic", {}).get("mean")
    for world in args.mechanisms:
        without = report["worlds"][world].get("planner_minus_myopic", {}).get("mean")
        if full and without is not None:
            report["worlds"][world]["share_of_planner_lead"] = (full - without) / full
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
