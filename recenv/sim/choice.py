"""The choice model: click utilities, position bias, the no-click option and MNL sampling.

For shopper n and item j shown at position k of the slate:

    u[n, k] = taste[n] . embedding[j]                       (affinity)
              + appeal[j] + quality_weight * quality[j]      (static item utility)
              + reputation_click_weight * reputation[shop[j]]  (shops, ``recenv.sim.shops``)
              - price_sensitivity[n] * log(price[j] / median_price)
              - fatigue_weight * fatigue[n, category[j]]
              + need_weight * log(need[n, category[j]])  (needs on: satiation, complements)
              + intent term (bonus for the searched category, penalty for others)
              + promotion_boost if category[j] is on promotion (``dynamics``)
              - position_bias * log(1 + k)
              (-inf if j is not on sale yet)

and the shopper clicks position k with probability
``exp(u[n, k]) / (exp(no_click_utility) + sum_k' exp(u[n, k']))``, or nothing.

Every term is assembled here: the per-item and per-position terms once per env
(``static_utility``, ``log_relative_price``, ``position_utility``, read by ``params.item_table``),
the per-shopper terms in ``item_utility``, the slate in ``choose``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from recenv.sim.catalog import Catalog
from recenv.sim.config import EnvConfig
from recenv.sim.dynamics import promotion_utility


def static_utility(config: EnvConfig, catalog: Catalog) -> NDArray[np.float32]:
    """``appeal + quality_weight * quality + reputation_click_weight * shop reputation``
    per item: the terms no shopper changes (no shops: reputation 0)."""
    utility = catalog.appeal + config.choice.quality_weight * catalog.quality
    utility = utility + config.catalog.reputation_click_weight * catalog.item_reputation()
    return utility.astype(np.float32)


def log_relative_price(catalog: Catalog) -> NDArray[np.float32]:
    """``log(price / median_price)`` per item, which price sensitivity multiplies."""
    return np.log(catalog.price / catalog.median_price).astype(np.float32)


def position_utility(config: EnvConfig, catalog: Catalog) -> NDArray[np.float32]:
    """``-position_bias * log(1 + k)`` per slate position, or the calibrated utilities."""
    if catalog.position_utility is not None:
        if len(catalog.position_utility) != config.slate_size:
            raise ValueError(
                f"slate_size = {config.slate_size} does not match the calibrated world's "
                f"{len(catalog.position_utility)} positions"
            )
        return np.asarray(catalog.position_utility, dtype=np.float32)
    bias = config.choice.position_bias
    return (-bias * np.log1p(np.arange(config.slate_size))).astype(np.float32)


@njit(cache=True, inline="always")
def item_utility(
    taste, price_sensitivity, fatigue, need, intent, session, shopper, item, items, params
):
    """Click utility of ``item`` at the top position for row ``shopper`` of the arrays.

    Returns ``(utility, affinity, category fatigue)``; the caller adds the position term.
    (Arrays and a row index, not row views: views cost reference counts in the hot loop.)
    """
    affinity = 0.0
    for dim in range(taste.shape[1]):
        affinity += items.embedding[item, dim] * taste[shopper, dim]
    category = items.category[item]
    category_fatigue = fatigue[shopper, category]
    utility = (
        affinity
        + items.static_utility[item]
        - price_sensitivity[shopper] * items.log_price[item]
        - params.fatigue_weight * category_fatigue
    )
    if params.needs_active:
        utility += params.need_weight * math.log(max(need[shopper, category], 1e-6))
    if intent[shopper] < params.n_categories:
        if category == intent[shopper]:
            utility += params.intent_bonus
        else:
            utility -= params.off_intent_penalty
    if params.promotion_boost > 0.0:
        utility += promotion_utility(category, session[shopper], params)
    if items.release_session[item] > session[shopper]:
        utility = -math.inf
    return utility, affinity, category_fatigue


@njit(cache=True, inline="always")
def choose(shopper, slates, state, items, params, uniform):
    """Row ``shopper``'s response to its slate: the clicked position, or the slate size for
    no click. Keeps each position's utility and affinity in the state's slate scratch."""
    for k in range(slates.shape[1]):
        utility, affinity, _ = item_utility(
            state.taste,
            state.price_sensitivity,
            state.fatigue,
            state.need,
            state.intent,
            state.session,
            shopper,
            slates[shopper, k],
            items,
            params,
        )
        state.slate_utility[shopper, k] = utility + items.position_utility[k]
        state.slate_affinity[shopper, k] = affinity
    return sample_position(state.slate_utility, shopper, params.no_click_utility, uniform)


@njit(cache=True, inline="always")
def sample_position(utilities, shopper, no_click_utility, uniform):
    """Sample the clicked position from row ``shopper`` of ``utilities`` by inverse CDF.

    Returns the position, or the slate size for no click. Weights are shifted by the
    largest utility so ``exp`` never overflows.
    """
    slate_size = utilities.shape[1]
    top = no_click_utility
    for position in range(slate_size):
        top = max(top, utilities[shopper, position])
    total = math.exp(no_click_utility - top)
    for position in range(slate_size):
        total += math.exp(utilities[shopper, position] - top)
    threshold = uniform * total
    cumulative = 0.0
    for position in range(slate_size):
        cumulative += math.exp(utilities[shopper, position] - top)
        if threshold < cumulative:
            return position
    return slate_size


@njit(cache=True, inline="always")
def click_probability_alone(utility, no_click_utility):
    """``P(click)`` of an item shown alone: ``exp(u) / (exp(u0) + exp(u))``."""
    if utility == -math.inf:
        return 0.0
    return 1.0 / (1.0 + math.exp(no_click_utility - utility))
