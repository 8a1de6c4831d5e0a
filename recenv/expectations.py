"""Expected one-step outcomes of recommending an item, given the hidden state.

For analysis and oracle baselines: with full knowledge of a shopper, what would showing
item j alone, at the top, earn now and do to patience? Uses the same utility, funnel and
dynamics functions as the simulation step, so the oracles are exact about one step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from recenv import choice, dynamics, funnel
from recenv.core import Simulator
from recenv.state import CART_ITEMS, CART_VALUE


class ExpectedOutcome(NamedTuple):
    """Arrays of shape ``(n_shoppers, n_candidates)``."""

    click_probability: NDArray[np.float64]
    cart_probability: NDArray[np.float64]
    reward: NDArray[np.float64]
    patience_change: NDArray[np.float64]


class _HiddenShoppers(NamedTuple):
    taste: NDArray[np.float32]
    price_sensitivity: NDArray[np.float32]
    fatigue: NDArray[np.float32]
    intent: NDArray[np.int64]
    session: NDArray[np.uint64]


def expected_outcomes(
    simulator: Simulator,
    hidden: Mapping[str, NDArray],
    observation: Mapping[str, NDArray],
    candidates: NDArray[np.int64],
) -> ExpectedOutcome:
    """Expected click, cart, reward and patience change of each candidate shown alone.

    ``hidden`` is ``info["hidden"]`` and ``observation`` the batched observation of the
    same step; ``candidates`` is ``(n, J)`` item ids. With ``p`` the click probability,
    ``c`` the cart probability and ``b1``/``b0`` the checkout probabilities with/without
    the item in the cart: ``E[revenue] = p c b1 (V + price) + (1 - p c) b0 V``.
    """
    config = simulator.config
    shoppers = _HiddenShoppers(
        taste=hidden["taste"],
        price_sensitivity=hidden["price_sensitivity"],
        fatigue=hidden["fatigue"],
        intent=np.asarray(observation["query"]),
        session=np.asarray(hidden["session_index"]).astype(np.uint64),
    )
    item_rows = simulator.item_table.take(candidates, axis=0)
    scores = simulator.utilities(shoppers, candidates, item_rows, at_top=True)
    utilities, affinity = scores.utility, scores.affinity
    dim = simulator.catalog.embedding.shape[1]
    quality, price = item_rows[..., dim + 2], item_rows[..., dim + 3]
    no_click = config.choice.no_click_utility
    click = choice.choice_probabilities(utilities.reshape(-1, 1), no_click)[:, 0]
    click = click.reshape(utilities.shape)

    session = np.asarray(observation["session"])
    cart_value, cart_count = session[:, CART_VALUE, None], session[:, CART_ITEMS, None]
    quality_sum = np.asarray(hidden["cart_quality_sum"])[:, None]
    budget = np.asarray(hidden["budget"])[:, None]
    fits = (price <= budget - cart_value) & (cart_count < config.cart_capacity)
    cart = funnel.cart_probability(quality, affinity, config.funnel) * fits
    carted = click * cart
    buy_with = funnel.checkout_probability(quality_sum + quality, cart_count + 1, config.funnel)
    buy_without = funnel.checkout_probability(quality_sum, cart_count, config.funnel)
    revenue = carted * buy_with * (cart_value + price) + (1 - carted) * buy_without * cart_value
    items = carted * buy_with * (cart_count + 1) + (1 - carted) * buy_without * cart_count
    reward = funnel.step_reward(click, carted, revenue, items, config.funnel)
    bought = carted * buy_with + (1 - carted) * buy_without
    patience = dynamics.patience_change(click, quality, bought, scores.fatigue, config.dynamics)
    return ExpectedOutcome(click, cart, reward, patience)
