"""Simulate shopping sessions under a reference policy and print session statistics.

    python -m experiments.simulate --preset default --shoppers 2000 --policy long_term

Each of the N evaluation shoppers plays its first session (the same shoppers for every
policy and seed, and the same as ``agents.evaluation.evaluate`` meets), so the numbers of
two policies are paired. The metrics are those of ``recenv.metrics`` (same definitions as
``results.json`` and reports), each with its 95% bootstrap CI, plus carts and purchases per
session and the share of sessions ended by patience or budget rather than the horizon.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from agents.evaluation import EvaluationResult, evaluate
from agents.oracle import LongTermOracle, MyopicOracle
from agents.random import RandomAgent
from recenv import available_presets, make_config
from recenv.stats import mean_estimate

POLICIES = {"random": RandomAgent, "myopic": MyopicOracle, "long_term": LongTermOracle}
EXTRA = {  # per-session counts beside the metric table
    "carts": "add-to-carts per session",
    "purchases": "checkouts per session",
    "terminated": "share of sessions ended by patience or budget",
}


def simulate_sessions(preset: str, n_shoppers: int, policy: str, seed: int) -> EvaluationResult:
    """One session per evaluation shopper under ``policy``; per-session arrays and metrics."""
    if policy not in POLICIES:
        raise ValueError(f"policy = {policy!r} is not allowed; choose one of {sorted(POLICIES)}")
    config = make_config(preset)
    agent = POLICIES[policy](config, seed=seed)
    return evaluate(agent, config, n_shoppers, seed)


def summarise(result: EvaluationResult) -> dict[str, dict[str, float]]:
    """Every metric of the table and the extra counts, each with its 95% CI."""
    summary = {name: estimate.as_dict() for name, estimate in result.summary.items()}
    for name in EXTRA:
        summary[name] = mean_estimate(result.sessions[name]).as_dict()
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=available_presets())
    parser.add_argument("--shoppers", type=int, default=2000)
    parser.add_argument("--policy", default="long_term", choices=sorted(POLICIES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.shoppers < 1:
        parser.error(f"--shoppers = {args.shoppers} is out of range; allowed: integers >= 1")
    start = time.perf_counter()
    summary = summarise(simulate_sessions(args.preset, args.shoppers, args.policy, args.seed))
    elapsed = time.perf_counter() - start
    print(
        f"recenv | preset={args.preset} policy={args.policy} shoppers={args.shoppers} "
        f"seed={args.seed} ({elapsed:.1f} s)"
    )
    for name, figures in summary.items():
        print(
            f"  {name:<21s} {figures['mean']:9.4f}  "
            f"[{figures['ci_low']:.4f}, {figures['ci_high']:.4f}]"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": str(args.json)}, **summary}, indent=2)
        )
    return summary


if __name__ == "__main__":
    main()
