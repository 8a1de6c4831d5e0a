"""Logs simulated by the shopper simulator, where every policy's true value is known.

``simulate_log`` plays the first step of ``n_impressions`` fresh sessions under a logging
policy (uniform random slates by default) and writes one row per (impression, position),
like the Open Bandit Dataset: item, position, click, the logging propensity of the item at
that position, and the shopper's segment as a user feature. ``first_step_ctr`` runs a
slate policy the same way and measures its CTR per shown item: the ground truth that
off-policy estimates are checked against.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recenv.config import EnvConfig
from recenv.data.logs import LoggedImpressions
from recenv.env import resolve_config
from recenv.vector import ShoppingVectorEnv

SlatePolicy = Callable[[dict[str, NDArray], dict, np.random.Generator], NDArray[np.int64]]


def uniform_slates(n_items: int, slate_size: int) -> SlatePolicy:
    """Distinct items drawn uniformly: every item has probability 1/M at every position."""

    def act(observation: dict[str, NDArray], info: dict, rng: np.random.Generator):
        n = len(observation["session"])
        return np.argsort(rng.random((n, n_items)), axis=1)[:, :slate_size]

    return act


def first_step(config: EnvConfig, n: int, seed: int, policy: SlatePolicy):
    """Slates ``(n, K)``, clicks per slate position and segments of ``n`` first steps."""
    config = resolve_config(config, None, {"expose_hidden_state": True})
    env = ShoppingVectorEnv(n, config=config)
    observation, info = env.reset(seed=seed)
    slates = np.asarray(policy(observation, info, np.random.default_rng(seed)))
    slates = slates.reshape(n, -1)
    _, _, _, _, step_info = env.step(slates if config.slate_size > 1 else slates[:, 0])
    clicked = slates == step_info["clicked_item"][:, None]
    return slates, clicked, info["hidden"]["segment"]


def simulate_log(
    config: EnvConfig,
    n_impressions: int,
    seed: int = 0,
    policy: SlatePolicy | None = None,
    propensity: float | None = None,
) -> LoggedImpressions:
    """One row per (impression, position) of first steps under ``policy``."""
    config = resolve_config(config, None, {})
    n_items = config.catalog.n_items
    policy = policy or uniform_slates(n_items, config.slate_size)
    slates, clicked, segment = first_step(config, n_impressions, seed, policy)
    n_positions = slates.shape[1]
    frame = pd.DataFrame(
        {
            "session": np.repeat(np.arange(n_impressions), n_positions),
            "timestamp": np.repeat(np.arange(n_impressions), n_positions),
            "item": slates.ravel(),
            "position": np.tile(np.arange(n_positions), n_impressions),
            "click": clicked.ravel().astype(np.int8),
            "propensity": propensity if propensity is not None else 1.0 / n_items,
            "user_segment": np.repeat(segment, n_positions).astype(str),
        }
    )
    items = pd.DataFrame({"category": np.zeros(n_items, dtype=int)})
    return LoggedImpressions(frame, items, n_positions, f"simulated(seed={seed})")


def first_step_ctr(
    config: EnvConfig, policy: SlatePolicy, n_impressions: int = 100_000, seed: int = 10_001
) -> float:
    """The policy's CTR per shown item on first steps, measured by running it."""
    _, clicked, _ = first_step(resolve_config(config, None, {}), n_impressions, seed, policy)
    return float(clicked.mean())
