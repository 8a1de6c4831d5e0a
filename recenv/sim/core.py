"""The one simulation core: a compiled step over N shoppers, composed from the model modules.

``env.ShoppingEnv`` runs it with N = 1 and ``vector.ShoppingVectorEnv`` with N shoppers;
neither holds a line of dynamics. One step for every shopper:

1. choice: the slate's click utilities, then one multinomial-logit choice or none
   (``choice.choose``);
2. a click pulls taste toward the item (``dynamics.drift_toward_click``) and may add it to
   the cart if it fits the remaining budget (``funnel.click_to_cart``); the history
   records the slate and the click (``state.record_slate``);
3. a non-empty cart may be bought: the budget is spent (``funnel.checkout``), the cart
   shapes taste and needs (``dynamics.consume_cart``) and empties (``funnel.empty_cart``);
4. fatigue, needs and patience move (``dynamics.end_of_step``);
5. the visit terminates when patience or budget runs out (or after a checkout, with
   ``checkout_ends_session``), or truncates at ``max_steps`` (``dynamics.visit_over``);
   with ``episode: shopper`` the shopper then returns for the next visit, or leaves and
   the episode ends (``shoppers.return_or_leave``). The reward is ``funnel.step_reward``.

The step is one numba-compiled loop over shoppers (split across threads for large N), so
one shopper costs about as little as a thousand; shoppers never share random numbers
(``streams``), so any split gives the same result. The same pass can write each row's
observation while the row is in cache (``step_and_observe``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np
from numba import njit
from numpy.typing import NDArray

from recenv.sim import streams
from recenv.sim.borrow import borrowed
from recenv.sim.catalog import Catalog, build_catalog
from recenv.sim.choice import choose
from recenv.sim.complements import complement_table
from recenv.sim.config import EnvConfig
from recenv.sim.dynamics import (
    consume_cart,
    drift_toward_click,
    end_of_step,
    shown_fatigue,
    visit_over,
)
from recenv.sim.funnel import checkout, checkout_probability, click_to_cart, empty_cart, step_reward
from recenv.sim.params import ItemTable, ModelParams, item_table, model_params
from recenv.sim.shoppers import (
    Population,
    build_population,
    draw_shopper,
    draw_shoppers,
    return_or_leave,
)
from recenv.sim.shops import draw_shops
from recenv.sim.state import (
    CART_VALUE,
    SESSION_FEATURES,
    STEP,
    ShopperState,
    observe_row,
    record_slate,
)
from recenv.sim.threads import ThreadSplitter

PARALLEL_FROM = 2048  # shoppers per step from which the parallel kernel pays off
_ONE_BLOCK_FROM = 256  # shoppers from which observations are allocated as one block
OBSERVATION_KEYS = ("history", "history_events", "cart", "session", "query")


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

    @classmethod
    def allocate(cls, n_shoppers: int) -> StepOutcome:
        """Fresh, uninitialised arrays: the step writes every row."""
        return cls(*(np.empty(n_shoppers, dtype=dtype) for dtype in _OUTCOME_DTYPES))


_OUTCOME_DTYPES = (np.float64, *[np.bool_] * 3, np.int64, np.bool_, np.bool_, np.float64, np.int64)


class World(NamedTuple):
    """The fixed part of a scenario: catalog and population, drawn from ``catalog_seed``."""

    catalog: Catalog
    population: Population


def build_world(config: EnvConfig) -> World:
    """Draw the catalog, the population, the complement map and the shops from independent
    streams of ``catalog_seed`` (the later streams leave the earlier ones as they were)."""
    streams_of_world = np.random.SeedSequence(config.catalog_seed).spawn(4)
    catalog_seq, population_seq, complement_seq, shop_seq = streams_of_world
    if config.calibration:
        from recenv.sim.calibrated import calibrated_world  # only calibrated scenarios need it

        catalog, population = calibrated_world(config)
    else:
        catalog = build_catalog(config.catalog, np.random.default_rng(catalog_seq))
        population = build_population(
            config.shoppers, catalog, np.random.default_rng(population_seq)
        )
    structure: dict[str, Any] = {
        "complements": complement_table(config.catalog, np.random.default_rng(complement_seq))
    }
    if config.catalog.n_shops:
        shops = draw_shops(config.catalog, np.random.default_rng(shop_seq))
        structure.update(shop=shops.shop, shop_reputation=shops.reputation)
    return World(dataclasses.replace(catalog, **structure), population)


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
        # Plain tuples: numba types a plain tuple's members in C, a named tuple's in Python
        # (microseconds per call); the kernels rebuild the named tuples.
        self._model = (
            tuple(self.state),
            tuple(self.items),
            tuple(self.world.population),
            tuple(self.params),
        )
        self._threads = ThreadSplitter(n_shoppers, PARALLEL_FROM)
        self._no_restart = np.zeros(n_shoppers, dtype=np.bool_)
        self._observation_shapes = observation_shapes(config, n_shoppers)
        self._unobserved = tuple(new_observation(observation_shapes(config, 0)).values())
        self.shopper_steps = 0  # shopper-steps simulated (restarting rows excluded): budgets

    def seed(self, seed: int, split: str = "train", first_slot: int = 0) -> None:
        """Key row r with slot ``first_slot + r`` of run (``seed``, ``split``); session 0."""
        key = streams.run_key(seed, split)
        self.state.key[:] = streams.slot_keys(key, first_slot, self.n_shoppers)
        self.state.session[:] = 0

    def start_sessions(self, rows: NDArray[np.int64]) -> None:
        """Draw the shopper of each row's current session index into those rows."""
        draw_shoppers(np.asarray(rows, dtype=np.int64), *self._model, self._threads)

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
        outcome = StepOutcome.allocate(self.n_shoppers)
        self._run(slates, restart, outcome, self._unobserved)
        return outcome

    def step_and_observe(
        self,
        slates: NDArray[np.int64],
        restart: NDArray[np.bool_] | None = None,
        observation: dict[str, NDArray] | None = None,
    ) -> tuple[StepOutcome, dict[str, NDArray]]:
        """``step`` then ``observe`` in one pass: each row is observed right after its step.

        ``observation`` (arrays shaped like ``observe``'s) is written into when given (the
        caller lets it be reused), else fresh arrays are.
        """
        outcome = StepOutcome.allocate(self.n_shoppers)
        if observation is None:
            observation = new_observation(self._observation_shapes)
        self._run(slates, restart, outcome, _observation_tuple(observation))
        return outcome, observation

    def step_one(self, slates: NDArray[np.int64]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``step_and_observe`` of a one-shopper simulator in Python scalars and 1-D arrays:
        the single env's path, which spends microseconds on every array crossing into the
        kernel. Returns the outcome's values (``StepOutcome`` order) and the observation
        (fresh arrays, ``query`` an ``np.int64``)."""
        arrays = self._one_observation()
        state, items, _, params = self._model
        *outcome, query = _step_one(slates, state, items, params, arrays)
        self.shopper_steps += 1
        return tuple(outcome), self._one_observation_dict(arrays, query)

    def start_one(self) -> dict[str, Any]:
        """``start_sessions`` then ``observe`` of a one-shopper simulator, in one kernel call;
        the observation as in ``step_one``."""
        arrays = self._one_observation()
        return self._one_observation_dict(arrays, _start_one(*self._model, arrays))

    def _one_observation(self) -> tuple[NDArray, ...]:
        if self.n_shoppers != 1:
            raise ValueError(f"a one-shopper path; this simulator has {self.n_shoppers}")
        config = self.config
        return (
            np.empty(config.history_length, dtype=np.int64),
            np.empty(config.history_length, dtype=np.int64),
            np.empty(config.cart_capacity, dtype=np.int64),
            np.empty(len(SESSION_FEATURES), dtype=np.float32),
        )

    @staticmethod
    def _one_observation_dict(arrays: tuple[NDArray, ...], query: int) -> dict[str, Any]:
        history, events, cart, session = arrays
        return {
            "history": history,
            "history_events": events,
            "cart": cart,
            "session": session,
            "query": np.int64(query),
        }

    def observe(self, observation: dict[str, NDArray] | None = None) -> dict[str, NDArray]:
        """Batched observation: what an agent may see, never hidden traits. Fresh arrays
        unless ``observation`` is given to write into."""
        if observation is None:
            observation = new_observation(self._observation_shapes)
        _observe_rows(0, self.n_shoppers, self._model[0], _observation_tuple(observation))
        return observation

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
            "visit": state.visit.astype(np.int64),
            "segment": state.segment.astype(np.int64),
            "cart_quality_sum": state.cart_quality_sum.copy(),
            "session_index": state.session.astype(np.int64),
        }

    def _run(
        self,
        slates: NDArray[np.int64],
        restart: NDArray[np.bool_] | None,
        outcome: StepOutcome,
        observation: tuple[NDArray, ...],
    ) -> None:
        if restart is None:
            restart = self._no_restart
            self.shopper_steps += self.n_shoppers
        else:
            self.shopper_steps += self.n_shoppers - int(np.count_nonzero(restart))
        args = (slates, restart, *self._model, tuple(outcome), observation)
        if self._threads.enabled:
            self._threads.run(_step_rows, self.n_shoppers, args)
        else:
            _step_rows(0, self.n_shoppers, *args)


def observation_shapes(config: EnvConfig, n_shoppers: int) -> dict[str, tuple[tuple, type]]:
    """Shape and dtype of each observation array of ``n_shoppers`` rows: ids and event
    codes int64 (the spaces' dtype, whatever the state stores), session features float32."""
    history, cart = config.history_length, config.cart_capacity
    return {
        "history": ((n_shoppers, history), np.int64),
        "history_events": ((n_shoppers, history), np.int64),
        "cart": ((n_shoppers, cart), np.int64),
        "session": ((n_shoppers, len(SESSION_FEATURES)), np.float32),
        "query": ((n_shoppers,), np.int64),
    }


def new_observation(shapes: dict[str, tuple[tuple, type]]) -> dict[str, NDArray]:
    """Fresh, uninitialised observation arrays of these ``shapes`` (``observe`` fills them).

    From ``_ONE_BLOCK_FROM`` rows they are views of one allocation: several large fresh
    arrays per step make glibc map and unmap pages every step (page faults cost 10x the
    copy); one block per step is recycled by the allocator instead.
    """
    if shapes["query"][0][0] < _ONE_BLOCK_FROM:
        return {key: np.empty(shape, dtype=dtype) for key, (shape, dtype) in shapes.items()}
    sizes = {
        key: np.dtype(dtype).itemsize * int(np.prod(shape))
        for key, (shape, dtype) in shapes.items()
    }
    block = np.empty(sum(sizes.values()), dtype=np.uint8)
    observation, offset = {}, 0
    for key, (shape, dtype) in shapes.items():  # every itemsize is 4 or 8: views stay aligned
        observation[key] = block[offset : offset + sizes[key]].view(dtype).reshape(shape)
        offset += sizes[key]
    return observation


def _observation_tuple(observation: dict[str, NDArray]) -> tuple[NDArray, ...]:
    return tuple(observation[key] for key in OBSERVATION_KEYS)


@njit(cache=True, nogil=True)
def _observe_rows(start, stop, state, observation):
    """Observations of rows ``start..stop-1`` (``state.observe_row``)."""
    state = borrowed(ShopperState(*state))
    history, events, cart, session, query = borrowed(observation)
    for n in range(start, stop):
        query[n] = observe_row(n, state, history, events, cart, session)


@njit(cache=True, nogil=True)
def _step_rows(
    start, stop, slates, restart, state, items, population, params, outcome, observation
):
    """One step of shoppers ``start..stop-1`` (``step_row``); releases the GIL so threads
    split the batch."""
    state, items = borrowed(ShopperState(*state)), borrowed(ItemTable(*items))
    population, params = borrowed(Population(*population)), ModelParams(*params)
    slates, restart = borrowed(slates), borrowed(restart)
    outcome, observation = borrowed(outcome), borrowed(observation)
    observe = observation[0].shape[0] > 0
    for n in range(start, stop):
        step_row(
            n, slates, restart, state, items, population, params, outcome, observation, observe
        )


@njit(cache=True, inline="always")
def step_row(n, slates, restart, state, items, population, params, outcome, observation, observe):
    """One step of shopper ``n``, or, if ``restart[n]``, the start of its next session with a
    blank outcome; observed after it when ``observe``. The one per-shopper entry point of
    both targets: the CPU loop above and the CUDA kernel (``recenv.sim.cuda``, one thread
    per shopper) compile this same function."""
    reward, terminated, truncated, clicked, clicked_item = outcome[:5]
    carted, purchased, revenue, items_bought = outcome[5:]
    history, events, cart, session, query = observation
    if restart[n]:
        restart_row(n, state, items, population, params)
        reward[n], terminated[n], truncated[n], clicked[n], clicked_item[n] = (
            0.0,
            False,
            False,
            False,
            -1,
        )
        carted[n], purchased[n], revenue[n], items_bought[n] = False, False, 0.0, 0
    else:
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
    if observe:
        query[n] = observe_row(n, state, history, events, cart, session)


@njit(cache=True, inline="always")
def restart_row(n, state, items, population, params):
    """Shopper ``n`` starts its next session (the next session index, a fresh draw)."""
    state.session[n] = state.session[n] + np.uint64(1)
    draw_shopper(n, state, items, population, params)


@njit(cache=True, nogil=True)
def _step_one(slates, state, items, params, observation):
    """Step and observe the one shopper of a simulator (1-D observation arrays); returns
    the outcome's values and the query."""
    state, items = borrowed(ShopperState(*state)), borrowed(ItemTable(*items))
    params = ModelParams(*params)
    outcome = _step_shopper(0, borrowed(slates), state, items, params)
    return (*outcome, _observe_one(state, observation))


@njit(cache=True, nogil=True)
def _start_one(state, items, population, params, observation):
    """Draw the one shopper of a simulator and observe it; returns the query."""
    state, items = borrowed(ShopperState(*state)), borrowed(ItemTable(*items))
    draw_shopper(0, state, items, borrowed(Population(*population)), ModelParams(*params))
    return _observe_one(state, observation)


@njit(cache=True, inline="always")
def _observe_one(state, observation):
    """Row 0's observation into 1-D arrays (viewed as one-row matrices); returns the query."""
    history, events, cart, session = borrowed(observation)
    return observe_row(
        0,
        state,
        history.reshape((1, history.size)),
        events.reshape((1, events.size)),
        cart.reshape((1, cart.size)),
        session.reshape((1, session.size)),
    )


@njit(cache=True, inline="always")
def _step_shopper(n, slates, state, items, params):
    """Advance shopper ``n`` by one step (the stages above); returns its outcome."""
    step_index = state.visit[n] * streams.VISIT_STRIDE + int(state.features[n, STEP])
    base = streams.stream_base(state.key[n], state.session[n], step_index, streams.RESPONSE_DRAW)
    # 1. choice among the slate and 'no click' (fatigue as shown, before the step)
    fatigue_shown = shown_fatigue(n, slates, state.fatigue, items.category)
    position = choose(n, slates, state, items, params, streams.uniform(base, 0))
    clicked = position < slates.shape[1]
    clicked_item, carted = -1, False
    # 2. a click pulls taste and may fill the cart; the history records the slate
    if clicked:
        clicked_item = slates[n, position]
        drift_toward_click(n, clicked_item, state, items, params)
        carted = click_to_cart(
            n, clicked_item, position, state, items, params, streams.uniform(base, 1)
        )
    record_slate(n, slates, position, carted, state)
    # 3. cart -> purchase
    purchased, revenue, items_bought = False, 0.0, 0
    if streams.uniform(base, 2) < checkout_probability(
        state.cart_quality_sum[n], state.cart_count[n], params
    ):
        purchased, revenue, items_bought = True, state.features[n, CART_VALUE], state.cart_count[n]
        checkout(n, state)
        consume_cart(n, state, items, params)
        empty_cart(n, state, params)
    # 4. long-term dynamics
    end_of_step(n, slates, clicked_item, purchased, fatigue_shown, state, items, params)
    # 5. end of the visit (episode: shopper — the shopper returns or leaves)
    terminated, truncated = visit_over(n, purchased, state, params)
    reward = step_reward(clicked, carted, revenue, items_bought, params)
    if params.episode_is_shopper and (terminated or truncated):
        terminated, truncated = return_or_leave(n, state, items, params)
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
