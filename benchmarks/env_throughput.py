"""Simulator throughput against a bare numpy ceiling kernel, measured in one run.

    python benchmarks/env_throughput.py --json results/env_throughput.json

Reports single-env steps/s through ``gymnasium.make``, vector-env shopper-steps/s at
N = 1, 64, 4096, 65536 on ``default`` and ``large``, the same figures for a kernel that
does only the multinomial-logit choice (gather slate embeddings, score, no-click option,
softmax, sample, push into a history ring buffer) -- the ceiling -- with the ratio, and
the peak memory of N = 65,536 shoppers on ``large`` (measured in a fresh subprocess).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import recenv

SIZES = (1, 64, 4096, 65536)
REPEATS = 3
PRESETS = ("default", "large")


class CeilingKernel:
    """The least work a batched MNL recommender simulator can do per shopper-step."""

    def __init__(self, embeddings: np.ndarray, n_shoppers: int, history_length: int) -> None:
        rng = np.random.default_rng(0)
        self.embeddings = embeddings
        self.taste = rng.standard_normal((n_shoppers, embeddings.shape[1])).astype(np.float32)
        self.history = np.zeros((n_shoppers, history_length), dtype=np.int64)
        self.position = 0
        self.rows = np.arange(n_shoppers)
        self.rng = rng

    def step(self, slates: np.ndarray) -> np.ndarray:
        shown = self.embeddings.take(slates, axis=0)  # (n, K, d)
        scores = np.matmul(shown, self.taste[:, :, None])[..., 0]
        top = np.maximum(scores.max(axis=1), 0.0)  # the no-click option has utility 0
        weights = np.exp(scores - top[:, None])
        cumulative = np.cumsum(weights, axis=1)
        total = cumulative[:, -1] + np.exp(-top)
        choice = np.count_nonzero(cumulative < (self.rng.random(len(top)) * total)[:, None], 1)
        clicked_item = np.where(
            choice < slates.shape[1], slates[self.rows, np.minimum(choice, slates.shape[1] - 1)], -1
        )
        self.history[:, self.position] = clicked_item
        self.position = (self.position + 1) % self.history.shape[1]
        return clicked_item


def _random_slates(rng: np.random.Generator, n_items: int, n: int, slate_size: int, steps: int):
    if slate_size == 1:
        return rng.integers(0, n_items, size=(steps, n))
    # distinct items per slate: offsets from a random start never collide
    start = rng.integers(0, n_items, size=(steps, n, 1))
    return (start + np.arange(slate_size)) % n_items


def _steps_for(n: int) -> int:
    return max(20, min(4000, 2_000_000 // n))


def time_vector_env(preset: str, n: int) -> float:
    env = recenv.ShoppingVectorEnv(n, preset=preset)
    env.reset(seed=0)
    steps = _steps_for(n)
    actions = _random_slates(
        np.random.default_rng(1), env.config.catalog.n_items, n, env.config.slate_size, steps
    )
    env.step(actions[0])  # warm-up
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    return steps * n / (time.perf_counter() - start)


def time_kernel(preset: str, n: int) -> float:
    config = recenv.make_config(preset)
    world = recenv.build_world(config)
    kernel = CeilingKernel(world.catalog.embedding, n, config.history_length)
    steps = _steps_for(n)
    slates = _random_slates(
        np.random.default_rng(1), config.catalog.n_items, n, config.slate_size, steps
    )
    if slates.ndim == 2:
        slates = slates[..., None]
    kernel.step(slates[0])
    start = time.perf_counter()
    for slate in slates:
        kernel.step(slate)
    return steps * n / (time.perf_counter() - start)


def time_single_env(n_steps: int = 50_000) -> float:
    env = gym.make("recenv/Shopping-v0")
    env.reset(seed=0)
    actions = np.random.default_rng(1).integers(0, env.action_space.n, n_steps).tolist()
    env.step(actions[0])  # warm-up: compiled kernels load (or compile) on first use
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return n_steps / (time.perf_counter() - start)


def peak_memory_mb(preset: str = "large", n: int = 65536, steps: int = 20) -> float:
    """Peak RSS of a fresh process that builds and steps N shoppers on ``preset``."""
    code = (
        "import resource, numpy as np, recenv\n"
        f"env = recenv.ShoppingVectorEnv({n}, preset={preset!r}); env.reset(seed=0)\n"
        "rng = np.random.default_rng(0)\n"
        f"for _ in range({steps}):\n"
        f"    env.step(rng.integers(0, env.config.catalog.n_items, {n}))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()

    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "single_env_steps_per_s": time_single_env(),
        "vector_shopper_steps_per_s": {},
        "ceiling_shopper_steps_per_s": {},
        "ratio_to_ceiling": {},
    }
    print(f"single env (gymnasium.make): {results['single_env_steps_per_s']:,.0f} steps/s")
    for preset in PRESETS:
        for key in (
            "vector_shopper_steps_per_s",
            "ceiling_shopper_steps_per_s",
            "ratio_to_ceiling",
        ):
            results[key][preset] = {}
        for n in args.sizes:
            # best of 3 alternating repeats: the machine is noisy, both sides get the same
            ours = max(time_vector_env(preset, n) for _ in range(REPEATS))
            ceiling = max(time_kernel(preset, n) for _ in range(REPEATS))
            results["vector_shopper_steps_per_s"][preset][str(n)] = ours
            results["ceiling_shopper_steps_per_s"][preset][str(n)] = ceiling
            results["ratio_to_ceiling"][preset][str(n)] = ours / ceiling
            print(
                f"{preset:8s} N={n:6d}: env {ours:13,.0f}  ceiling {ceiling:13,.0f}  "
                f"ratio {ours / ceiling:.2f}"
            )
    results["peak_rss_mb"] = peak_memory_mb()
    results["peak_rss_mb_this_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS, N=65536 on large: {results['peak_rss_mb']:.0f} MB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
