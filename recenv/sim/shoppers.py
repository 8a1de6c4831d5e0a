"""The user model: taste segments, traits, returning shoppers' histories and search intents.

A shopper of segment s has taste ``taste_scale * normalise(centre[s] + taste_noise * z /
sqrt(dim))``, price sensitivity ``mean * exp(std * z)``, budget ``exp(log_mean + log_std
* z)`` and patience ``clip(mean + std * z, 0.05, max_patience)``. A returning shopper
arrives with ``initial_history`` past picks: each the best of ``history_candidates``
random items from its segment's favourites under taste + appeal + Gumbel noise (a
sampled multinomial-logit choice), a quarter of them bought. Items released during the
run are never in a past history.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import NDArray

from recenv.sim.borrow import borrowed
from recenv.sim.catalog import Catalog
from recenv.sim.config import ShopperConfig
from recenv.sim.dynamics import return_probability
from recenv.sim.params import ItemTable, ModelParams
from recenv.sim.state import (
    EVENT_BOUGHT,
    EVENT_CLICKED,
    EVENT_PAD,
    ITEMS_BOUGHT,
    RETURNING,
    VISIT,
    ShopperState,
    history_slot,
)
from recenv.sim.streams import (
    HISTORY_DRAW,
    RETURN_DRAW,
    SHOPPER_DRAW,
    gumbel,
    normal,
    stream_base,
    uniform,
)

_BOUGHT_SHARE_OF_HISTORY = 0.25
FAVOURITES = 64
PARALLEL_FROM = 64  # resets per call from which parallel threads pay off
# Indices of the draws in a shopper's SHOPPER_DRAW stream.
_SEGMENT, _RETURNING, _SEARCHING, _QUERY = 0, 1, 2, 3
_PRICE_SENSITIVITY, _BUDGET, _PATIENCE, _TASTE = 4, 6, 8, 10


class Population(NamedTuple):
    """The fixed part of the user model: taste segments and their favourite items."""

    segment_centres: NDArray[np.float32]  # (n_segments, embedding_dim), unit rows
    favourites: NDArray[np.int64]  # (n_segments, n_favourites): best initial items per segment
    segment_cumulative: NDArray[np.float64]  # (n_segments,) cumulative segment shares, last 1
    raw_tastes: bool  # True: a taste is its segment centre as is (calibrated worlds)


def build_population(
    config: ShopperConfig, catalog: Catalog, rng: np.random.Generator
) -> Population:
    """Draw segment centres as random unit vectors: each segment prefers nearby categories.

    A segment's favourites are the initial items with the highest ``centre . embedding +
    appeal``: the pool its returning shoppers' past picks come from.
    """
    centres = rng.standard_normal((config.n_segments, catalog.embedding.shape[1]))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    initial = np.flatnonzero(catalog.release_session == 0)
    scores = centres @ catalog.embedding[initial].T * config.taste_scale + catalog.appeal[initial]
    n_favourites = min(FAVOURITES, len(initial))
    favourites = initial[np.argsort(-scores, axis=1)[:, :n_favourites]]
    return Population(
        segment_centres=centres.astype(np.float32),
        favourites=favourites,
        segment_cumulative=np.arange(1, config.n_segments + 1) / config.n_segments,
        raw_tastes=False,
    )


def draw_shoppers(rows, state, items, population, params, threads=None) -> None:
    """Write fresh shoppers into ``rows``, split across ``threads`` when there are many.

    The model arrives as plain tuples (``core.Simulator``: numba types those fast)."""
    if threads is None or len(rows) < PARALLEL_FROM:
        _draw_rows(0, len(rows), rows, state, items, population, params)
    else:
        threads.run(_draw_rows, len(rows), (rows, state, items, population, params))


@njit(cache=True, nogil=True)
def _draw_rows(start, stop, rows, state, items, population, params):
    """Draw the shoppers of ``rows[start:stop]``; releases the GIL so threads can split."""
    state, items = borrowed(ShopperState(*state)), borrowed(ItemTable(*items))
    population, params = borrowed(Population(*population)), ModelParams(*params)
    for index in range(start, stop):
        draw_shopper(rows[index], state, items, population, params)


@njit(cache=True, inline="always")
def draw_shopper(row, state, items, population, params):
    """Write a fresh shopper into ``row``: the shopper of (slot key, session) is fixed by them."""
    dim = state.taste.shape[1]
    segment_centres = population.segment_centres
    _clear_session(row, state, params)
    base = stream_base(state.key[row], state.session[row], 0, SHOPPER_DRAW)
    cumulative = population.segment_cumulative
    segment = min(
        int(np.searchsorted(cumulative, uniform(base, _SEGMENT), side="right")),
        len(cumulative) - 1,
    )
    state.segment[row] = segment
    norm = 0.0
    for d in range(dim):
        value = segment_centres[segment, d] + params.taste_noise / math.sqrt(dim) * normal(
            base, _TASTE + 2 * d
        )
        state.taste[row, d] = value
        norm += value * value
    scale = 1.0 if population.raw_tastes else params.taste_scale / max(math.sqrt(norm), 1e-12)
    for d in range(dim):
        state.taste[row, d] *= scale
    state.price_sensitivity[row] = params.price_sensitivity_mean * math.exp(
        params.price_sensitivity_std * normal(base, _PRICE_SENSITIVITY)
    )
    state.budget[row] = math.exp(
        params.budget_log_mean + params.budget_log_std * normal(base, _BUDGET)
    )
    state.base_budget[row] = state.budget[row]
    state.visit[row] = 0
    for category in range(state.need.shape[1]):
        state.need[row, category] = 1.0
    patience = params.patience_mean + params.patience_std * normal(base, _PATIENCE)
    state.patience[row] = min(max(patience, 0.05), params.max_patience)
    state.intent[row] = params.n_categories
    if uniform(base, _SEARCHING) < params.intent_probability:
        query = int(uniform(base, _QUERY) * params.n_categories)
        state.intent[row] = min(query, params.n_categories - 1)
    if uniform(base, _RETURNING) < params.returning_fraction:
        state.features[row, RETURNING] = 1.0
        _draw_past_history(row, state, items, population.favourites, segment, params)


@njit(cache=True, inline="always")
def return_or_leave(row, state, items, params):
    """Episode ``shopper``: after a visit the shopper returns with ``return_probability``
    (satisfaction: patience left, a purchase) unless ``max_visits`` are used up. A return
    starts the next visit in place; returns the episode's (terminated, truncated)."""
    base = stream_base(state.key[row], state.session[row], state.visit[row] + 1, RETURN_DRAW)
    bought = 1.0 if state.features[row, ITEMS_BOUGHT] > 0 else 0.0
    if uniform(base, 0) >= return_probability(state.patience[row], bought, params):
        return True, False  # the shopper leaves for good
    if state.visit[row] + 1 >= params.max_visits:
        return False, True  # would come back, but the episode's visits are used up
    start_next_visit(row, state, items, params, base)
    return False, False


@njit(cache=True, inline="always")
def start_next_visit(row, state, items, params, base):
    """The same shopper's next visit (episode: shopper): taste, segment, price sensitivity and
    history stay; the cart, fatigue and session counters start afresh; patience is drawn
    anew from ``base`` (the return stream); unspent budget carries over plus
    ``budget_refill`` x the base budget (capped at it); needs recover part of the way."""
    _clear_visit(row, state, params)
    state.visit[row] += 1
    state.features[row, RETURNING] = 1.0
    state.features[row, VISIT] = float(state.visit[row])
    patience = params.patience_mean + params.patience_std * normal(base, 1)
    state.patience[row] = min(max(patience, 0.05), params.max_patience)
    state.budget[row] = min(
        state.budget[row] + params.budget_refill * state.base_budget[row], state.base_budget[row]
    )
    if params.needs_active:
        for category in range(state.need.shape[1]):
            state.need[row, category] += params.need_recovery_per_visit * (
                1.0 - state.need[row, category]
            )


@njit(cache=True, inline="always")
def _clear_session(row, state, params):
    for slot in range(state.history_items.shape[1]):
        state.history_items[row, slot] = params.n_items
        state.history_events[row, slot] = EVENT_PAD
    state.history_head[row] = 0
    _clear_visit(row, state, params)


@njit(cache=True, inline="always")
def _clear_visit(row, state, params):
    for category in range(state.fatigue.shape[1]):
        state.fatigue[row, category] = 0.0
    for slot in range(state.cart_items.shape[1]):
        state.cart_items[row, slot] = params.n_items
    for column in range(state.features.shape[1]):
        state.features[row, column] = 0.0
    state.cart_count[row] = 0
    state.cart_quality_sum[row] = 0.0
    for d in range(state.cart_embedding_sum.shape[1]):
        state.cart_embedding_sum[row, d] = 0.0


@njit(cache=True, inline="always")
def _draw_past_history(row, state, items, favourites, segment, params):
    base = stream_base(state.key[row], state.session[row], 0, HISTORY_DRAW)
    n_candidates, n_favourites = params.history_candidates, favourites.shape[1]
    length = state.history_items.shape[1]
    for past in range(params.initial_history):
        best_item, best_score = 0, -math.inf
        for candidate in range(n_candidates):
            draw = 2 * (past * n_candidates + candidate)
            pick = min(int(uniform(base, draw) * n_favourites), n_favourites - 1)
            item = favourites[segment, pick]
            score = items.appeal[item] + gumbel(base, draw + 1)
            for d in range(state.taste.shape[1]):
                score += items.embedding[item, d] * state.taste[row, d]
            if score > best_score:
                best_item, best_score = item, score
        slot = history_slot(state.history_head[row], past, length)  # past 0 = most recent
        state.history_items[row, slot] = best_item
        bought = uniform(base, 2 * params.initial_history * n_candidates + past)
        state.history_events[row, slot] = (
            EVENT_BOUGHT if bought < _BOUGHT_SHARE_OF_HISTORY else EVENT_CLICKED
        )
