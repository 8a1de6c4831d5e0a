"""The user model: taste segments, traits, returning shoppers' histories and search intents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recenv import streams
from recenv.catalog import Catalog
from recenv.config import EnvConfig, ShopperConfig
from recenv.state import EVENT_BOUGHT, EVENT_CLICKED, RETURNING, ShopperState

_BOUGHT_SHARE_OF_HISTORY = 0.25


@dataclass(frozen=True)
class Population:
    """The fixed part of the user model: taste-segment centres (unit vectors)."""

    segment_centres: NDArray[np.float32]  # (n_segments, embedding_dim)


def build_population(config: ShopperConfig, dim: int, rng: np.random.Generator) -> Population:
    """Draw segment centres as random unit vectors: each segment prefers nearby categories."""
    centres = rng.standard_normal((config.n_segments, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return Population(segment_centres=centres.astype(np.float32))


def available_items(catalog: Catalog, sessions: NDArray[np.uint64]) -> NDArray[np.int64]:
    """Number of item ids on sale at each session index (new items come last in id order)."""
    released = np.searchsorted(catalog.release_session, sessions.astype(np.int64), side="right")
    return released.astype(np.int64)


def draw_shoppers(
    config: EnvConfig,
    catalog: Catalog,
    population: Population,
    state: ShopperState,
    rows: NDArray[np.int64],
) -> None:
    """Write fresh shoppers into ``rows`` of the state, drawn from their slot streams.

    The shopper of (slot key, session) is a pure function of those two numbers.
    """
    shopper_config = config.shoppers
    dim = catalog.embedding.shape[1]
    n_categories = catalog.n_categories
    keys, sessions = state.key[rows], state.session[rows]
    n_normals = dim + 3  # taste noise, price sensitivity, budget, patience
    n_normals += n_normals % 2
    unit = streams.uniforms(keys, sessions, np.uint64(0), streams.SHOPPER_DRAW, 4 + n_normals)
    normals = streams.standard_normals(unit[:, 4:])

    state.clear_session(rows, catalog.n_items)
    segment = np.minimum(
        (unit[:, 0] * shopper_config.n_segments).astype(np.int64), shopper_config.n_segments - 1
    )
    direction = (
        population.segment_centres[segment]
        + (shopper_config.taste_noise / np.sqrt(dim)) * normals[:, :dim]
    )
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    state.segment[rows] = segment
    state.taste[rows] = shopper_config.taste_scale * direction
    state.price_sensitivity[rows] = shopper_config.price_sensitivity_mean * np.exp(
        shopper_config.price_sensitivity_std * normals[:, dim]
    )
    state.budget[rows] = np.exp(
        shopper_config.budget_log_mean + shopper_config.budget_log_std * normals[:, dim + 1]
    )
    state.patience[rows] = np.clip(
        shopper_config.patience_mean + shopper_config.patience_std * normals[:, dim + 2],
        0.05,
        config.dynamics.max_patience,
    )
    searching = unit[:, 2] < shopper_config.intent_probability
    searched = np.minimum((unit[:, 3] * n_categories).astype(np.int64), n_categories - 1)
    state.intent[rows] = np.where(searching, searched, n_categories)

    returning = unit[:, 1] < shopper_config.returning_fraction
    state.features[rows, RETURNING] = returning
    if shopper_config.initial_history > 0 and returning.any():
        _draw_past_history(config, catalog, state, rows[returning])


def _draw_past_history(
    config: EnvConfig, catalog: Catalog, state: ShopperState, rows: NDArray[np.int64]
) -> None:
    """Fill a returning shopper's history with past picks.

    Each past pick is the best of ``history_candidates`` random on-sale items under the
    shopper's taste plus Gumbel noise (a sampled multinomial-logit choice); a quarter of
    them were bought.
    """
    n_past, n_candidates = config.shoppers.initial_history, config.shoppers.history_candidates
    n_draws = n_past * (2 * n_candidates + 1)
    unit = streams.uniforms(
        state.key[rows], state.session[rows], np.uint64(0), streams.HISTORY_DRAW, n_draws
    )
    on_sale = available_items(catalog, state.session[rows])  # (n,)
    split = n_past * n_candidates
    candidates = (unit[:, :split] * on_sale[:, None]).astype(np.int64)
    candidates = np.minimum(candidates, on_sale[:, None] - 1).reshape(-1, n_past, n_candidates)
    gumbel = -np.log(-np.log(unit[:, split : 2 * split])).reshape(-1, n_past, n_candidates)
    affinity = np.einsum("npcd,nd->npc", catalog.embedding[candidates], state.taste[rows])
    score = affinity + catalog.appeal[candidates] + gumbel
    best = np.take_along_axis(candidates, score.argmax(axis=2)[..., None], axis=2)[..., 0]
    bought = unit[:, 2 * split :] < _BOUGHT_SHARE_OF_HISTORY
    state.history_items[rows, :n_past] = best
    state.history_events[rows, :n_past] = np.where(bought, EVENT_BOUGHT, EVENT_CLICKED)
