"""Simulate shopping sessions under a reference policy and print session statistics.

    python -m experiments.simulate --preset default --shoppers 2000 --policy long_term

Each of the N shopper slots plays its first session (the same shoppers for every policy
and seed), so the numbers of two policies are paired.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from agents.oracle import LongTermOracle, MyopicOracle
from recenv import ShoppingVectorEnv, available_presets, make_config

POLICIES = ("random", "myopic", "long_term")


def simulate_sessions(preset: str, n_shoppers: int, policy: str, seed: int) -> dict[str, Any]:
    """Run one session per slot and return per-session arrays of the quantities of interest."""
    if policy not in POLICIES:
        raise ValueError(f"policy = {policy!r} is not allowed; choose one of {POLICIES}")
    config = make_config(preset, expose_hidden_state=policy != "random")
    env = ShoppingVectorEnv(n_shoppers, config=config)
    agent = {"myopic": MyopicOracle, "long_term": LongTermOracle}.get(policy)
    oracle = agent(config) if agent else None
    observation, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    totals = {
        name: np.zeros(n_shoppers)
        for name in ("return", "steps", "clicks", "carts", "purchases", "revenue")
    }
    ended_by_patience_or_budget = np.zeros(n_shoppers, dtype=bool)
    active = np.ones(n_shoppers, dtype=bool)
    while active.any():
        if oracle is not None:
            action = oracle.act(observation, info=info)
        else:
            action = env.action_space.sample()
        observation, reward, terminated, truncated, info = env.step(action)
        for name, value in (
            ("return", reward),
            ("steps", 1),
            ("clicks", info["click"]),
            ("carts", info["cart"]),
            ("purchases", info["purchase"]),
            ("revenue", info["revenue"]),
        ):
            totals[name] += value * active
        ended_by_patience_or_budget |= terminated & active
        active &= ~(terminated | truncated)
    totals["terminated"] = ended_by_patience_or_budget.astype(float)
    return totals


def summarise(totals: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Mean and 95% normal-approximation half-width of each per-session quantity."""
    summary = {}
    for name, values in totals.items():
        half_width = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
        summary[name] = (float(values.mean()), float(half_width))
    steps = totals["steps"].sum()
    summary["ctr"] = (float(totals["clicks"].sum() / steps), float("nan"))
    summary["conversion"] = (float(totals["purchases"].sum() / steps), float("nan"))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=available_presets())
    parser.add_argument("--shoppers", type=int, default=2000)
    parser.add_argument("--policy", default="long_term", choices=POLICIES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    summary = summarise(simulate_sessions(args.preset, args.shoppers, args.policy, args.seed))
    elapsed = time.perf_counter() - start
    print(
        f"recenv | preset={args.preset} policy={args.policy} shoppers={args.shoppers} "
        f"seed={args.seed} ({elapsed:.1f} s)"
    )
    for name, (mean, half_width) in summary.items():
        interval = "" if np.isnan(half_width) else f" ± {half_width:.3f}"
        print(f"  {name:<11s} {mean:9.3f}{interval}")


if __name__ == "__main__":
    main()
