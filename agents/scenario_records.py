"""Per-session records of the scenarios' structure: complements and shops.

``recenv.metrics`` defines what they measure (``SCENARIO_METRICS``); this records, step by
step, what those definitions count, from what each step showed, clicked and bought:

* ``complement_clicks``: clicks on an item whose category is a complement of a category
  bought at an earlier step of the episode (``catalog.complements``);
* ``complement_purchases``: items bought whose category is such a complement;
* ``items_purchased``: items bought (the cart before the step plus the item carted in it);
* ``shop_purchases``: ``(n, n_shops)`` items bought from each shop;
* ``reputation_purchased``: the summed shop reputation of the items bought.

The items a checkout buys are the cart before the step plus the item the step carted, so
the records need the cart before each step (``before_step``). Written once for numpy
arrays and torch tensors alike (the CPU and the device evaluation share it), with only the
operations both have.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recenv.sim.catalog import Catalog
from recenv.sim.complements import complement_matrix
from recenv.sim.config import EnvConfig


def records_scenarios(config: EnvConfig) -> bool:
    """Whether the world has complements (``complement_boost > 0``) or shops to record."""
    return config.dynamics.complement_boost > 0 or config.catalog.n_shops > 0


class ScenarioRecorder:
    """Accumulates the records above for ``n_shoppers`` sessions (numpy, or torch on
    ``device``)."""

    def __init__(
        self, config: EnvConfig, catalog: Catalog, n_shoppers: int, device: Any = None
    ) -> None:
        self.complements = config.dynamics.complement_boost > 0
        self.n_shops = catalog.n_shops
        n_categories = catalog.n_categories
        # one extra "none" category and shop: the padding of carts and "no click" (-1)
        category = np.append(catalog.category, n_categories)
        matrix = np.zeros((n_categories + 1, n_categories + 1), dtype=bool)
        matrix[:n_categories, :n_categories] = complement_matrix(catalog.complements)
        shop = np.append(catalog.shop if self.n_shops else np.zeros(catalog.n_items), self.n_shops)
        self._as = _backend(device)
        self.category, self.matrix = self._as(category), self._as(matrix)
        self.shop = self._as(shop.astype(np.int64))
        self.shop_ids = self._as(np.arange(self.n_shops))
        self.reputation = self._as(np.append(catalog.item_reputation(), 0).astype(np.float64))
        self.rows = self._as(np.arange(n_shoppers))
        # boosted[n, b]: b complements a category bought earlier in the episode
        self.boosted = self._as(np.zeros((n_shoppers, n_categories + 1), dtype=bool))
        self.totals = {
            name: self._as(np.zeros(n_shoppers))
            for name in ("complement_clicks", "complement_purchases", "items_purchased")
        }
        self.totals["shop_purchases"] = self._as(np.zeros((n_shoppers, self.n_shops)))
        self.totals["reputation_purchased"] = self._as(np.zeros(n_shoppers))
        self._cart: Any = None

    def before_step(self, cart_items: Any) -> None:
        """The ``(n, cart_capacity)`` cart (pad ``n_items``) just before the step."""
        self._cart = cart_items[:, :] * 1  # a copy, in the caller's array type

    def after_step(self, clicked_item: Any, carted: Any, purchased: Any, active: Any) -> None:
        """Count the step's clicks and purchases of the sessions still ``active``."""
        cart_category = self.category[self._cart]  # (n, C); pads -> the none category
        click_category = self.category[clicked_item]  # -1 (no click) -> the none category
        bought_cart = (purchased & active)[:, None] & (self._cart < len(self.category) - 1)
        bought_click = purchased & active & carted
        totals = self.totals
        totals["items_purchased"] += bought_cart.sum(1) + bought_click
        totals["complement_clicks"] += self.boosted[self.rows, click_category] & active
        totals["complement_purchases"] += (
            self.boosted[self.rows[:, None], cart_category] & bought_cart
        ).sum(1) + (self.boosted[self.rows, click_category] & bought_click)
        if self.n_shops:
            totals["reputation_purchased"] += (self.reputation[self._cart] * bought_cart).sum(
                1
            ) + self.reputation[clicked_item] * bought_click
            for shops, bought in (
                (self.shop[self._cart], bought_cart),
                (self.shop[clicked_item][:, None], bought_click[:, None]),
            ):
                hits = (shops[:, :, None] == self.shop_ids[None, None, :]) & bought[:, :, None]
                totals["shop_purchases"] += hits.sum(1)
        self.boosted |= (self.matrix[cart_category] & bought_cart[:, :, None]).any(1)
        self.boosted |= self.matrix[click_category] & bought_click[:, None]

    def records(self) -> dict[str, np.ndarray]:
        """The records, as numpy arrays (complement ones only with complements on, shop ones
        only with shops)."""
        names = ["items_purchased"]
        names += ["complement_clicks", "complement_purchases"] if self.complements else []
        names += ["shop_purchases", "reputation_purchased"] if self.n_shops else []
        return {name: _numpy(self.totals[name]) for name in names}


def _backend(device: Any):
    """numpy arrays as they are (``device`` None), else torch tensors on ``device``."""
    if device is None:
        return np.asarray
    import torch

    return lambda array: torch.as_tensor(np.asarray(array), device=device)


def _numpy(values: Any) -> np.ndarray:
    return values.cpu().numpy() if hasattr(values, "cpu") else np.asarray(values)
