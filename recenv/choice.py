"""The choice model: click utilities, position bias, the no-click option and MNL sampling.

For shopper n and item j shown at position k of the slate:

    u[n, k] = taste[n] . embedding[j]                       (affinity)
              + appeal[j] + quality_weight * quality[j]      (static item utility)
              - price_sensitivity[n] * log(price[j] / median_price)
              - fatigue_weight * fatigue[n, category[j]]
              + intent term (bonus for the searched category, penalty for others)
              - position_bias * log(1 + k)
              (-inf if j is not on sale yet)

and the shopper clicks position k with probability
``exp(u[n, k]) / (exp(no_click_utility) + sum_k' exp(u[n, k']))``, or nothing.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True)
def item_utility(taste, price_sensitivity, fatigue, intent, session, item, items, params):
    """Click utility of ``item`` at the top position for one shopper.

    ``taste`` and ``fatigue`` are the shopper's rows. Returns ``(utility, affinity,
    category fatigue)``; the caller adds the position term.
    """
    affinity = 0.0
    embedding = items.embedding[item]
    for dim in range(embedding.shape[0]):
        affinity += embedding[dim] * taste[dim]
    category = items.category[item]
    category_fatigue = fatigue[category]
    utility = (
        affinity
        + items.static_utility[item]
        - price_sensitivity * items.log_price[item]
        - params.fatigue_weight * category_fatigue
    )
    if intent < params.n_categories:
        if category == intent:
            utility += params.intent_bonus
        else:
            utility -= params.off_intent_penalty
    if items.release_session[item] > session:
        utility = -math.inf
    return utility, affinity, category_fatigue


@njit(cache=True)
def sample_position(utilities, no_click_utility, uniform):
    """Sample the clicked position by inverse CDF; ``len(utilities)`` means no click.

    Weights are shifted by the largest utility so ``exp`` never overflows.
    """
    top = no_click_utility
    for utility in utilities:
        top = max(top, utility)
    total = math.exp(no_click_utility - top)
    for utility in utilities:
        total += math.exp(utility - top)
    threshold = uniform * total
    cumulative = 0.0
    for position in range(len(utilities)):
        cumulative += math.exp(utilities[position] - top)
        if threshold < cumulative:
            return position
    return len(utilities)


@njit(cache=True)
def click_probability_alone(utility, no_click_utility):
    """``P(click)`` of an item shown alone: ``exp(u) / (exp(u0) + exp(u))``."""
    if utility == -math.inf:
        return 0.0
    return 1.0 / (1.0 + math.exp(no_click_utility - utility))
