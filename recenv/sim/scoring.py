"""Scoring actions: a ``Box`` of scores from which the env takes the top K distinct items.

Continuous-action algorithms (SAC, TD3, PPO with a Gaussian policy) cannot emit item ids;
they can emit scores. ``interface.action = "scores"`` takes one score per item;
``"feature_weights"`` takes weights over the observable item features (the columns of
``recenv.sim.encoding.item_feature_matrix``: category one-hot, standardised log price,
popularity, embeddings where observable), and an item's score is the dot product, as in
Virtual-Taobao's ranking action. Either way the slate is the ``slate_size`` highest-scored
items the mask allows, best first; equal scores rank the lower item id first.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

SCORE_LOW, SCORE_HIGH = -1.0, 1.0
# rows of the (n, n_items) score matrix computed at once: bounds the scratch memory
SCORE_CHUNK_ELEMENTS = 1 << 24


def score_space(width: int, batch: tuple[int, ...] = ()) -> spaces.Box:
    """``Box([-1, 1])`` of ``width`` scores (or weights), with an optional batch axis."""
    return spaces.Box(SCORE_LOW, SCORE_HIGH, shape=(*batch, width), dtype=np.float32)


def check_scores(actions: object, n_shoppers: int, width: int, batched: bool) -> NDArray:
    """``actions`` as an ``(n_shoppers, width)`` float array, or ``ValueError`` naming what
    is wrong: shape, a non-number dtype, a non-finite value or one outside [-1, 1]."""
    array = np.asarray(actions)
    expected = (n_shoppers, width) if batched else (width,)
    if array.shape != expected:
        raise ValueError(
            f"action has shape {array.shape}; expected {expected} "
            f"({'one row per shopper of ' if batched else ''}{width} scores in [-1, 1])"
        )
    if array.dtype.kind not in "fiu":
        raise ValueError(f"action must hold numbers (scores), got dtype {array.dtype}")
    bad = ~np.isfinite(array) | (array < SCORE_LOW) | (array > SCORE_HIGH)
    if bad.any():
        value = array[bad].flat[0].item()
        raise ValueError(f"action contains score {value!r}; allowed: finite scores in [-1, 1]")
    return array.reshape(n_shoppers, width)


def item_scores(
    weights: NDArray, item_features: NDArray[np.float32], rows: slice
) -> NDArray[np.float64]:
    """Scores of every item for ``weights[rows]``: ``weights @ item_features.T``."""
    return weights[rows].astype(np.float64) @ item_features.T.astype(np.float64)


def top_k(scores: NDArray, mask: NDArray[np.bool_], k: int) -> NDArray[np.int64]:
    """``(n, k)`` the k highest-scored allowed items of each row, best first; equal
    scores rank the lower id first (the documented rule, exact at the cut too).

    The mask allows at least k items per row (``recenv.sim.masks`` guarantees it).
    """
    n, n_items = scores.shape
    masked = np.where(mask, scores.astype(np.float64), -np.inf)
    if k < n_items:
        cut = -np.partition(-masked, k - 1, axis=1)[:, k - 1 : k]  # the k-th largest
        above = masked > cut
        tied = masked == cut
        room = k - above.sum(axis=1, keepdims=True)
        chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    else:
        chosen = np.ones_like(mask)
    items = np.nonzero(chosen)[1].reshape(n, k)  # ascending ids within each row
    order = np.argsort(-np.take_along_axis(masked, items, axis=1), axis=1, kind="stable")
    return np.take_along_axis(items, order, axis=1)


def chunks(n_rows: int, n_items: int) -> list[slice]:
    """Row slices whose ``(rows, n_items)`` score matrices stay below the scratch bound."""
    step = max(1, SCORE_CHUNK_ELEMENTS // max(n_items, 1))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]
