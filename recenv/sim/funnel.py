"""The purchase funnel: click -> add-to-cart -> checkout, budget limits and the reward.

The step calls ``click_to_cart`` after a click and ``checkout`` when the cart is bought;
both update the cart aggregates and session features in place.
"""

from __future__ import annotations

import math

from numba import njit

from recenv.sim.state import CART_ITEMS, CART_VALUE, CARTS, CLICKS, ITEMS_BOUGHT, SPENT, mark_bought


@njit(cache=True, inline="always")
def sigmoid(logit):
    """Logistic function ``1 / (1 + exp(-x))``."""
    return 1.0 / (1.0 + math.exp(-logit))


@njit(cache=True, inline="always")
def cart_probability(quality, affinity, cart_utility, params):
    """``P(add to cart | click) = sigmoid(cart_bias + w_q * quality + w_t * affinity
    + cart_utility)``, ``cart_utility`` the item's shop-reputation term (0 without shops).

    Only when the price fits the budget left after the cart and the cart has room; the
    caller checks both.
    """
    return sigmoid(
        params.cart_bias
        + params.cart_quality_weight * quality
        + params.cart_taste_weight * affinity
        + cart_utility
    )


@njit(cache=True, inline="always")
def checkout_probability(cart_quality_sum, cart_count, params):
    """``P(buy the cart now) = sigmoid(checkout_bias + w_q * mean cart quality)``; 0 if empty."""
    if cart_count == 0:
        return 0.0
    mean_quality = cart_quality_sum / cart_count
    return sigmoid(params.checkout_bias + params.checkout_quality_weight * mean_quality)


@njit(cache=True, inline="always")
def click_to_cart(shopper, item, position, state, items, params, uniform):
    """Count the click; add the item to the cart with ``cart_probability`` (``uniform`` is
    the draw) if its price fits the budget left after the cart and the cart has room.
    Returns whether it was carted."""
    state.features[shopper, CLICKS] += 1.0
    fits = items.price[item] <= state.budget[shopper] - state.features[shopper, CART_VALUE]
    room = state.cart_count[shopper] < params.cart_capacity
    affinity = state.slate_affinity[shopper, position]
    wants = uniform < cart_probability(
        items.quality[item], affinity, items.cart_utility[item], params
    )
    if not (fits and room and wants):
        return False
    state.cart_items[shopper, state.cart_count[shopper]] = item
    state.cart_count[shopper] += 1
    state.cart_quality_sum[shopper] += items.quality[item]
    for d in range(state.cart_embedding_sum.shape[1]):
        state.cart_embedding_sum[shopper, d] += items.embedding[item, d]
    state.features[shopper, CART_ITEMS] += 1.0
    state.features[shopper, CART_VALUE] += items.price[item]
    state.features[shopper, CARTS] += 1.0
    return True


@njit(cache=True, inline="always")
def checkout(shopper, state):
    """Pay for the cart: spend its value from the budget, mark its items bought in the
    history, count them. The cart stays until ``empty_cart`` (the dynamics read it first)."""
    value, count = state.features[shopper, CART_VALUE], state.cart_count[shopper]
    state.budget[shopper] = max(state.budget[shopper] - value, 0.0)
    mark_bought(shopper, state)
    state.features[shopper, ITEMS_BOUGHT] += count
    state.features[shopper, SPENT] += value


@njit(cache=True, inline="always")
def empty_cart(shopper, state, params):
    """After a purchase: no items, no value, no aggregates."""
    state.features[shopper, CART_ITEMS] = 0.0
    state.features[shopper, CART_VALUE] = 0.0
    for slot in range(state.cart_items.shape[1]):
        state.cart_items[shopper, slot] = params.n_items
    state.cart_count[shopper] = 0
    state.cart_quality_sum[shopper] = 0.0
    for d in range(state.cart_embedding_sum.shape[1]):
        state.cart_embedding_sum[shopper, d] = 0.0


def weighted_reward(clicked, carted, revenue, items_bought, params):
    """``w_click * click + w_cart * cart + w_purchase * (revenue | items bought)``.

    Probabilities may stand in for the events to get an expected reward. Plain Python, so
    agents estimating expected reward use this very formula on floats, numpy arrays or
    torch tensors (``agents.base.expected_reward``); ``step_reward`` is its compiled twin.
    """
    purchase = revenue if params.purchase_is_revenue else items_bought
    return (
        params.reward_click * clicked
        + params.reward_cart * carted
        + params.reward_purchase * purchase
    )


step_reward = njit(cache=True, inline="always")(weighted_reward)
