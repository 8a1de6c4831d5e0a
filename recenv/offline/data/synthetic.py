"""Logs simulated by the shopper simulator, where every policy's true value is known.

``simulate_log`` plays the first step of ``n_impressions`` fresh sessions under a logging
policy (uniform random slates by default) and writes one row per (impression, position),
like the Open Bandit Dataset: item, position, click, the logging propensity of the item at
that position, and the shopper's segment as a user feature. ``first_step_ctr`` runs a
slate policy the same way and measures its CTR per shown item: the ground truth that
off-policy estimates are checked against. ``logistic_click_log`` instead draws clicks
from known coefficients of the calibration's own model (``recenv.offline.calibration``), so that
fitting it, and what is built from the fit, can be checked against the truth.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recenv.offline.data.logs import LoggedImpressions
from recenv.sim.config import EnvConfig
from recenv.sim.env import resolve_config
from recenv.sim.vector import ShoppingVectorEnv

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


def logistic_click_log(
    intercept: float,
    item_effect: NDArray[np.float64],
    position_effect: NDArray[np.float64],
    user_effect: NDArray[np.float64],
    n_impressions: int,
    seed: int = 0,
) -> LoggedImpressions:
    """Uniform random slates with clicks drawn row by row from a known click model.

    ``P(click) = sigmoid(intercept + item_effect[i] + position_effect[k] + user_effect[x])``
    with ``x`` a user level drawn uniformly (column ``user_group``, values ``"u<x>"``) and
    the slate's ``len(position_effect)`` distinct items uniform (propensity ``1 / M``).
    The true probability of every row is kept in the column ``true_probability``.
    """
    item_effect, position_effect = np.asarray(item_effect), np.asarray(position_effect)
    n_items, n_positions = len(item_effect), len(position_effect)
    rng = np.random.default_rng(seed)
    slates = np.argsort(rng.random((n_impressions, n_items)), axis=1)[:, :n_positions]
    user = np.repeat(rng.integers(0, len(user_effect), n_impressions), n_positions)
    item, position = slates.ravel(), np.tile(np.arange(n_positions), n_impressions)
    logit = (
        intercept + item_effect[item] + position_effect[position] + np.asarray(user_effect)[user]
    )
    probability = 1.0 / (1.0 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "session": np.repeat(np.arange(n_impressions), n_positions),
            "timestamp": np.repeat(np.arange(n_impressions), n_positions),
            "item": item,
            "position": position,
            "click": (rng.random(len(item)) < probability).astype(np.int8),
            "propensity": 1.0 / n_items,
            "user_group": np.char.add("u", user.astype(str)),
            "true_probability": probability,
        }
    )
    items = pd.DataFrame({"category": np.zeros(n_items, dtype=int)})
    return LoggedImpressions(frame, items, n_positions, f"logistic(seed={seed})")
