"""What changes between steps and visits: taste drift, fatigue, patience, needs, promotions,
the end of a visit and returning.

The step calls this module at each event: ``drift_toward_click`` after a click,
``consume_cart`` when the cart is bought, ``end_of_step`` once every step (fatigue, needs,
patience), then ``visit_over``. Each rule is one small function of a shopper's row.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from recenv.sim.state import STEP


@njit(cache=True, inline="always")
def drift_taste(taste, shopper, targets, target_row, target_scale, rate, taste_scale):
    """Move ``taste[shopper]`` toward ``target = target_scale * targets[target_row]``, in place.

    ``taste += rate * (taste_scale * target - taste)``: repeated consumption pulls the
    shopper's taste toward what they bought or clicked.
    """
    for dim in range(taste.shape[1]):
        target = target_scale * targets[target_row, dim]
        taste[shopper, dim] += rate * (taste_scale * target - taste[shopper, dim])


@njit(cache=True, inline="always")
def drift_toward_click(shopper, item, state, items, params):
    """A click pulls taste toward the clicked item's embedding (``taste_drift_click``)."""
    drift_taste(
        state.taste,
        shopper,
        items.embedding,
        item,
        1.0,
        params.taste_drift_click,
        params.taste_scale,
    )


@njit(cache=True, inline="always")
def consume_cart(shopper, state, items, params):
    """A bought cart satiates the needs of its items' categories and pulls taste toward its
    mean embedding (``taste_drift_purchase``); called before the cart is emptied."""
    count = state.cart_count[shopper]
    if params.needs_active:
        for slot in range(count):
            category = items.category[state.cart_items[shopper, slot]]
            satiate(state.need, shopper, category, items.complement, params)
    drift_taste(
        state.taste,
        shopper,
        state.cart_embedding_sum,
        shopper,
        1.0 / count,
        params.taste_drift_purchase,
        params.taste_scale,
    )


@njit(cache=True, inline="always")
def shown_fatigue(shopper, slates, fatigue, category):
    """Mean fatigue of the shown items' categories before the step: what bores the shopper."""
    slate_size = slates.shape[1]
    total = 0.0
    for k in range(slate_size):
        total += fatigue[shopper, category[slates[shopper, k]]] / slate_size
    return total


@njit(cache=True, inline="always")
def end_of_step(shopper, slates, clicked_item, purchased, fatigue_shown, state, items, params):
    """Once per step, after the events: fatigue decays and grows with what was shown, needs
    recover, patience moves (``patience_change``, capped at ``max_patience``), the step counts.

    ``fatigue_shown`` is ``shown_fatigue`` taken before the step changed anything.
    """
    decay_fatigue(state.fatigue, shopper, params)
    add_fatigue(state.fatigue, state.intent, shopper, slates, items.category, params)
    if params.needs_active:
        recover_needs(state.need, shopper, params.need_recovery)
    clicked, quality = clicked_item >= 0, 0.0
    if clicked:
        quality = items.quality[clicked_item]
    patience = state.patience[shopper] + patience_change(
        clicked, quality, purchased, fatigue_shown, params
    )
    state.patience[shopper] = min(patience, params.max_patience)
    state.features[shopper, STEP] += 1.0


@njit(cache=True, inline="always")
def visit_over(shopper, purchased, state, params):
    """``(terminated, truncated)`` of the visit after a step. Terminated: patience is gone,
    the budget pays for no item and the cart is empty, or a purchase ends the visit
    (``checkout_ends_session``); else truncated after ``max_steps`` steps."""
    terminated = (
        state.patience[shopper] <= 0.0
        or (state.budget[shopper] < params.min_price and state.cart_count[shopper] == 0)
        or (purchased and params.checkout_ends_session)
    )
    truncated = state.features[shopper, STEP] >= params.max_steps and not terminated
    return terminated, truncated


@njit(cache=True, inline="always")
def decay_fatigue(fatigue, shopper, params):
    """``fatigue <- fatigue_decay * fatigue`` for row ``shopper``, in place."""
    for category in range(fatigue.shape[1]):
        fatigue[shopper, category] *= params.fatigue_decay


@njit(cache=True, inline="always")
def add_fatigue(fatigue, intent, shopper, slates, category, params):
    """Fatigue from what was shown: ``fatigue_per_exposure`` per shown item, or once per
    shown category (``fatigue_unit: category``); the searched category gets
    ``query_fatigue`` of it (0: matching the query never bores)."""
    slate_size = slates.shape[1]
    for k in range(slate_size):
        shown = category[slates[shopper, k]]
        if params.fatigue_per_category:
            repeated = False
            for earlier in range(k):
                if category[slates[shopper, earlier]] == shown:
                    repeated = True
            if repeated:
                continue
        amount = params.fatigue_per_exposure
        if shown == intent[shopper]:
            amount *= params.query_fatigue
        fatigue[shopper, shown] += amount


@njit(cache=True, inline="always")
def satiate(need, shopper, category, complements, params):
    """A bought item of ``category``: ``need[category] *= 1 - satiation``, and each of its
    complements (row ``category`` of the -1 padded table, ``recenv.sim.complements``) gains
    ``complement_boost``, capped at ``max_need``."""
    need[shopper, category] *= 1.0 - params.satiation
    for slot in range(complements.shape[1]):
        complement = complements[category, slot]
        if complement < 0:
            break
        need[shopper, complement] = min(
            need[shopper, complement] + params.complement_boost, params.max_need
        )


@njit(cache=True, inline="always")
def recover_needs(need, shopper, share):
    """Needs drift back to 1 (neutral): ``need += share * (1 - need)``."""
    for category in range(need.shape[1]):
        need[shopper, category] += share * (1.0 - need[shopper, category])


@njit(cache=True, inline="always")
def promotion_utility(category, session, params):
    """The shop promotes one category per session, ``session mod n_categories``: its items
    gain ``promotion_boost`` of click utility (a banner, a badge), the others nothing."""
    promoted = session % np.uint64(params.n_categories)
    return params.promotion_boost if np.uint64(category) == promoted else 0.0


@njit(cache=True, inline="always")
def return_probability(patience_left, bought, params):
    """``P(come back) = sigmoid(return_bias + return_satisfaction * patience left /
    patience_mean + return_purchase * bought)`` after a visit (episode: shopper)."""
    logit = (
        params.return_bias
        + params.return_satisfaction * max(patience_left, 0.0) / params.patience_mean
        + params.return_purchase * bought
    )
    return 1.0 / (1.0 + math.exp(-logit))


@njit(cache=True, inline="always")
def patience_change(clicked, clicked_quality, bought, shown_fatigue, params):
    """``-patience_decay - boredom * shown_fatigue + clicked * patience_per_quality * quality
    + bought * purchase_patience``.

    A good click restores patience, a clickbait click (low quality) costs extra, and
    showing categories the shopper is tired of bores them (``shown_fatigue`` is the mean
    fatigue of the shown categories before this step). Probabilities may stand in for
    the events to get an expectation.
    """
    return (
        params.patience_per_quality * clicked * clicked_quality
        + params.purchase_patience * bought
        - params.boredom * shown_fatigue
        - params.patience_decay
    )
