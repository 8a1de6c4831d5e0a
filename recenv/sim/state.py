"""ShopperState: the preallocated per-shopper arrays, the only mutable state of a simulation."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from recenv.sim.config import EnvConfig

# Event codes stored beside each history entry.
EVENT_PAD, EVENT_VIEWED, EVENT_CLICKED, EVENT_CARTED, EVENT_BOUGHT = 0, 1, 2, 3, 4
EVENT_NAMES = ("pad", "viewed", "clicked", "carted", "bought")

# Columns of the observable session-feature matrix.
SESSION_FEATURES = (
    "step",
    "cart_items",
    "cart_value",
    "clicks",
    "carts",
    "items_bought",
    "spent",
    "returning",
    "visit",
)
(STEP, CART_ITEMS, CART_VALUE, CLICKS, CARTS, ITEMS_BOUGHT, SPENT, RETURNING, VISIT) = range(
    len(SESSION_FEATURES)
)


class ShopperState(NamedTuple):
    """Arrays of shape ``(n_shoppers, ...)`` updated in place by the compiled kernels.

    Observable parts (history, cart, session features, query) and hidden parts (taste,
    patience, budget, ...) live side by side; only the observation builder decides what
    an agent sees. A named tuple of arrays so the kernels can take it whole.
    """

    # stream bookkeeping
    key: NDArray[np.uint64]  # (n,) random-stream key of each slot
    session: NDArray[np.uint64]  # (n,) index of the slot's current session
    # hidden shopper traits
    segment: NDArray[np.int64]  # (n,)
    taste: NDArray[np.float32]  # (n, embedding_dim)
    price_sensitivity: NDArray[np.float32]  # (n,)
    budget: NDArray[np.float32]  # (n,) remaining budget
    patience: NDArray[np.float32]  # (n,)
    fatigue: NDArray[np.float32]  # (n, n_categories)
    need: NDArray[np.float32]  # (n, n_categories) 1 = neutral; purchases satiate
    base_budget: NDArray[np.float32]  # (n,) the budget a shopper arrives with
    visit: NDArray[np.int64]  # (n,) visits of this shopper so far (episode: shopper)
    # observable
    intent: NDArray[np.int64]  # (n,) searched category, n_categories = none
    history_items: NDArray[np.int64]  # (n, history_length), most recent first, pad = n_items
    history_events: NDArray[np.int64]  # (n, history_length), EVENT_* codes
    cart_items: NDArray[np.int64]  # (n, cart_capacity), pad = n_items
    features: NDArray[np.float32]  # (n, len(SESSION_FEATURES))
    # cart aggregates kept incrementally so checkout needs no gather
    cart_count: NDArray[np.int64]  # (n,)
    cart_quality_sum: NDArray[np.float32]  # (n,)
    cart_embedding_sum: NDArray[np.float32]  # (n, embedding_dim)
    # per-step scratch: utilities and affinities of the shown slate
    slate_utility: NDArray[np.float64]  # (n, slate_size)
    slate_affinity: NDArray[np.float64]  # (n, slate_size)

    @classmethod
    def allocate(cls, config: EnvConfig, n_shoppers: int) -> ShopperState:
        """Preallocate every array once; resets are writes into them."""
        n, catalog = n_shoppers, config.catalog
        dim = catalog.embedding_dim
        return cls(
            key=np.zeros(n, dtype=np.uint64),
            session=np.zeros(n, dtype=np.uint64),
            segment=np.zeros(n, dtype=np.int64),
            taste=np.zeros((n, dim), dtype=np.float32),
            price_sensitivity=np.zeros(n, dtype=np.float32),
            budget=np.zeros(n, dtype=np.float32),
            patience=np.zeros(n, dtype=np.float32),
            fatigue=np.zeros((n, catalog.n_categories), dtype=np.float32),
            need=np.ones((n, catalog.n_categories), dtype=np.float32),
            base_budget=np.zeros(n, dtype=np.float32),
            visit=np.zeros(n, dtype=np.int64),
            intent=np.full(n, catalog.n_categories, dtype=np.int64),
            history_items=np.full((n, config.history_length), catalog.n_items, dtype=np.int64),
            history_events=np.zeros((n, config.history_length), dtype=np.int64),
            cart_items=np.full((n, config.cart_capacity), catalog.n_items, dtype=np.int64),
            features=np.zeros((n, len(SESSION_FEATURES)), dtype=np.float32),
            cart_count=np.zeros(n, dtype=np.int64),
            cart_quality_sum=np.zeros(n, dtype=np.float32),
            cart_embedding_sum=np.zeros((n, dim), dtype=np.float32),
            slate_utility=np.zeros((n, config.slate_size), dtype=np.float64),
            slate_affinity=np.zeros((n, config.slate_size), dtype=np.float64),
        )
