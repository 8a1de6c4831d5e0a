"""The purchase funnel: click -> add-to-cart -> checkout, budget limits and the reward."""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, inline="always")
def sigmoid(logit):
    """Logistic function ``1 / (1 + exp(-x))``."""
    return 1.0 / (1.0 + math.exp(-logit))


@njit(cache=True, inline="always")
def cart_probability(quality, affinity, params):
    """``P(add to cart | click) = sigmoid(cart_bias + w_q * quality + w_t * affinity)``.

    Only when the price fits the budget left after the cart and the cart has room; the
    caller checks both.
    """
    return sigmoid(
        params.cart_bias
        + params.cart_quality_weight * quality
        + params.cart_taste_weight * affinity
    )


@njit(cache=True, inline="always")
def checkout_probability(cart_quality_sum, cart_count, params):
    """``P(buy the cart now) = sigmoid(checkout_bias + w_q * mean cart quality)``; 0 if empty."""
    if cart_count == 0:
        return 0.0
    mean_quality = cart_quality_sum / cart_count
    return sigmoid(params.checkout_bias + params.checkout_quality_weight * mean_quality)


@njit(cache=True, inline="always")
def step_reward(clicked, carted, revenue, items_bought, params):
    """``w_click * click + w_cart * cart + w_purchase * (revenue | items bought)``.

    Probabilities may stand in for the events to get an expected reward.
    """
    purchase = revenue if params.purchase_is_revenue else items_bought
    return (
        params.reward_click * clicked
        + params.reward_cart * carted
        + params.reward_purchase * purchase
    )
