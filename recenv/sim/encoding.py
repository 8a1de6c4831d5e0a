"""The compact observation: a float32 vector from observable item features, for MLP policies.

Item ids are categorical with up to millions of values: flattening them one-hot gives
millions of inputs on ``large``. This encoding replaces each id by the item's observable
features (what ``item_features`` shows an agent) and pools them, so its size depends on the
number of categories, not of items.

**Item features** (``F`` columns, ``ITEM_FEATURE_NAMES``): the category one-hot
(``n_categories``), the standardised log price, the popularity (1 = most popular item, 0 =
least: ``1 - rank / (n_items - 1)``) and, when ``catalog.observable_embeddings``, the
embedding. The padding id ``n_items`` maps to zeros.

**Layout** (in order; ``observation_layout`` returns the slices):

==================  ==============  =========================================================
block               size            meaning
==================  ==============  =========================================================
``session``         9               ``log1p`` of the session features (``SESSION_FEATURES``)
``query``           C + 1           one-hot of the searched category; the last = no search
``history_mean``    F               mean item features of the shown history entries
``clicked_mean``    F               mean over history entries clicked, carted or bought
``cart_mean``       F               mean over the items in the cart
``recent``          P * (F + 5)     the P most recent history entries, most recent first:
                                    item features then the event one-hot (pad, viewed,
                                    clicked, carted, bought)
==================  ==============  =========================================================

Means over no entries are zeros (the counts are in ``session`` and the event one-hots).
``P`` is ``interface.observation_positions``. The bounds of the ``Box`` are exact: every
block lies between the column-wise minimum and maximum of its parts.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from recenv.sim.catalog import Catalog
from recenv.sim.config import EnvConfig
from recenv.sim.state import EVENT_CLICKED, EVENT_NAMES, EVENT_PAD, SESSION_FEATURES

# The session features are counts and money: nonnegative, below this in any scenario.
SESSION_FEATURE_MAX = 1e9


def item_feature_names(catalog: Catalog, include_embeddings: bool) -> list[str]:
    """Names of the columns of ``item_feature_matrix``."""
    names = [f"category_{c}" for c in range(catalog.n_categories)]
    names += ["log_price_z", "popularity"]
    if include_embeddings:
        names += [f"embedding_{d}" for d in range(catalog.embedding.shape[1])]
    return names


def item_feature_matrix(catalog: Catalog, include_embeddings: bool) -> NDArray[np.float32]:
    """``(n_items, F)`` observable features of every item (see the module docstring)."""
    n_items = catalog.n_items
    log_price = np.log(catalog.price.astype(np.float64))
    spread = log_price.std()
    price_z = (log_price - log_price.mean()) / (spread if spread > 0 else 1.0)
    popularity = 1.0 - catalog.popularity_rank / max(n_items - 1, 1)
    columns = [
        np.eye(catalog.n_categories, dtype=np.float32)[catalog.category],
        price_z[:, None],
        popularity[:, None],
    ]
    if include_embeddings:
        columns.append(catalog.embedding)
    return np.concatenate(columns, axis=1).astype(np.float32)


class Block(NamedTuple):
    """One named block of the compact observation: its slice and its bounds."""

    name: str
    start: int
    stop: int


class ObservationEncoder:
    """Encodes batched ``Dict`` observations of item ids into ``(n, D)`` float32 rows."""

    def __init__(self, config: EnvConfig, catalog: Catalog) -> None:
        include = config.catalog.observable_embeddings
        self.item_features = item_feature_matrix(catalog, include)
        n_features = self.item_features.shape[1]
        # the padding id n_items reads a row of zeros
        self._table = np.vstack([self.item_features, np.zeros((1, n_features), np.float32)])
        self.n_categories = catalog.n_categories
        self.positions = config.interface.observation_positions
        self._events = np.eye(len(EVENT_NAMES), dtype=np.float32)
        self._queries = np.eye(catalog.n_categories + 1, dtype=np.float32)
        sizes = [
            ("session", len(SESSION_FEATURES)),
            ("query", catalog.n_categories + 1),
            ("history_mean", n_features),
            ("clicked_mean", n_features),
            ("cart_mean", n_features),
            ("recent", self.positions * (n_features + len(EVENT_NAMES))),
        ]
        self.layout: list[Block] = []
        start = 0
        for name, size in sizes:
            self.layout.append(Block(name, start, start + size))
            start += size
        self.size = start
        self.space = spaces.Box(*self._bounds(), shape=(self.size,), dtype=np.float32)

    def _bounds(self) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        item_low = np.minimum(self._table.min(axis=0), 0.0)
        item_high = np.maximum(self._table.max(axis=0), 0.0)
        event_low = np.zeros(len(EVENT_NAMES), np.float32)
        event_high = np.ones(len(EVENT_NAMES), np.float32)
        session_high = np.full(len(SESSION_FEATURES), np.log1p(SESSION_FEATURE_MAX))
        low = [np.zeros(len(SESSION_FEATURES)), np.zeros(self.n_categories + 1)]
        high = [session_high, np.ones(self.n_categories + 1)]
        low += [item_low] * 3 + [np.concatenate([item_low, event_low])] * self.positions
        high += [item_high] * 3 + [np.concatenate([item_high, event_high])] * self.positions
        return (
            np.concatenate(low).astype(np.float32),
            np.concatenate(high).astype(np.float32),
        )

    def block(self, name: str) -> slice:
        """The slice of block ``name`` in an encoded row."""
        for block in self.layout:
            if block.name == name:
                return slice(block.start, block.stop)
        raise KeyError(f"no block {name!r}; blocks: {[block.name for block in self.layout]}")

    def encode(
        self, observation: dict[str, NDArray], out: NDArray[np.float32] | None = None
    ) -> NDArray[np.float32]:
        """``(n, D)`` rows of the batched ``observation`` (written into ``out`` if given)."""
        history, events = observation["history"], observation["history_events"]
        cart = observation["cart"]
        n = history.shape[0]
        if out is None:
            out = np.empty((n, self.size), dtype=np.float32)
        np.log1p(np.maximum(observation["session"], 0.0), out=out[:, self.block("session")])
        out[:, self.block("query")] = self._queries[np.asarray(observation["query"])]
        shown = events != EVENT_PAD
        clicked = events >= EVENT_CLICKED
        out[:, self.block("history_mean")] = self._pooled(history, shown)
        out[:, self.block("clicked_mean")] = self._pooled(history, clicked)
        out[:, self.block("cart_mean")] = self._pooled(cart, cart < self._table.shape[0] - 1)
        recent = out[:, self.block("recent")].reshape(n, self.positions, -1)
        n_features = self._table.shape[1]
        recent[:, :, :n_features] = self._table[history[:, : self.positions]]
        recent[:, :, n_features:] = self._events[events[:, : self.positions]]
        out[:, self.block("recent")] = recent.reshape(n, -1)
        return out

    def _pooled(self, items: NDArray[np.int64], weight: NDArray[np.bool_]) -> NDArray:
        """Mean item features of ``items`` where ``weight``; one column at a time so the
        memory stays ``(n, F)`` however long the history."""
        total = np.zeros((items.shape[0], self._table.shape[1]), dtype=np.float32)
        for column in range(items.shape[1]):
            rows = np.flatnonzero(weight[:, column])
            if rows.size:
                total[rows] += self._table[items[rows, column]]
        count = weight.sum(axis=1, keepdims=True)
        return total / np.maximum(count, 1)
