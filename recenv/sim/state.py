"""ShopperState: the preallocated per-shopper arrays, the only mutable state of a simulation."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
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

    Ids and counters use the narrowest integer type that holds them (item ids < 10**7 and
    capacities fit int32, event codes int8): the step is bound by memory traffic, and the
    observation widens them back to the int64 of the observation space. The history is a
    ring buffer: a slate overwrites the oldest entries and moves ``history_head`` instead
    of shifting every entry; ``history_slot`` maps observation order onto the ring.
    """

    # stream bookkeeping
    key: NDArray[np.uint64]  # (n,) random-stream key of each slot
    session: NDArray[np.uint64]  # (n,) index of the slot's current session
    # hidden shopper traits
    segment: NDArray[np.int32]  # (n,)
    taste: NDArray[np.float32]  # (n, embedding_dim)
    price_sensitivity: NDArray[np.float32]  # (n,)
    budget: NDArray[np.float32]  # (n,) remaining budget
    patience: NDArray[np.float32]  # (n,)
    fatigue: NDArray[np.float32]  # (n, n_categories)
    need: NDArray[np.float32]  # (n, n_categories) 1 = neutral; purchases satiate
    base_budget: NDArray[np.float32]  # (n,) the budget a shopper arrives with
    visit: NDArray[np.int32]  # (n,) visits of this shopper so far (episode: shopper)
    # observable
    intent: NDArray[np.int32]  # (n,) searched category, n_categories = none
    history_items: NDArray[np.int32]  # (n, history_length) ring buffer, pad = n_items
    history_events: NDArray[np.int8]  # (n, history_length) ring buffer of EVENT_* codes
    history_head: NDArray[np.int32]  # (n,) ring slot the next entry goes to
    cart_items: NDArray[np.int32]  # (n, cart_capacity), pad = n_items
    features: NDArray[np.float32]  # (n, len(SESSION_FEATURES))
    # cart aggregates kept incrementally so checkout needs no gather
    cart_count: NDArray[np.int32]  # (n,)
    cart_quality_sum: NDArray[np.float32]  # (n,)
    cart_embedding_sum: NDArray[np.float32]  # (n, embedding_dim)
    # per-step scratch: utilities and affinities of the shown slate
    slate_utility: NDArray[np.float64]  # (n, slate_size)
    slate_affinity: NDArray[np.float64]  # (n, slate_size)

    @classmethod
    def allocate(cls, config: EnvConfig, n_shoppers: int) -> ShopperState:
        """Preallocate every array once; resets are writes into them."""
        n, catalog = n_shoppers, config.catalog
        dim, history = catalog.embedding_dim, config.history_length
        return cls(
            key=np.zeros(n, dtype=np.uint64),
            session=np.zeros(n, dtype=np.uint64),
            segment=np.zeros(n, dtype=np.int32),
            taste=np.zeros((n, dim), dtype=np.float32),
            price_sensitivity=np.zeros(n, dtype=np.float32),
            budget=np.zeros(n, dtype=np.float32),
            patience=np.zeros(n, dtype=np.float32),
            fatigue=np.zeros((n, catalog.n_categories), dtype=np.float32),
            need=np.ones((n, catalog.n_categories), dtype=np.float32),
            base_budget=np.zeros(n, dtype=np.float32),
            visit=np.zeros(n, dtype=np.int32),
            intent=np.full(n, catalog.n_categories, dtype=np.int32),
            history_items=np.full((n, history), catalog.n_items, dtype=np.int32),
            history_events=np.zeros((n, history), dtype=np.int8),
            history_head=np.zeros(n, dtype=np.int32),
            cart_items=np.full((n, config.cart_capacity), catalog.n_items, dtype=np.int32),
            features=np.zeros((n, len(SESSION_FEATURES)), dtype=np.float32),
            cart_count=np.zeros(n, dtype=np.int32),
            cart_quality_sum=np.zeros(n, dtype=np.float32),
            cart_embedding_sum=np.zeros((n, dim), dtype=np.float32),
            slate_utility=np.zeros((n, config.slate_size), dtype=np.float64),
            slate_affinity=np.zeros((n, config.slate_size), dtype=np.float64),
        )

    def load_history(self, items: NDArray[np.integer], events: NDArray[np.integer]) -> None:
        """Write histories given most recent first (as observed) into every row's ring."""
        self.history_items[:] = np.asarray(items)[:, ::-1]
        self.history_events[:] = np.asarray(events)[:, ::-1]
        self.history_head[:] = 0


@njit(cache=True, inline="always")
def history_slot(head, age, length):
    """Ring slot of the history entry ``age`` entries back (0 = most recent): ``(head - 1 -
    age) mod length``, the one map between the ring and the observed order."""
    slot = head - 1 - age  # >= -length: head >= 0 and age < length
    return slot + length if slot < 0 else slot


@njit(cache=True, inline="always")
def record_slate(row, slates, position, carted, state):
    """Append ``row``'s slate to its history ring (the slate's first item ends up most
    recent), all viewed, the item at ``position`` clicked or carted; a slate longer than
    the history keeps its first ``history_length`` items."""
    length = state.history_items.shape[1]
    width = min(slates.shape[1], length)
    head = state.history_head[row] + width
    if head >= length:
        head -= length
    state.history_head[row] = head
    for k in range(width):
        slot = history_slot(head, k, length)
        state.history_items[row, slot] = slates[row, k]
        state.history_events[row, slot] = EVENT_VIEWED
    if position < width:
        state.history_events[row, history_slot(head, position, length)] = (
            EVENT_CARTED if carted else EVENT_CLICKED
        )


@njit(cache=True, inline="always")
def mark_bought(row, state):
    """Every clicked or carted history entry of an item now in the cart becomes bought."""
    history, events, cart = state.history_items, state.history_events, state.cart_items
    for slot in range(history.shape[1]):
        if events[row, slot] >= EVENT_CLICKED:
            for index in range(state.cart_count[row]):
                if history[row, slot] == cart[row, index]:
                    events[row, slot] = EVENT_BOUGHT


@njit(cache=True, inline="always")
def observe_row(row, state, history, events, cart, session):
    """Write ``row``'s observation into row ``row`` of the output arrays: the history most
    recent first (read backwards round the ring), the cart, the session features; returns
    the query."""
    length, head = state.history_items.shape[1], state.history_head[row]
    for age in range(head):  # ring slots head - 1 down to 0
        history[row, age] = state.history_items[row, head - 1 - age]
        events[row, age] = state.history_events[row, head - 1 - age]
    for age in range(head, length):  # then length - 1 down to head
        history[row, age] = state.history_items[row, length - 1 + head - age]
        events[row, age] = state.history_events[row, length - 1 + head - age]
    for index in range(state.cart_items.shape[1]):
        cart[row, index] = state.cart_items[row, index]
    for column in range(state.features.shape[1]):
        session[row, column] = state.features[row, column]
    return state.intent[row]
