"""Flat, compiled-kernel-friendly views of the config and the catalog.

The kernels in ``core``, ``shoppers`` and ``expectations`` take these named tuples: one
of scalars (``ModelParams``) and one of item arrays (``ItemTable``), built once per env.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from recenv.sim.catalog import Catalog
from recenv.sim.config import EnvConfig


class ModelParams(NamedTuple):
    """Every scalar the dynamics use, flattened from ``EnvConfig`` (see there for meaning)."""

    n_items: int
    n_categories: int
    slate_size: int
    cart_capacity: int
    max_steps: int
    min_price: float
    # shoppers
    n_segments: int
    taste_noise: float
    taste_scale: float
    price_sensitivity_mean: float
    price_sensitivity_std: float
    budget_log_mean: float
    budget_log_std: float
    patience_mean: float
    patience_std: float
    returning_fraction: float
    initial_history: int
    history_candidates: int
    intent_probability: float
    intent_bonus: float
    off_intent_penalty: float
    return_bias: float
    return_satisfaction: float
    return_purchase: float
    budget_refill: float
    episode_is_shopper: bool
    max_visits: int
    # choice
    no_click_utility: float
    fatigue_weight: float
    # funnel
    cart_bias: float
    cart_quality_weight: float
    cart_taste_weight: float
    checkout_bias: float
    checkout_quality_weight: float
    reward_click: float
    reward_cart: float
    reward_purchase: float
    purchase_is_revenue: bool
    checkout_ends_session: bool
    # dynamics
    taste_drift_click: float
    taste_drift_purchase: float
    fatigue_per_exposure: float
    fatigue_decay: float
    patience_decay: float
    patience_per_quality: float
    purchase_patience: float
    boredom: float
    max_patience: float
    fatigue_per_category: bool  # a slate adds fatigue once per category, not per item
    query_fatigue: float
    needs_active: bool  # satiation or complements: needs move (else they stay 1)
    satiation: float
    complement_boost: float
    need_weight: float
    need_recovery: float
    need_recovery_per_visit: float
    max_need: float


class ItemTable(NamedTuple):
    """Per-item arrays the kernels read, indexed by item id."""

    embedding: NDArray[np.float32]  # (n_items, dim)
    static_utility: NDArray[np.float32]  # appeal + quality_weight * quality
    log_price: NDArray[np.float32]  # log(price / median price)
    price: NDArray[np.float32]
    quality: NDArray[np.float32]
    appeal: NDArray[np.float32]
    category: NDArray[np.int64]
    release_session: NDArray[np.int64]
    position_utility: NDArray[np.float32]  # (slate_size,), -position_bias * log(1 + k)


def model_params(config: EnvConfig, catalog: Catalog) -> ModelParams:
    """Flatten a validated config into the kernels' scalar tuple."""
    shoppers, choice, funnel, dynamics = (
        config.shoppers,
        config.choice,
        config.funnel,
        config.dynamics,
    )
    return ModelParams(
        n_items=catalog.n_items,
        n_categories=catalog.n_categories,
        slate_size=config.slate_size,
        cart_capacity=config.cart_capacity,
        max_steps=config.max_steps,
        min_price=float(catalog.price.min()),
        n_segments=shoppers.n_segments,
        taste_noise=shoppers.taste_noise,
        taste_scale=shoppers.taste_scale,
        price_sensitivity_mean=shoppers.price_sensitivity_mean,
        price_sensitivity_std=shoppers.price_sensitivity_std,
        budget_log_mean=shoppers.budget_log_mean,
        budget_log_std=shoppers.budget_log_std,
        patience_mean=shoppers.patience_mean,
        patience_std=shoppers.patience_std,
        returning_fraction=shoppers.returning_fraction,
        initial_history=shoppers.initial_history,
        history_candidates=shoppers.history_candidates,
        intent_probability=shoppers.intent_probability,
        intent_bonus=shoppers.intent_bonus,
        off_intent_penalty=shoppers.off_intent_penalty,
        return_bias=shoppers.return_bias,
        return_satisfaction=shoppers.return_satisfaction,
        return_purchase=shoppers.return_purchase,
        budget_refill=shoppers.budget_refill,
        episode_is_shopper=config.episode == "shopper",
        max_visits=config.max_visits,
        no_click_utility=choice.no_click_utility,
        fatigue_weight=choice.fatigue_weight,
        cart_bias=funnel.cart_bias,
        cart_quality_weight=funnel.cart_quality_weight,
        cart_taste_weight=funnel.cart_taste_weight,
        checkout_bias=funnel.checkout_bias,
        checkout_quality_weight=funnel.checkout_quality_weight,
        reward_click=funnel.reward_click,
        reward_cart=funnel.reward_cart,
        reward_purchase=funnel.reward_purchase,
        purchase_is_revenue=funnel.purchase_reward == "revenue",
        checkout_ends_session=funnel.checkout_ends_session,
        taste_drift_click=dynamics.taste_drift_click,
        taste_drift_purchase=dynamics.taste_drift_purchase,
        fatigue_per_exposure=dynamics.fatigue_per_exposure,
        fatigue_decay=dynamics.fatigue_decay,
        patience_decay=dynamics.patience_decay,
        patience_per_quality=dynamics.patience_per_quality,
        purchase_patience=dynamics.purchase_patience,
        boredom=dynamics.boredom,
        max_patience=dynamics.max_patience,
        fatigue_per_category=dynamics.fatigue_unit == "category",
        query_fatigue=dynamics.query_fatigue,
        needs_active=dynamics.satiation > 0 or dynamics.complement_boost > 0,
        satiation=dynamics.satiation,
        complement_boost=dynamics.complement_boost,
        need_weight=dynamics.need_weight,
        need_recovery=dynamics.need_recovery,
        need_recovery_per_visit=dynamics.need_recovery_per_visit,
        max_need=dynamics.max_need,
    )


def item_table(config: EnvConfig, catalog: Catalog) -> ItemTable:
    """Precompute the per-item terms of the click utility once per env."""
    choice = config.choice
    return ItemTable(
        embedding=catalog.embedding,
        static_utility=(catalog.appeal + choice.quality_weight * catalog.quality).astype(
            np.float32
        ),
        log_price=np.log(catalog.price / catalog.median_price).astype(np.float32),
        price=catalog.price,
        quality=catalog.quality,
        appeal=catalog.appeal,
        category=catalog.category,
        release_session=catalog.release_session,
        position_utility=_position_utility(config, catalog),
    )


def _position_utility(config: EnvConfig, catalog: Catalog) -> NDArray[np.float32]:
    """``-position_bias * log(1 + k)``, or the calibrated per-position utilities."""
    if catalog.position_utility is not None:
        if len(catalog.position_utility) != config.slate_size:
            raise ValueError(
                f"slate_size = {config.slate_size} does not match the calibrated world's "
                f"{len(catalog.position_utility)} positions"
            )
        return np.asarray(catalog.position_utility, dtype=np.float32)
    bias = config.choice.position_bias
    return (-bias * np.log1p(np.arange(config.slate_size))).astype(np.float32)
