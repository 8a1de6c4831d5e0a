"""What changes between steps: taste drift, category fatigue and patience."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recenv.config import DynamicsConfig


def drift_taste(
    taste: NDArray[np.float32],
    target: NDArray[np.float32],
    rate: NDArray[np.floating],
    taste_scale: float,
) -> None:
    """Move tastes toward consumed items, in place: ``taste += rate * (scale * target - taste)``.

    ``target`` is a unit-ish embedding per shopper and ``rate`` is 0 for shoppers who
    consumed nothing, so the update is a no-op for them.
    """
    taste += rate[:, None] * (taste_scale * target - taste)


def update_fatigue(
    fatigue: NDArray[np.float32],
    rows: NDArray[np.int64],
    shown_category: NDArray[np.int64],
    config: DynamicsConfig,
) -> None:
    """Decay all fatigue, then add ``fatigue_per_exposure`` to each category shown (in place).

    ``fatigue <- fatigue_decay * fatigue + fatigue_per_exposure * [category shown]``.
    """
    fatigue *= config.fatigue_decay
    fatigue[rows[:, None], shown_category] += config.fatigue_per_exposure


def patience_change(
    clicked: NDArray[np.bool_],
    clicked_quality: NDArray[np.floating],
    bought: NDArray[np.bool_],
    shown_fatigue: NDArray[np.floating],
    config: DynamicsConfig,
) -> NDArray[np.float32]:
    """``-patience_decay + clicked * patience_per_quality * quality + bought * purchase_patience
    - boredom * shown_fatigue``.

    A good click restores patience, a clickbait click (low quality) costs extra, and
    showing a category the shopper is tired of bores them (``shown_fatigue`` is the mean
    fatigue of the shown items' categories before this step). Probabilities may stand
    in for the boolean events to get an expectation.
    """
    change = (config.patience_per_quality * clicked) * clicked_quality
    change += config.purchase_patience * bought
    change -= config.boredom * shown_fatigue
    change -= config.patience_decay
    return change.astype(np.float32)
