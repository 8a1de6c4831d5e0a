"""What changes between steps and visits: taste drift, fatigue, patience, needs, returning."""

from __future__ import annotations

import math

from numba import njit


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
def satiate(need, shopper, category, params):
    """A bought item of ``category``: ``need[category] *= 1 - satiation``, and its complement
    (the next category) gains ``complement_boost``, capped at ``max_need``."""
    need[shopper, category] *= 1.0 - params.satiation
    complement = (category + 1) % need.shape[1]
    need[shopper, complement] = min(
        need[shopper, complement] + params.complement_boost, params.max_need
    )


@njit(cache=True, inline="always")
def recover_needs(need, shopper, share):
    """Needs drift back to 1 (neutral): ``need += share * (1 - need)``."""
    for category in range(need.shape[1]):
        need[shopper, category] += share * (1.0 - need[shopper, category])


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
