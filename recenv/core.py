"""The one batched simulation core: a step over N shoppers, composed from the model modules.

``env.ShoppingEnv`` runs it with N = 1 and ``vector.ShoppingVectorEnv`` with N shoppers;
neither holds a line of dynamics. One step for every shopper n:

1. utilities of the slate (``choice``), then one multinomial-logit choice or no click;
2. a click may add the item to the cart if it fits the remaining budget (``funnel``);
3. a non-empty cart may be bought: revenue is earned and the budget spent (``funnel``);
4. the history records the slate, tastes drift, fatigue and patience move (``dynamics``);
5. the session terminates when patience or budget runs out, or truncates at ``max_steps``.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

from recenv import choice, dynamics, funnel, streams
from recenv.catalog import Catalog, build_catalog
from recenv.config import EnvConfig
from recenv.shoppers import Population, build_population, draw_shoppers
from recenv.state import (
    CART_ITEMS,
    CART_VALUE,
    CARTS,
    CLICKS,
    EVENT_BOUGHT,
    EVENT_CLICKED,
    EVENT_VIEWED,
    ITEMS_BOUGHT,
    SPENT,
    STEP,
    ShopperState,
)


class StepOutcome(NamedTuple):
    """Per-shopper results of one core step, each of shape ``(n_shoppers,)``."""

    reward: NDArray[np.float64]
    terminated: NDArray[np.bool_]
    truncated: NDArray[np.bool_]
    clicked: NDArray[np.bool_]
    clicked_item: NDArray[np.int64]  # -1 where nothing was clicked
    carted: NDArray[np.bool_]
    purchased: NDArray[np.bool_]
    revenue: NDArray[np.float32]
    items_bought: NDArray[np.int64]

    def blank(self, rows: NDArray[np.int64]) -> None:
        """Erase the outcome of ``rows`` in place (slots that restarted instead of stepping)."""
        for name, values in zip(self._fields, self, strict=True):
            values[rows] = -1 if name == "clicked_item" else 0


class ShopperView(Protocol):
    """The shopper arrays that click utilities depend on (a ``ShopperState`` qualifies)."""

    taste: NDArray[np.float32]  # (n, dim)
    price_sensitivity: NDArray[np.float32]  # (n,)
    fatigue: NDArray[np.float32]  # (n, n_categories)
    intent: NDArray[np.int64]  # (n,)
    session: NDArray[np.uint64]  # (n,)


class SlateScores(NamedTuple):
    """What the choice model computed about the shown items, each ``(n, K)``."""

    utility: NDArray[np.float32]
    affinity: NDArray[np.float32]  # taste . embedding
    fatigue: NDArray[np.float32]  # shopper's fatigue with each item's category
    category: NDArray[np.int64]


class World(NamedTuple):
    """The fixed part of a scenario: catalog and population, drawn from ``catalog_seed``."""

    catalog: Catalog
    population: Population


def build_world(config: EnvConfig) -> World:
    """Draw the catalog and the population from independent streams of ``catalog_seed``."""
    catalog_seq, population_seq = np.random.SeedSequence(config.catalog_seed).spawn(2)
    catalog = build_catalog(config.catalog, np.random.default_rng(catalog_seq))
    population = build_population(
        config.shoppers, config.catalog.embedding_dim, np.random.default_rng(population_seq)
    )
    return World(catalog, population)


class Simulator:
    """N shoppers of one scenario: the state arrays and the batched step over them."""

    def __init__(self, config: EnvConfig, n_shoppers: int, world: World | None = None) -> None:
        if n_shoppers < 1:
            raise ValueError(f"n_shoppers = {n_shoppers} is out of range; allowed: [1, inf]")
        self.config = config
        self.world = world if world is not None else build_world(config)
        self.catalog = self.world.catalog
        self.state = ShopperState.allocate(config, n_shoppers)
        self.n_shoppers = n_shoppers
        self.slate_size = config.slate_size
        catalog = self.catalog
        self._dim = catalog.embedding.shape[1]
        self._rows = np.arange(n_shoppers)
        # One gather per step fetches everything the step needs about the shown items:
        # [embedding (dim) | static utility | log relative price | quality | price]
        self.item_table = np.concatenate(
            [
                catalog.embedding,
                choice.static_item_utility(catalog, config.choice)[:, None],
                np.log(catalog.price / catalog.median_price)[:, None],
                catalog.quality[:, None],
                catalog.price[:, None],
            ],
            axis=1,
        ).astype(np.float32)
        self.position_utility = choice.position_utility(config.choice, config.slate_size)
        self.min_price = float(catalog.price.min())
        self._has_intents = config.shoppers.intent_probability > 0

    # -- sessions -------------------------------------------------------------------------
    def seed(self, seed: int) -> None:
        """Key slot i with the stream of a single simulator seeded ``seed + i``; session 0."""
        self.state.key[:] = streams.slot_keys(seed, self.n_shoppers)
        self.state.session[:] = 0

    def start_sessions(self, rows: NDArray[np.int64]) -> None:
        """Draw the shopper of each row's current session index into those rows."""
        draw_shoppers(self.config, self.catalog, self.world.population, self.state, rows)

    def next_sessions(self, rows: NDArray[np.int64]) -> None:
        """Advance ``rows`` to their next session and draw its shopper."""
        self.state.session[rows] += np.uint64(1)
        self.start_sessions(rows)

    # -- the step -------------------------------------------------------------------------
    def utilities(
        self,
        shoppers: ShopperView,
        items: NDArray[np.int64],
        item_rows: NDArray[np.float32],
        at_top: bool = False,
    ) -> SlateScores:
        """Click utilities ``(n, K)`` of ``items`` shown at positions ``0..K-1``, and parts.

        ``item_rows`` is ``item_table.take(items, axis=0)``; see ``recenv.choice`` for the
        formula. With ``at_top`` every item is scored as if shown alone at the top position
        (how the oracles rank candidates). Used by the step and the oracles alike.
        """
        dim = self._dim
        category = self.catalog.category.take(items)  # (n, K)
        affinity = np.matmul(item_rows[..., :dim], shoppers.taste[:, :, None])[..., 0]
        utilities = affinity + item_rows[..., dim]
        utilities -= shoppers.price_sensitivity[:, None] * item_rows[..., dim + 1]
        if not at_top:
            utilities += self.position_utility
        fatigue = np.take_along_axis(shoppers.fatigue, category, axis=1)
        utilities -= self.config.choice.fatigue_weight * fatigue
        if self._has_intents:
            utilities += choice.intent_utility(
                category, shoppers.intent, self.catalog.n_categories, self.config.shoppers
            )
        if self.catalog.has_arrivals:
            not_on_sale = self.catalog.release_session.take(items) > shoppers.session[:, None]
            utilities[not_on_sale] = -np.inf
        return SlateScores(utilities, affinity, fatigue, category)

    def step(self, slates: NDArray[np.int64]) -> StepOutcome:
        """Advance every shopper by one recommendation; ``slates`` is ``(n, slate_size)``."""
        config, state, rows, dim = self.config, self.state, self._rows, self._dim
        slate_size = self.slate_size
        slate_items = self.item_table.take(slates, axis=0)  # (n, K, dim + 4)
        scores = self.utilities(state, slates, slate_items)

        step_index = state.features[:, STEP].astype(np.uint64)
        unit = streams.uniforms(state.key, state.session, step_index, streams.RESPONSE_DRAW, 3)
        position = choice.sample_choice(scores.utility, config.choice.no_click_utility, unit[:, 0])
        clicked = position < slate_size
        shown_at = np.minimum(position, slate_size - 1)
        chosen = slate_items[rows, shown_at]  # (n, dim + 4)
        chosen_item = slates[rows, shown_at]
        quality, price = chosen[:, dim + 2], chosen[:, dim + 3]

        # click -> cart, if the item fits the budget left after the cart and the cart has room
        carted = unit[:, 1] < funnel.cart_probability(
            quality, scores.affinity[rows, shown_at], config.funnel
        )
        carted &= clicked
        carted &= price <= state.budget - state.features[:, CART_VALUE]
        carted &= state.cart_count < config.cart_capacity
        self._push_history(slates, shown_at, clicked, carted)
        if carted.any():
            self._add_to_carts(np.flatnonzero(carted), chosen_item, chosen)

        # cart -> purchase
        bought = unit[:, 2] < funnel.checkout_probability(
            state.cart_quality_sum, state.cart_count, config.funnel
        )
        revenue = np.zeros(self.n_shoppers, dtype=np.float32)
        items_bought = np.zeros(self.n_shoppers, dtype=np.int64)
        if bought.any():
            self._checkout(np.flatnonzero(bought), revenue, items_bought)

        # long-term dynamics
        dynamics.drift_taste(
            state.taste,
            chosen[:, :dim],
            clicked * config.dynamics.taste_drift_click,
            config.shoppers.taste_scale,
        )
        dynamics.update_fatigue(state.fatigue, rows, scores.category, config.dynamics)
        state.patience += dynamics.patience_change(
            clicked, quality, bought, scores.fatigue.mean(axis=1), config.dynamics
        )
        np.minimum(state.patience, config.dynamics.max_patience, out=state.patience)
        state.features[:, STEP] += 1.0
        state.features[:, CLICKS] += clicked

        terminated = state.patience <= 0.0
        terminated |= (state.budget < self.min_price) & (state.cart_count == 0)
        truncated = state.features[:, STEP] >= config.max_steps
        truncated &= ~terminated
        reward = funnel.step_reward(clicked, carted, revenue, items_bought, config.funnel)
        clicked_item = np.where(clicked, chosen_item, -1)
        return StepOutcome(
            reward,
            terminated,
            truncated,
            clicked,
            clicked_item,
            carted,
            bought,
            revenue,
            items_bought,
        )

    def _push_history(
        self,
        slates: NDArray[np.int64],
        shown_at: NDArray[np.int64],
        clicked: NDArray[np.bool_],
        carted: NDArray[np.bool_],
    ) -> None:
        """Shift the history right by the slate and record the slate with its events."""
        items, events = self.state.history_items, self.state.history_events
        width = min(self.slate_size, items.shape[1])
        if width < items.shape[1]:
            items[:, width:] = items[:, :-width]
            events[:, width:] = events[:, :-width]
        items[:, :width] = slates[:, :width]
        events[:, :width] = EVENT_VIEWED
        recorded = shown_at < width
        outcome = EVENT_VIEWED + clicked * (EVENT_CLICKED - EVENT_VIEWED + carted)
        events[self._rows[recorded], shown_at[recorded]] = outcome[recorded]

    def _add_to_carts(
        self, rows: NDArray[np.int64], chosen_item: NDArray[np.int64], chosen: NDArray[np.float32]
    ) -> None:
        state, dim = self.state, self._dim
        state.cart_items[rows, state.cart_count[rows]] = chosen_item[rows]
        state.cart_count[rows] += 1
        state.cart_quality_sum[rows] += chosen[rows, dim + 2]
        state.cart_embedding_sum[rows] += chosen[rows, :dim]
        state.features[rows, CART_ITEMS] += 1.0
        state.features[rows, CART_VALUE] += chosen[rows, dim + 3]
        state.features[rows, CARTS] += 1.0

    def _checkout(
        self,
        rows: NDArray[np.int64],
        revenue: NDArray[np.float32],
        items_bought: NDArray[np.int64],
    ) -> None:
        """Buy the carts of ``rows``: spend budget, mark history, drift taste, empty carts."""
        state, config = self.state, self.config
        revenue[rows] = state.features[rows, CART_VALUE]
        items_bought[rows] = state.cart_count[rows]
        state.budget[rows] = np.maximum(state.budget[rows] - revenue[rows], 0.0)
        history, events = state.history_items[rows], state.history_events[rows]
        in_cart = (history[:, :, None] == state.cart_items[rows][:, None, :]).any(axis=2)
        events[in_cart & (events >= EVENT_CLICKED)] = EVENT_BOUGHT
        state.history_events[rows] = events
        mean_embedding = state.cart_embedding_sum[rows] / state.cart_count[rows, None]
        taste = state.taste[rows]
        dynamics.drift_taste(
            taste,
            mean_embedding,
            np.full(len(rows), config.dynamics.taste_drift_purchase, dtype=np.float32),
            config.shoppers.taste_scale,
        )
        state.taste[rows] = taste
        state.features[rows, ITEMS_BOUGHT] += state.cart_count[rows]
        state.features[rows, SPENT] += revenue[rows]
        state.clear_cart(rows, self.catalog.n_items)

    # -- views ----------------------------------------------------------------------------
    def observe(self) -> dict[str, NDArray]:
        """Batched observation (fresh copies): what an agent may see, never hidden traits."""
        state = self.state
        return {
            "history": state.history_items.copy(),
            "history_events": state.history_events.copy(),
            "cart": state.cart_items.copy(),
            "session": state.features.copy(),
            "query": state.intent.copy(),
        }

    def hidden(self) -> dict[str, NDArray]:
        """The hidden state (copies), for analysis and oracle baselines only."""
        state = self.state
        return {
            "taste": state.taste.copy(),
            "patience": state.patience.copy(),
            "budget": state.budget.copy(),
            "price_sensitivity": state.price_sensitivity.copy(),
            "fatigue": state.fatigue.copy(),
            "segment": state.segment.copy(),
            "cart_quality_sum": state.cart_quality_sum.copy(),
            "session_index": state.session.astype(np.int64),
        }
