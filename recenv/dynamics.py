"""What changes between steps: taste drift, category fatigue and patience."""

from __future__ import annotations

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
