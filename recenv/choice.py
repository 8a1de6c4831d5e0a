"""The choice model: click utilities, position bias, the no-click option and MNL sampling.

For shopper n and the item j shown at position k of the slate:

    u[n, k] = taste[n] . embedding[j]                       (affinity)
              + appeal[j] + quality_weight * quality[j]      (static item utility)
              - price_sensitivity[n] * log(price[j] / median_price)
              - fatigue_weight * fatigue[n, category[j]]
              + intent term (bonus for the searched category, penalty for others)
              - position_bias * log(1 + k)

and the shopper clicks position k with probability
``exp(u[n, k]) / (exp(no_click_utility) + sum_k' exp(u[n, k']))``, or nothing.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recenv.catalog import Catalog
from recenv.config import ChoiceConfig, ShopperConfig


def static_item_utility(catalog: Catalog, config: ChoiceConfig) -> NDArray[np.float32]:
    """The shopper-independent part of every item's click utility, shape ``(n_items,)``."""
    return (catalog.appeal + config.quality_weight * catalog.quality).astype(np.float32)


def position_utility(config: ChoiceConfig, slate_size: int) -> NDArray[np.float32]:
    """Utility lost by being shown lower in the slate: ``-position_bias * log(1 + k)``."""
    return (-config.position_bias * np.log1p(np.arange(slate_size))).astype(np.float32)


def intent_utility(
    slate_category: NDArray[np.int64],
    intent: NDArray[np.int64],
    n_categories: int,
    config: ShopperConfig,
) -> NDArray[np.float32]:
    """Bonus for items of the searched category, penalty for the rest; 0 when not searching."""
    searching = (intent < n_categories)[:, None]
    matches = slate_category == intent[:, None]
    bonus = np.where(matches, config.intent_bonus, -config.off_intent_penalty)
    return (searching * bonus).astype(np.float32)


def choice_probabilities(
    utilities: NDArray[np.floating], no_click_utility: float
) -> NDArray[np.float64]:
    """MNL probabilities, shape ``(n, slate_size + 1)``; the last column is 'no click'."""
    top = np.maximum(utilities.max(axis=1, keepdims=True), no_click_utility)
    weights = np.exp(utilities - top)
    none = np.exp(no_click_utility - top)
    total = weights.sum(axis=1, keepdims=True) + none
    return np.concatenate([weights, none], axis=1) / total


def sample_choice(
    utilities: NDArray[np.floating], no_click_utility: float, uniform: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Sample the clicked position by inverse CDF; ``slate_size`` means no click.

    One uniform per shopper: the position is the number of cumulative weights below
    ``uniform * total weight``, so the no-click option takes the top of the interval.
    """
    top = np.maximum(utilities.max(axis=1), no_click_utility)  # shift keeps exp finite
    weights = np.exp(utilities - top[:, None])
    cumulative = np.cumsum(weights, axis=1) if weights.shape[1] > 1 else weights
    total = cumulative[:, -1] + np.exp(no_click_utility - top)
    threshold = uniform * total
    return np.count_nonzero(cumulative < threshold[:, None], axis=1)
