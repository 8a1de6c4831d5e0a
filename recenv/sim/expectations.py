"""Expected one-step outcomes of recommending an item, given the hidden state.

For analysis and oracle baselines: with full knowledge of a shopper, what would showing
item j alone, at the top, earn now and do to patience? The kernel calls the same
utility, funnel and dynamics functions as the simulation step, so it is exact about one
step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from recenv.sim.choice import click_probability_alone, item_utility
from recenv.sim.core import Simulator
from recenv.sim.dynamics import patience_change
from recenv.sim.funnel import cart_probability, checkout_probability, step_reward
from recenv.sim.state import CART_ITEMS, CART_VALUE


class ExpectedOutcome(NamedTuple):
    """Arrays of shape ``(n_shoppers, n_candidates)``."""

    click_probability: NDArray[np.float64]
    cart_probability: NDArray[np.float64]
    reward: NDArray[np.float64]
    patience_change: NDArray[np.float64]


def expected_outcomes(
    simulator: Simulator,
    hidden: Mapping[str, NDArray],
    observation: Mapping[str, NDArray],
    candidates: NDArray[np.int64] | None = None,
) -> ExpectedOutcome:
    """Expected click, cart, reward and patience change of each candidate shown alone.

    ``hidden`` is a batched ``info["hidden"]`` and ``observation`` the batched observation
    of the same step; ``candidates`` is ``(n, J)`` item ids (default: every item). With
    ``p`` the click probability, ``c`` the cart probability and ``b1`` / ``b0`` the checkout
    probabilities with / without the item: ``E[revenue] = p c b1 (V + price) + (1 - p c) b0 V``.
    """
    n_shoppers = len(hidden["taste"])
    if candidates is None:
        candidates = np.tile(np.arange(simulator.catalog.n_items), (n_shoppers, 1))
    session = np.asarray(observation["session"], dtype=np.float64)
    outcome = _expected_outcomes(
        np.ascontiguousarray(candidates, dtype=np.int64),
        np.asarray(hidden["taste"]),
        np.asarray(hidden["price_sensitivity"]),
        np.asarray(hidden["fatigue"]),
        np.asarray(hidden["need"]),
        np.asarray(observation["query"], dtype=np.int64),
        np.asarray(hidden["session_index"]).astype(np.uint64),
        np.asarray(hidden["budget"], dtype=np.float64),
        np.asarray(hidden["cart_quality_sum"], dtype=np.float64),
        session[:, CART_VALUE].copy(),
        session[:, CART_ITEMS].astype(np.int64),
        simulator.items,
        simulator.params,
    )
    return ExpectedOutcome(*outcome)


@njit(cache=True, parallel=True)
def _expected_outcomes(
    candidates,
    taste,
    price_sensitivity,
    fatigue,
    need,
    intent,
    session,
    budget,
    cart_quality_sum,
    cart_value,
    cart_count,
    items,
    params,
):
    n_shoppers, n_candidates = candidates.shape
    click = np.zeros((n_shoppers, n_candidates))
    cart = np.zeros((n_shoppers, n_candidates))
    reward = np.zeros((n_shoppers, n_candidates))
    patience = np.zeros((n_shoppers, n_candidates))
    for n in prange(n_shoppers):
        buy_without = checkout_probability(cart_quality_sum[n], cart_count[n], params)
        for c in range(n_candidates):
            item = candidates[n, c]
            utility, affinity, item_fatigue = item_utility(
                taste, price_sensitivity, fatigue, need, intent, session, n, item, items, params
            )
            p_click = click_probability_alone(utility, params.no_click_utility)
            price, quality = items.price[item], items.quality[item]
            p_cart = 0.0
            if price <= budget[n] - cart_value[n] and cart_count[n] < params.cart_capacity:
                p_cart = cart_probability(quality, affinity, items.cart_utility[item], params)
            carted = p_click * p_cart
            buy_with = checkout_probability(
                cart_quality_sum[n] + quality, cart_count[n] + 1, params
            )
            revenue = (
                carted * buy_with * (cart_value[n] + price)
                + (1.0 - carted) * buy_without * cart_value[n]
            )
            bought_items = (
                carted * buy_with * (cart_count[n] + 1)
                + (1.0 - carted) * buy_without * cart_count[n]
            )
            bought = carted * buy_with + (1.0 - carted) * buy_without
            click[n, c], cart[n, c] = p_click, p_cart
            reward[n, c] = step_reward(p_click, carted, revenue, bought_items, params)
            patience[n, c] = patience_change(p_click, quality, bought, item_fatigue, params)
    return click, cart, reward, patience
