"""Serving latency: ``act`` for one shopper on the ``large`` catalog (100,000 items), CPU.

    python benchmarks/latency.py --json benchmarks/results/latency.json

For each agent, 10,000 calls of ``act(observation, deterministic=True)`` with a single
shopper's observation (a batch of one), after a warm-up; observations come from a real
session so histories and carts are filled. Reports ``p50_ms`` and ``p99_ms`` per agent;
the top-level ``p50_ms`` / ``p99_ms`` are DQN's. Torch runs on one thread, as a serving
worker would.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.dqn import DQNAgent
from agents.kmeans import KMeansAgent
from agents.mlp import MLPAgent
from agents.popularity import PopularityAgent
from benchmarks.timing import write_results
from recenv import ShoppingVectorEnv, make_config

AGENTS = {
    "dqn": DQNAgent,
    "mlp": MLPAgent,
    "popularity": PopularityAgent,
    "kmeans": KMeansAgent,
}


def sample_observations(config, count: int) -> list[dict[str, np.ndarray]]:
    """Single-shopper observations from a random-policy session of 64 shoppers."""
    env = ShoppingVectorEnv(64, config=config)
    observation, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    samples: list[dict[str, np.ndarray]] = []
    while len(samples) < count:
        observation, *_ = env.step(rng.integers(0, config.catalog.n_items, 64))
        for slot in range(64):
            samples.append({key: value[slot : slot + 1] for key, value in observation.items()})
    return samples[:count]


def time_calls(agent, observations: list[dict[str, np.ndarray]]) -> tuple[float, float]:
    for observation in observations[:200]:  # warm-up
        agent.act(observation, deterministic=True)
    timings = np.empty(len(observations))
    for index, observation in enumerate(observations):
        start = time.perf_counter()
        agent.act(observation, deterministic=True)
        timings[index] = time.perf_counter() - start
    p50, p99 = np.percentile(timings * 1e3, [50, 99])
    return float(p50), float(p99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--preset", default="large")
    parser.add_argument("--agents", nargs="+", default=list(AGENTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = make_config(args.preset)
    observations = sample_observations(config, args.calls)
    figures: dict[str, object] = {"preset": args.preset, "calls": args.calls, "agents": {}}
    for name in args.agents:
        agent = AGENTS[name](config, seed=0, device="cpu")
        p50, p99 = time_calls(agent, observations)
        figures["agents"][name] = {"p50_ms": p50, "p99_ms": p99}
        print(f"{name:>12}: p50 {p50:.3f} ms, p99 {p99:.3f} ms", flush=True)
    if "dqn" in figures["agents"]:
        figures.update(figures["agents"]["dqn"])
    if args.json:
        write_results(args.json, figures)


if __name__ == "__main__":
    main()
