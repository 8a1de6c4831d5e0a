"""The purchase funnel: click -> add-to-cart -> checkout, budget limits and the reward."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recenv.config import FunnelConfig


def sigmoid(logits: NDArray[np.floating]) -> NDArray[np.floating]:
    """Logistic function ``1 / (1 + exp(-x))``."""
    return 1.0 / (1.0 + np.exp(-logits))


def cart_probability(
    quality: NDArray[np.floating], affinity: NDArray[np.floating], config: FunnelConfig
) -> NDArray[np.floating]:
    """``P(add to cart | click) = sigmoid(cart_bias + w_q * quality + w_t * affinity)``.

    The caller zeroes it where the price does not fit the remaining budget or the cart
    is full.
    """
    logit = config.cart_bias + config.cart_quality_weight * quality
    return sigmoid(logit + config.cart_taste_weight * affinity)


def checkout_probability(
    cart_quality_sum: NDArray[np.floating], cart_count: NDArray[np.integer], config: FunnelConfig
) -> NDArray[np.floating]:
    """``P(buy the cart now) = sigmoid(checkout_bias + w_q * mean cart quality)``; 0 if empty."""
    mean_quality = cart_quality_sum / np.maximum(cart_count, 1)
    probability = sigmoid(config.checkout_bias + config.checkout_quality_weight * mean_quality)
    return probability * (cart_count > 0)


def purchase_value(
    revenue: NDArray[np.floating], items_bought: NDArray[np.integer], config: FunnelConfig
) -> NDArray[np.floating]:
    """What a purchase is worth in reward units before ``reward_purchase`` weighting."""
    return revenue if config.purchase_reward == "revenue" else items_bought


def step_reward(
    clicked: NDArray[np.bool_],
    carted: NDArray[np.bool_],
    revenue: NDArray[np.floating],
    items_bought: NDArray[np.integer],
    config: FunnelConfig,
) -> NDArray[np.float64]:
    """``reward = w_click * click + w_cart * cart + w_purchase * (revenue | items bought)``."""
    reward = config.reward_purchase * purchase_value(revenue, items_bought, config).astype(
        np.float64
    )
    reward += config.reward_click * clicked
    reward += config.reward_cart * carted
    return reward
