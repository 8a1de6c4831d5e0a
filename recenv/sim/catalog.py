"""The item model: categories, prices, latent embeddings, quality, popularity and arrivals."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recenv.sim.config import LOG_FLOAT32_MAX, CatalogConfig

# float32 prices must stay finite and non-zero (the utility takes their log)
_LOG_PRICE_RANGE = (math.log(float(np.finfo(np.float32).tiny)), LOG_FLOAT32_MAX)


@dataclass(frozen=True)
class Catalog:
    """Immutable arrays describing the M items of one world (indexed by item id), with
    the category complements and shops of the world."""

    category: NDArray[np.int64]  # (n_items,)
    embedding: NDArray[np.float32]  # (n_items, embedding_dim), unit rows
    price: NDArray[np.float32]  # (n_items,)
    quality: NDArray[np.float32]  # (n_items,)
    popularity: NDArray[np.float64]  # (n_items,), Zipf prior, sums to 1
    popularity_rank: NDArray[np.int64]  # (n_items,), 0 = most popular
    is_clickbait: NDArray[np.bool_]  # (n_items,)
    appeal: NDArray[np.float32]  # (n_items,), click utility from popularity and clickbait
    release_session: NDArray[np.int64]  # (n_items,), session from which the item is on sale
    n_categories: int
    median_price: float
    # calibrated worlds: utility of each slate position (overrides choice.position_bias)
    position_utility: NDArray[np.float32] | None = None
    # attached by core.build_world from their own streams (recenv.sim.complements, .shops)
    complements: NDArray[np.int32] | None = None  # (n_categories, width), -1 padded
    shop: NDArray[np.int64] | None = None  # (n_items,) shop of each item; None: no shops
    shop_reputation: NDArray[np.float32] | None = None  # (n_shops,)

    @property
    def n_shops(self) -> int:
        return 0 if self.shop_reputation is None else len(self.shop_reputation)

    def item_reputation(self) -> NDArray[np.float32]:
        """``(n_items,)`` reputation of each item's shop (0 without shops)."""
        if self.shop is None or self.shop_reputation is None:
            return np.zeros(self.n_items, dtype=np.float32)
        return self.shop_reputation[self.shop]

    @property
    def n_items(self) -> int:
        return len(self.category)

    @property
    def has_arrivals(self) -> bool:
        return bool(self.release_session[-1] > 0)

    def item_features(self, include_embeddings: bool = False) -> dict[str, NDArray]:
        """Observable item features for agents (copies; the latent model stays hidden)."""
        features: dict[str, NDArray] = {
            "category": self.category.copy(),
            "price": self.price.copy(),
            "popularity_rank": self.popularity_rank.copy(),
            "release_session": self.release_session.copy(),
        }
        if self.shop is not None:
            features["shop"] = self.shop.copy()
            features["shop_reputation"] = self.item_reputation().copy()
        if include_embeddings:
            features["embedding"] = self.embedding.copy()
        return features


def build_catalog(config: CatalogConfig, rng: np.random.Generator) -> Catalog:
    """Draw a catalog.

    Embedding: ``normalise(centroid[category] + category_spread * z)``; price:
    ``exp(price_log_mean + category_level + price_log_std * z)``; popularity:
    ``p_j ~ 1 / (rank_j + 1) ** popularity_exponent``; appeal:
    ``popularity_weight * log(n_items * p_j) + clickbait_appeal * is_clickbait``.
    """
    n_items, n_categories, dim = config.n_items, config.n_categories, config.embedding_dim
    # Every category gets at least one item; the rest are spread uniformly.
    category = np.concatenate(
        [np.arange(n_categories), rng.integers(0, n_categories, n_items - n_categories)]
    )
    rng.shuffle(category)

    centroids = _unit_rows(rng.standard_normal((n_categories, dim)))
    embedding = centroids[category] + config.category_spread * rng.standard_normal(
        (n_items, dim)
    ) / np.sqrt(dim)
    embedding = _unit_rows(embedding)

    category_level = config.category_price_std * rng.standard_normal(n_categories)
    log_price = (
        config.price_log_mean
        + category_level[category]
        + config.price_log_std * rng.standard_normal(n_items)
    )

    _check_log_prices(config, log_price, category_level)

    quality = config.quality_std * rng.standard_normal(n_items)
    is_clickbait = rng.random(n_items) < config.clickbait_fraction
    quality[is_clickbait] = config.clickbait_quality

    popularity_rank = rng.permutation(n_items)
    popularity = (popularity_rank + 1.0) ** -config.popularity_exponent
    popularity /= popularity.sum()
    appeal = config.popularity_weight * np.log(n_items * popularity)
    appeal += config.clickbait_appeal * is_clickbait

    release_session = np.zeros(n_items, dtype=np.int64)
    first_new = n_items - config.n_new_items
    release_session[first_new:] = (
        np.arange(1, config.n_new_items + 1, dtype=np.int64) * config.new_item_interval
    )

    return Catalog(
        category=category.astype(np.int64),
        embedding=embedding.astype(np.float32),
        price=np.exp(log_price).astype(np.float32),
        quality=quality.astype(np.float32),
        popularity=popularity,
        popularity_rank=popularity_rank.astype(np.int64),
        is_clickbait=is_clickbait,
        appeal=appeal.astype(np.float32),
        release_session=release_session,
        n_categories=n_categories,
        median_price=float(np.exp(config.price_log_mean)),
    )


def _check_log_prices(
    config: CatalogConfig, log_price: NDArray[np.float64], category_level: NDArray[np.float64]
) -> None:
    """Reject price settings whose drawn prices overflow (or vanish in) float32, naming the
    field that contributes most to the extreme log price."""
    low, high = _LOG_PRICE_RANGE
    if log_price.min() >= low and log_price.max() <= high:
        return
    level = float(np.abs(category_level).max())
    contributions = {
        "price_log_mean": abs(config.price_log_mean),
        "category_price_std": level,
        "price_log_std": float(np.abs(log_price - config.price_log_mean).max()) - level,
    }
    name = max(contributions, key=contributions.__getitem__)
    raise ValueError(
        f"CatalogConfig.{name} = {getattr(config, name)!r} gives non-finite prices: log prices "
        f"span [{log_price.min():.4g}, {log_price.max():.4g}]; allowed: within "
        f"[{low:.4g}, {high:.4g}] (float32 prices)"
    )


def _unit_rows(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)
