"""Shops: every item belongs to one shop, and a shop's reputation moves its items' rates.

With ``catalog.n_shops = S > 0`` the world draws (from its own stream of ``catalog_seed``):

* the shop of each item: every shop gets one item, the rest go to shop ``s`` with
  probability ``(s + 1) ** -shop_size_exponent / sum`` (a few big shops, many small ones);
* each shop's reputation ``r_s ~ N(0, reputation_std**2)`` (public, like star ratings:
  ``item_features["shop_reputation"]``).

Reputation adds ``reputation_click_weight * r`` to an item's click utility (folded into
``ItemTable.static_utility``) and ``reputation_cart_weight * r`` to its add-to-cart logit
(``ItemTable.cart_utility``), so the step reads no array it did not read before for clicks.

A shop's slate (``interface.action = "shops"``): the action is a shop id, and the env shows
that shop's ``slate_size`` most popular items (lowest ``popularity_rank``) among those the
action mask allows, best first; if the mask leaves the shop fewer than ``slate_size``
items, its most popular masked items fill the slate (masked items are still shown, as for
item actions). Every shop must hold at least ``slate_size`` items.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from recenv.sim.config import CatalogConfig, out_of_range


class Shops(NamedTuple):
    """The shop structure of a world."""

    shop: NDArray[np.int64]  # (n_items,) shop of each item
    reputation: NDArray[np.float32]  # (n_shops,)


def draw_shops(config: CatalogConfig, rng: np.random.Generator) -> Shops:
    """Shops of ``config`` (``n_shops > 0``), drawn from ``rng`` as the module says."""
    n_shops, n_items = config.n_shops, config.n_items
    weights = (np.arange(n_shops) + 1.0) ** -config.shop_size_exponent
    shop = np.concatenate(
        [np.arange(n_shops), rng.choice(n_shops, n_items - n_shops, p=weights / weights.sum())]
    )
    rng.shuffle(shop)
    reputation = config.reputation_std * rng.standard_normal(n_shops)
    return Shops(shop.astype(np.int64), reputation.astype(np.float32))


def ranked_items(
    shop: NDArray[np.int64], popularity_rank: NDArray[np.int64], n_shops: int
) -> NDArray[np.int64]:
    """``(S, largest shop)`` each shop's items, most popular first, padded with -1."""
    order = np.lexsort((popularity_rank, shop))  # by shop, then by popularity rank
    sizes = np.bincount(shop, minlength=n_shops)
    table = np.full((n_shops, sizes.max()), -1, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    position = np.arange(len(shop)) - np.repeat(starts, sizes)
    table[shop[order], position] = order
    return table


class ShopSlates:
    """Turns shop ids into slates: the rule of the module docstring."""

    def __init__(
        self, shop: NDArray[np.int64], popularity_rank: NDArray[np.int64], n_shops: int
    ) -> None:
        self.ranked = ranked_items(shop, popularity_rank, n_shops)
        self.n_shops = n_shops

    def check_fits(self, slate_size: int) -> None:
        """Every shop can fill a slate of ``slate_size`` distinct items."""
        smallest = int((self.ranked >= 0).sum(axis=1).min())
        if smallest < slate_size:
            raise out_of_range(
                "EnvConfig.slate_size",
                slate_size,
                f"[1, {smallest}] with interface.action = 'shops' (the smallest shop's items)",
            )

    def slates(
        self, shops: NDArray[np.int64], allowed: NDArray[np.bool_], slate_size: int
    ) -> NDArray[np.int64]:
        """``(n, slate_size)`` slates of shop ids ``shops`` (n,) under the ``(n, M)`` mask."""
        ranked = self.ranked[shops]  # (n, largest shop)
        real = ranked >= 0
        rows = np.arange(len(shops))[:, None]
        permitted = real & allowed[rows, np.maximum(ranked, 0)]
        # allowed items first, then masked ones, then padding; popularity order within each
        tier = np.where(permitted, 0, np.where(real, 1, 2))
        order = np.argsort(tier, axis=1, kind="stable")[:, :slate_size]
        return np.take_along_axis(ranked, order, axis=1)


def check_shop_ids(actions: object, n_shoppers: int, n_shops: int, batched: bool) -> NDArray:
    """``(n,)`` shop ids from an agent's actions, or a ValueError naming the bad one."""
    ids = np.asarray(actions)
    expected = (n_shoppers,) if batched else ()
    if ids.shape != expected or not np.issubdtype(ids.dtype, np.integer):
        what = "one shop id per shopper" if batched else "a shop id"
        raise ValueError(
            f"interface.action = 'shops' takes {what} (integers of shape {expected}); "
            f"got {ids.dtype} of shape {ids.shape}"
        )
    bad = ids[(ids < 0) | (ids >= n_shops)]
    if bad.size:
        raise out_of_range("action shop id", int(bad.flat[0]), f"0 <= id < {n_shops}")
    return ids.reshape(n_shoppers).astype(np.int64)
