"""Which items an agent may show each shopper now: the action mask.

Unreleased items (``catalog.n_new_items`` not yet on sale at the row's session) are never
clicked, so they are always masked; ``interface.mask_cart`` and ``interface.mask_shown``
also mask the items in the cart and the items of the previous step's slate. A mask never
allows fewer than ``slate_size`` items: if the optional parts leave too few, they are
dropped for that row (unreleased items stay masked while enough are on sale).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recenv.sim.catalog import Catalog
from recenv.sim.config import EnvConfig
from recenv.sim.state import STEP, ShopperState


def item_mask(config: EnvConfig, catalog: Catalog, state: ShopperState) -> NDArray[np.bool_]:
    """``(n, n_items)`` True where an item may be shown to the row's shopper now."""
    released = catalog.release_session[None, :] <= state.session.astype(np.int64)[:, None]
    mask = released.copy()
    interface = config.interface
    if interface.mask_cart:
        _clear(mask, state.cart_items, catalog.n_items)
    if interface.mask_shown:
        _clear(mask, last_slate(state, config.slate_size), catalog.n_items)
    too_few = mask.sum(axis=1) < config.slate_size
    if too_few.any():  # the optional parts left too few: keep only what is on sale
        mask[too_few] = released[too_few]
        still = mask.sum(axis=1) < config.slate_size
        mask[still] = True
    return mask


def recorded_slate(state: ShopperState, slate_size: int) -> NDArray[np.int64]:
    """``(n, K)`` the last slate the history ring recorded, whatever visit it belongs to:
    what the step just taken showed, even when that step ended a visit and the shopper
    came back (``episode: shopper`` keeps the history across visits)."""
    length = state.history_items.shape[1]
    width = min(slate_size, length)
    slots = (state.history_head[:, None] - 1 - np.arange(width)[None, :]) % length
    return np.take_along_axis(state.history_items, slots, axis=1).astype(np.int64)


def last_slate(state: ShopperState, slate_size: int) -> NDArray[np.int64]:
    """``(n, K)`` items shown at the previous step of this visit (int64 max where none: a
    first step)."""
    items = recorded_slate(state, slate_size)
    first_step = state.features[:, STEP] == 0
    items[first_step] = np.iinfo(np.int64).max  # nothing was shown yet this visit
    return items


def _clear(mask: NDArray[np.bool_], items: NDArray[np.integer], n_items: int) -> None:
    """Set ``mask[row, item] = False`` for every real item id (``< n_items``) of ``items``."""
    rows, columns = np.nonzero((items >= 0) & (items < n_items))
    mask[rows, items[rows, columns]] = False
