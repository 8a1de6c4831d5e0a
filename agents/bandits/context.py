"""What a bandit conditions on: the parts of a shopper's observation that can say who it is.

The observation holds no shopper id and no segment (user profiles are hidden segments), so
a context is built from what it does hold: the search query (a category, or none), the
categories of the items clicked in the recent history, and how far into the visit the
shopper is. On ``obd`` there are no queries and clicks are rare, so every context is nearly
the same and the bandits reduce to per-item ones, as the data they were fitted on allows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from recenv.sim.state import EVENT_CLICKED, SESSION_FEATURES

STEP = SESSION_FEATURES.index("step")
CONTEXTS = ("none", "query")  # the discrete contexts of the count-based bandits


def n_buckets(context: str, n_categories: int) -> int:
    """How many discrete contexts ``context`` has: 1, or one per query value (and none)."""
    return 1 if context == "none" else n_categories + 1


def context_bucket(observation: Mapping[str, NDArray], context: str) -> NDArray[np.int64]:
    """``(n,)`` each shopper's discrete context: 0, or its query (``n_categories``: none)."""
    if context == "none":
        return np.zeros(len(observation["session"]), dtype=np.int64)
    return np.asarray(observation["query"], dtype=np.int64)


def context_dimension(n_categories: int) -> int:
    """Length of ``context_vector``: bias, query one-hot, clicked-category shares, progress."""
    return 2 + 2 * n_categories


def context_vector(
    observation: Mapping[str, NDArray], item_category: NDArray[np.int64], max_steps: int
) -> NDArray[np.float64]:
    """``(n, 2 + 2 * n_categories)``: ``[1, query one-hot, clicked shares, step / max_steps]``.

    The query one-hot is all zeros without a query; the clicked shares are the categories'
    shares among the history's clicked (or further: carted, bought) entries, zeros when
    nothing was clicked.
    """
    n_categories = int(item_category.max()) + 1
    query = np.asarray(observation["query"], dtype=np.int64)
    n = len(query)
    rows = np.arange(n)
    query_onehot = np.zeros((n, n_categories + 1))
    query_onehot[rows, query] = 1.0
    history, events = observation["history"], observation["history_events"]
    clicked = events >= EVENT_CLICKED
    category = np.append(item_category, 0)[history]  # padding counts with weight 0
    shares = np.zeros((n, n_categories))
    np.add.at(shares, (np.broadcast_to(rows[:, None], history.shape), category), clicked)
    shares /= np.maximum(shares.sum(axis=1, keepdims=True), 1.0)
    progress = observation["session"][:, STEP] / max_steps
    return np.hstack([np.ones((n, 1)), query_onehot[:, :n_categories], shares, progress[:, None]])
