"""The choice model: click utilities, position bias, the no-click option and MNL sampling.

For shopper n and item j shown at position k of the slate:

    u[n, k] = taste[n] . embedding[j]                       (affinity)
              + appeal[j] + quality_weight * quality[j]      (static item utility)
              - price_sensitivity[n] * log(price[j] / median_price)
              - fatigue_weight * fatigue[n, category[j]]
              + need_weight * log(need[n, category[j]])  (needs on: satiation, complements)
              + intent term (bonus for the searched category, penalty for others)
              - position_bias * log(1 + k)
              (-inf if j is not on sale yet)

and the shopper clicks position k with probability
``exp(u[n, k]) / (exp(no_click_utility) + sum_k' exp(u[n, k']))``, or nothing.
"""

from __future__ import annotations

import math

from numba import njit


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
    if items.release_session[item] > session[shopper]:
        utility = -math.inf
    return utility, affinity, category_fatigue


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
