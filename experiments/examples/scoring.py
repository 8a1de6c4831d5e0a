"""The one piece the examples share: score a trained policy with recenv's paired
evaluation (the same evaluation shoppers as random, a paired 95% CI).

A library's policy maps the compact float32 observation (``interface.observation:
features``) to item ids; ``PolicyAgent`` gives it the agent protocol the evaluation
needs, encoding the evaluation env's id observation exactly as the training env did.
Nothing here is needed to *train*: the examples use the libraries' own env APIs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

import recenv  # noqa: F401  (registers recenv/Shopping-v0)
from agents.base import predict_with_act
from agents.evaluation import evaluate, paired_difference
from agents.random import RandomAgent
from recenv import ENV_ID, ShoppingEnv
from recenv.sim.config import EnvConfig
from recenv.sim.env import resolve_config

FEATURES = {"interface": {"observation": "features"}}
Policy = Callable[[NDArray[np.float32]], NDArray[np.int64]]


def features_config(preset: str = "small", **overrides: Any) -> EnvConfig:
    """The preset with the compact float32 observation the examples' MLPs eat."""
    merged = {**overrides, "interface": {**FEATURES["interface"], **overrides.get("interface", {})}}
    return resolve_config(None, preset, merged)


def make_env(preset: str = "small", **overrides: Any) -> gym.Env:
    """``gymnasium.make`` of the features env: what any Gymnasium library is given."""
    return gym.make(ENV_ID, config=features_config(preset, **overrides))


class PolicyAgent:
    """A library's greedy policy (float32 observations in, item ids out) as a recenv agent.

    ``masked``: the policy also takes the action mask, ``policy(observation, mask)``; the
    evaluation then hands the agent each step's ``info`` (``needs_info``), where the env
    puts ``info["action_mask"]`` (``interface.mask_in_info``)."""

    def __init__(self, policy: Policy, config: EnvConfig, masked: bool = False) -> None:
        if masked and not config.interface.mask_in_info:
            raise ValueError("PolicyAgent(masked=True) needs interface.mask_in_info = True")
        self.policy, self.env_config, self.needs_info = policy, config, masked
        self.interface = ShoppingEnv(config=config).interface

    def act(self, observation: Any, deterministic: bool = True, info: Any = None) -> NDArray:
        encoded = observation
        if not isinstance(observation, np.ndarray):
            encoded = self.interface.observation(dict(observation))
        encoded = np.asarray(encoded, dtype=np.float32)
        actions = (
            self.policy(encoded, info["action_mask"]) if self.needs_info else self.policy(encoded)
        )
        return np.asarray(actions, dtype=np.int64)

    predict = predict_with_act


def score(
    policy: Policy,
    config: EnvConfig,
    train_steps: int,
    train_seconds: float,
    n_shoppers: int = 500,
    seed: int = 0,
    masked: bool = False,
) -> dict[str, float]:
    """Training speed and the paired evaluation of ``policy`` against uniform random."""
    id_config = resolve_config(config, None, {"interface": {"observation": "ids"}})
    trained = evaluate(PolicyAgent(policy, config, masked), id_config, n_shoppers, seed)
    random = evaluate(RandomAgent(id_config, seed=seed), id_config, n_shoppers, seed)
    gain = paired_difference(trained, random)
    return {
        "train_steps": int(train_steps),
        "train_steps_per_second": train_steps / max(train_seconds, 1e-9),
        "return": trained.summary["return"].mean,
        "random_return": random.summary["return"].mean,
        "gain_vs_random": gain.mean,
        "gain_ci_low": gain.ci_low,
        "gain_ci_high": gain.ci_high,
    }


class Stopwatch:
    """Wall-clock seconds of a ``with`` block (``elapsed``)."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
