"""The one simulation core: a compiled step over N shoppers, composed from the model modules.

``env.ShoppingEnv`` runs it with N = 1 and ``vector.ShoppingVectorEnv`` with N shoppers;
neither holds a line of dynamics. One step for every shopper:

1. click utilities of the slate (``choice``), then one multinomial-logit choice or none;
2. a click may add the item to the cart if it fits the remaining budget (``funnel``);
3. a non-empty cart may be bought: revenue is earned and the budget spent (``funnel``);
4. the history records the slate; taste drifts, fatigue and patience move (``dynamics``);
5. the session terminates when patience or budget runs out (or after a checkout, with
   ``checkout_ends_session``), or truncates at ``max_steps``;
6. with ``episode: shopper`` an ended visit is followed by the next one if the shopper
   returns (``dynamics.return_probability``); the episode ends when they do not.

The step is one numba-compiled loop over shoppers (split across threads for large N), so
one shopper costs about as little as a thousand; shoppers never share random numbers
(``streams``), so any split gives the same result.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import NDArray

from recenv.sim import streams
from recenv.sim.catalog import Catalog, build_catalog
from recenv.sim.choice import item_utility, sample_position
from recenv.sim.config import EnvConfig
from recenv.sim.dynamics import (
    add_fatigue,
    decay_fatigue,
    drift_taste,
    patience_change,
    recover_needs,
    return_probability,
    satiate,
)
from recenv.sim.funnel import cart_probability, checkout_probability, step_reward
from recenv.sim.params import ItemTable, ModelParams, item_table, model_params
from recenv.sim.shoppers import (
    Population,
    build_population,
    draw_shopper,
    draw_shoppers,
    start_next_visit,
)
from recenv.sim.state import (
    CART_ITEMS,
    CART_VALUE,
    CARTS,
    CLICKS,
    EVENT_BOUGHT,
    EVENT_CARTED,
    EVENT_CLICKED,
    EVENT_VIEWED,
    ITEMS_BOUGHT,
    SPENT,
    STEP,
    ShopperState,
)
from recenv.sim.threads import ThreadSplitter

PARALLEL_FROM = 2048  # shoppers per step from which the parallel kernel pays off
_ONE_BLOCK_FROM = 256  # shoppers from which observations are copied into one block


class StepOutcome(NamedTuple):
    """Per-shopper results of one core step, each of shape ``(n_shoppers,)``."""

    reward: NDArray[np.float64]
    terminated: NDArray[np.bool_]
    truncated: NDArray[np.bool_]
    clicked: NDArray[np.bool_]
    clicked_item: NDArray[np.int64]  # -1 where nothing was clicked
    carted: NDArray[np.bool_]
    purchased: NDArray[np.bool_]
    revenue: NDArray[np.float64]
    items_bought: NDArray[np.int64]

    def blank(self, rows: NDArray[np.int64]) -> None:
        """Erase the outcome of ``rows`` in place (slots that restarted instead of stepping)."""
        for name, values in zip(self._fields, self, strict=True):
            values[rows] = -1 if name == "clicked_item" else 0


class World(NamedTuple):
    """The fixed part of a scenario: catalog and population, drawn from ``catalog_seed``."""

    catalog: Catalog
    population: Population


def build_world(config: EnvConfig) -> World:
    """Draw the catalog and the population from independent streams of ``catalog_seed``."""
    if config.calibration:
        from recenv.sim.calibrated import calibrated_world  # only calibrated scenarios need it

        return World(*calibrated_world(config))
    catalog_seq, population_seq = np.random.SeedSequence(config.catalog_seed).spawn(2)
    catalog = build_catalog(config.catalog, np.random.default_rng(catalog_seq))
    population = build_population(config.shoppers, catalog, np.random.default_rng(population_seq))
    return World(catalog, population)


class Simulator:
    """N shoppers of one scenario: the state arrays and the compiled step over them."""

    def __init__(self, config: EnvConfig, n_shoppers: int, world: World | None = None) -> None:
        if n_shoppers < 1:
            raise ValueError(f"n_shoppers = {n_shoppers} is out of range; allowed: [1, inf]")
        self.config = config
        self.world = world if world is not None else build_world(config)
        self.catalog = self.world.catalog
        self.n_shoppers = n_shoppers
        self.state = ShopperState.allocate(config, n_shoppers)
        self.items: ItemTable = item_table(config, self.catalog)
        self.params: ModelParams = model_params(config, self.catalog)
        self._threads = ThreadSplitter(n_shoppers, PARALLEL_FROM)
        self._no_restart = np.zeros(n_shoppers, dtype=np.bool_)
        self.shopper_steps = 0  # shopper-steps simulated (restarting rows excluded): budgets

    def seed(self, seed: int, split: str = "train", first_slot: int = 0) -> None:
        """Key row r with slot ``first_slot + r`` of run (``seed``, ``split``); session 0."""
        key = streams.run_key(seed, split)
        self.state.key[:] = streams.slot_keys(key, first_slot, self.n_shoppers)
        self.state.session[:] = 0

    def start_sessions(self, rows: NDArray[np.int64]) -> None:
        """Draw the shopper of each row's current session index into those rows."""
        draw_shoppers(
            np.asarray(rows, dtype=np.int64),
            self.state,
            self.items,
            self.world.population,
            self.params,
            self._threads,
        )

    def next_sessions(self, rows: NDArray[np.int64]) -> None:
        """Advance ``rows`` to their next session and draw its shopper."""
        self.state.session[rows] += np.uint64(1)
        self.start_sessions(rows)

    def step(
        self, slates: NDArray[np.int64], restart: NDArray[np.bool_] | None = None
    ) -> StepOutcome:
        """Advance every shopper by one recommendation; ``slates`` is ``(n, slate_size)``.

        Rows in ``restart`` begin their next session instead (blank outcome): the same result
        as stepping them and then calling ``next_sessions``, in one (threaded) kernel pass.
        """
        if restart is None:
            restart = self._no_restart
            self.shopper_steps += self.n_shoppers
        else:
            self.shopper_steps += self.n_shoppers - int(np.count_nonzero(restart))
        args = (slates, restart, self.state, self.items, self.world.population, self.params)
        if not self._threads.enabled:
            return _step_all(*args)
        outcome = _new_outcome(self.n_shoppers)
        self._threads.run(_step_rows, self.n_shoppers, (*args, outcome))
        return outcome

    def observe(self) -> dict[str, NDArray]:
        """Batched observation (fresh copies): what an agent may see, never hidden traits."""
        state = self.state
        observed = {
            "history": state.history_items,
            "history_events": state.history_events,
            "cart": state.cart_items,
            "session": state.features,
            "query": state.intent,
        }
        if self.n_shoppers < _ONE_BLOCK_FROM:
            return {key: value.copy() for key, value in observed.items()}
        return _copy_into_one_block(observed)

    def hidden(self) -> dict[str, NDArray]:
        """The hidden state (copies), for analysis and oracle baselines only."""
        state = self.state
        return {
            "taste": state.taste.copy(),
            "patience": state.patience.copy(),
            "budget": state.budget.copy(),
            "price_sensitivity": state.price_sensitivity.copy(),
            "fatigue": state.fatigue.copy(),
            "need": state.need.copy(),
            "base_budget": state.base_budget.copy(),
            "visit": state.visit.copy(),
            "segment": state.segment.copy(),
            "cart_quality_sum": state.cart_quality_sum.copy(),
            "session_index": state.session.astype(np.int64),
        }


def _copy_into_one_block(arrays: dict[str, NDArray]) -> dict[str, NDArray]:
    """Copy arrays into views of one fresh allocation.

    Several large fresh arrays per step make glibc map and unmap pages every step (page
    faults cost 10x the copy); one block per step is recycled by the allocator instead.
    """
    block = np.empty(sum(value.nbytes for value in arrays.values()), dtype=np.uint8)
    copies, offset = {}, 0
    for key, value in arrays.items():  # every itemsize here is 4 or 8: offsets stay aligned
        view = block[offset : offset + value.nbytes].view(value.dtype).reshape(value.shape)
        np.copyto(view, value)
        copies[key], offset = view, offset + value.nbytes
    return copies


@njit(cache=True, inline="always")
def _new_outcome(n_shoppers):
    return StepOutcome(
        np.zeros(n_shoppers),
        np.zeros(n_shoppers, dtype=np.bool_),
        np.zeros(n_shoppers, dtype=np.bool_),
        np.zeros(n_shoppers, dtype=np.bool_),
        np.full(n_shoppers, -1, dtype=np.int64),
        np.zeros(n_shoppers, dtype=np.bool_),
        np.zeros(n_shoppers, dtype=np.bool_),
        np.zeros(n_shoppers),
        np.zeros(n_shoppers, dtype=np.int64),
    )


@njit(cache=True, nogil=True)
def _step_all(slates, restart, state, items, population, params):
    """One step of every shopper, allocating the outcome arrays."""
    outcome = _new_outcome(slates.shape[0])
    _step_rows(0, slates.shape[0], slates, restart, state, items, population, params, outcome)
    return outcome


@njit(cache=True, nogil=True)
def _step_rows(start, stop, slates, restart, state, items, population, params, outcome):
    """One step of shoppers ``start..stop-1`` (rows in ``restart`` start their next session
    instead); releases the GIL so threads split the batch."""
    reward, terminated, truncated, clicked, clicked_item = outcome[:5]
    carted, purchased, revenue, items_bought = outcome[5:]
    for n in range(start, stop):
        if restart[n]:
            state.session[n] = state.session[n] + np.uint64(1)
            draw_shopper(n, state, items, population, params)
            continue
        (
            reward[n],
            terminated[n],
            truncated[n],
            clicked[n],
            clicked_item[n],
            carted[n],
            purchased[n],
            revenue[n],
            items_bought[n],
        ) = _step_shopper(n, slates, state, items, params)


@njit(cache=True, inline="always")
def _step_shopper(n, slates, state, items, params):
    """Advance shopper ``n`` by one step (the five stages above); returns its outcome."""
    slate_size = slates.shape[1]
    step_index = state.visit[n] * streams.VISIT_STRIDE + int(state.features[n, STEP])
    base = streams.stream_base(state.key[n], state.session[n], step_index, streams.RESPONSE_DRAW)
    # 1. choice among the slate and 'no click'
    shown_fatigue = 0.0
    for k in range(slate_size):
        utility, affinity, fatigue = item_utility(
            state.taste,
            state.price_sensitivity,
            state.fatigue,
            state.need,
            state.intent,
            state.session,
            n,
            slates[n, k],
            items,
            params,
        )
        state.slate_utility[n, k] = utility + items.position_utility[k]
        state.slate_affinity[n, k] = affinity
        shown_fatigue += fatigue / slate_size
    position = sample_position(
        state.slate_utility, n, params.no_click_utility, streams.uniform(base, 0)
    )
    clicked, clicked_item, carted, quality = False, -1, False, 0.0
    if position < slate_size:
        clicked, clicked_item = True, slates[n, position]
        quality = items.quality[clicked_item]
        state.features[n, CLICKS] += 1.0
        drift_taste(
            state.taste,
            n,
            items.embedding,
            clicked_item,
            1.0,
            params.taste_drift_click,
            params.taste_scale,
        )
        # 2. click -> cart, if the price fits the budget left and the cart has room
        fits = items.price[clicked_item] <= state.budget[n] - state.features[n, CART_VALUE]
        room = state.cart_count[n] < params.cart_capacity
        wants = streams.uniform(base, 1) < cart_probability(
            quality, state.slate_affinity[n, position], params
        )
        if fits and room and wants:
            carted = True
            _add_to_cart(n, clicked_item, state, items)
    _push_history(n, slates, position, carted, state)
    # 3. cart -> purchase
    purchased, revenue, items_bought = False, 0.0, 0
    if streams.uniform(base, 2) < checkout_probability(
        state.cart_quality_sum[n], state.cart_count[n], params
    ):
        purchased, revenue, items_bought = True, state.features[n, CART_VALUE], state.cart_count[n]
        _checkout(n, state, items, params)
    # 4. long-term dynamics
    decay_fatigue(state.fatigue, n, params)
    add_fatigue(state.fatigue, state.intent, n, slates, items.category, params)
    if params.needs_active:
        recover_needs(state.need, n, params.need_recovery)
    patience = state.patience[n] + patience_change(
        clicked, quality, purchased, shown_fatigue, params
    )
    state.patience[n] = min(patience, params.max_patience)
    state.features[n, STEP] += 1.0
    # 5. end of session
    terminated = (
        state.patience[n] <= 0.0
        or (state.budget[n] < params.min_price and state.cart_count[n] == 0)
        or (purchased and params.checkout_ends_session)
    )
    truncated = state.features[n, STEP] >= params.max_steps and not terminated
    reward = step_reward(clicked, carted, revenue, items_bought, params)
    if params.episode_is_shopper and (terminated or truncated):
        # 6. the visit is over: the shopper comes back (the episode goes on) or leaves
        terminated, truncated = _end_visit(n, state, items, params)
    return (
        reward,
        terminated,
        truncated,
        clicked,
        clicked_item,
        carted,
        purchased,
        revenue,
        items_bought,
    )


@njit(cache=True, inline="always")
def _add_to_cart(n, item, state, items):
    state.cart_items[n, state.cart_count[n]] = item
    state.cart_count[n] += 1
    state.cart_quality_sum[n] += items.quality[item]
    for d in range(state.cart_embedding_sum.shape[1]):
        state.cart_embedding_sum[n, d] += items.embedding[item, d]
    state.features[n, CART_ITEMS] += 1.0
    state.features[n, CART_VALUE] += items.price[item]
    state.features[n, CARTS] += 1.0


@njit(cache=True, inline="always")
def _push_history(n, slates, position, carted, state):
    """Shift the history right by the slate and record it, most recent first, with events."""
    history, events = state.history_items, state.history_events
    length = history.shape[1]
    width = min(slates.shape[1], length)
    for h in range(length - 1, width - 1, -1):
        history[n, h] = history[n, h - width]
        events[n, h] = events[n, h - width]
    for k in range(width):
        history[n, k] = slates[n, k]
        events[n, k] = EVENT_VIEWED
    if position < width:
        events[n, position] = EVENT_CARTED if carted else EVENT_CLICKED


@njit(cache=True, inline="always")
def _checkout(n, state, items, params):
    """Buy shopper n's cart: spend budget, mark history, drift taste, satiate needs, empty
    the cart."""
    value, count = state.features[n, CART_VALUE], state.cart_count[n]
    if params.needs_active:
        for slot in range(count):
            satiate(state.need, n, items.category[state.cart_items[n, slot]], params)
    state.budget[n] = max(state.budget[n] - value, 0.0)
    history, events, cart = state.history_items, state.history_events, state.cart_items
    for h in range(history.shape[1]):
        if events[n, h] >= EVENT_CLICKED:
            for slot in range(count):
                if history[n, h] == cart[n, slot]:
                    events[n, h] = EVENT_BOUGHT
    drift_taste(  # toward the mean embedding of the cart
        state.taste,
        n,
        state.cart_embedding_sum,
        n,
        1.0 / count,
        params.taste_drift_purchase,
        params.taste_scale,
    )
    state.features[n, ITEMS_BOUGHT] += count
    state.features[n, SPENT] += value
    state.features[n, CART_ITEMS] = 0.0
    state.features[n, CART_VALUE] = 0.0
    for slot in range(cart.shape[1]):
        cart[n, slot] = params.n_items
    state.cart_count[n] = 0
    state.cart_quality_sum[n] = 0.0
    for d in range(state.cart_embedding_sum.shape[1]):
        state.cart_embedding_sum[n, d] = 0.0


@njit(cache=True, inline="always")
def _end_visit(n, state, items, params):
    """Episode ``shopper``: after a visit the shopper returns with ``return_probability``
    (satisfaction: patience left, a purchase) unless ``max_visits`` are used up. A return
    starts the next visit in place; returns the episode's (terminated, truncated)."""
    base = streams.stream_base(
        state.key[n], state.session[n], state.visit[n] + 1, streams.RETURN_DRAW
    )
    bought = 1.0 if state.features[n, ITEMS_BOUGHT] > 0 else 0.0
    if streams.uniform(base, 0) >= return_probability(state.patience[n], bought, params):
        return True, False  # the shopper leaves for good
    if state.visit[n] + 1 >= params.max_visits:
        return False, True  # would come back, but the episode's visits are used up
    start_next_visit(n, state, items, params, base)
    return False, False
