"""Invariants that must hold at every step, whatever the scenario and the recommendations.

Hypothesis draws the scenario (stream seed, slate size, horizon, reward weights) and the
slates shown; each step is checked against the funnel (click -> cart -> purchase), the
budget, the reward formula, the observation space and the session length. Generation is
derandomized and the example database is off, so every run draws the same examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from recenv import EnvConfig, ShoppingEnv, ShoppingVectorEnv, make_config
from recenv.sim import core, shoppers
from recenv.sim.state import STEP

N_SHOPPERS = 8
LARGE_BATCH = max(core.PARALLEL_FROM, shoppers.PARALLEL_FROM)  # steps and draws split in threads
SMALL = make_config("small")
N_ITEMS = SMALL.catalog.n_items
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None)

Batch = dict[str, Any]  # observation or info with a leading shopper axis


@dataclass(frozen=True)
class Scenario:
    """What Hypothesis varies: the stream seed, slate size, horizon and reward weights."""

    seed: int
    slate_size: int
    max_steps: int
    funnel: dict[str, Any]

    def overrides(self) -> dict[str, Any]:
        return {
            "slate_size": self.slate_size,
            "max_steps": self.max_steps,
            "funnel": self.funnel,
            "expose_hidden_state": True,
        }


weights = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)
scenarios = st.builds(
    Scenario,
    seed=st.integers(0, 2**32 - 1),
    slate_size=st.integers(1, 4),
    max_steps=st.integers(1, SMALL.max_steps),
    funnel=st.fixed_dictionaries(
        {
            "reward_click": weights,
            "reward_cart": weights,
            "reward_purchase": weights,
            "purchase_reward": st.sampled_from(("revenue", "count")),
        }
    ),
)


def slates(n_steps: int, n_shoppers: int, slate_size: int) -> st.SearchStrategy[NDArray]:
    """``(n_steps, n_shoppers, slate_size)`` item ids, distinct within every slate.

    A slate is a first item plus strictly increasing offsets, modulo ``N_ITEMS``; the
    offsets stay below ``N_ITEMS`` (each gap <= N_ITEMS // slate_size), so none collide.
    """
    first = hnp.arrays(np.int64, (n_steps, n_shoppers, 1), elements=st.integers(0, N_ITEMS - 1))
    gaps = hnp.arrays(
        np.int64,
        (n_steps, n_shoppers, slate_size - 1),
        elements=st.integers(1, N_ITEMS // slate_size),
    )

    def assemble(drawn: tuple[NDArray, NDArray]) -> NDArray:
        start, gap = drawn
        offsets = np.concatenate([np.zeros_like(start), np.cumsum(gap, axis=-1)], axis=-1)
        return (start + offsets) % N_ITEMS

    return st.tuples(first, gaps).map(assemble)


@st.composite
def runs(draw: st.DrawFn, n_shoppers: int, sessions: int) -> tuple[Scenario, NDArray]:
    """A scenario and enough slates for ``sessions`` full sessions plus their reset steps."""
    scenario = draw(scenarios)
    n_steps = sessions * (scenario.max_steps + 1)
    return scenario, draw(slates(n_steps, n_shoppers, scenario.slate_size))


def as_action(slate: NDArray) -> NDArray:
    """Item ids for slate size 1, the slates themselves otherwise (the action space's shape)."""
    return slate[..., 0] if slate.shape[-1] == 1 else slate


def batch_of_one(mapping: dict[str, Any]) -> Batch:
    """A single env's observation or info with a shopper axis of length 1 (recursively)."""
    return {
        key: batch_of_one(value) if isinstance(value, dict) else np.asarray(value)[None]
        for key, value in mapping.items()
    }


class InvariantChecker:
    """Checks a batch of shoppers step after step; a single env is a batch of one.

    It remembers the previous observation, hidden state and end flags, which is what the
    funnel, budget and autoreset invariants are stated against.
    """

    def __init__(
        self,
        config: EnvConfig,
        space: spaces.Dict,
        prices: NDArray,
        observation: Batch,
        info: Batch,
    ) -> None:
        self.config = config
        self.space = space
        self.prices = prices.astype(np.float64)
        self.pad = config.catalog.n_items
        self.check_state(observation, info)
        self.observation, self.info = observation, info
        self.ended = np.zeros(len(observation["session"]), dtype=bool)

    def check_state(self, observation: Batch, info: Batch) -> None:
        """Observation inside the space and finite; hidden state finite, budget >= 0."""
        for shopper in range(len(observation["session"])):
            single = {key: value[shopper] for key, value in observation.items()}
            assert self.space.contains(single), f"shopper {shopper}: {single}"
        assert np.isfinite(observation["session"]).all()
        hidden = info["hidden"]
        for key, value in hidden.items():
            assert np.isfinite(value).all(), key
        assert (hidden["budget"] >= 0).all(), hidden["budget"]
        assert (observation["session"][:, STEP] <= self.config.max_steps).all()

    def step(
        self,
        slate: NDArray,
        observation: Batch,
        reward: NDArray,
        terminated: NDArray,
        truncated: NDArray,
        info: Batch,
    ) -> None:
        """Check one step against the state before it, then remember the new state."""
        self.check_state(observation, info)
        assert np.isfinite(reward).all()
        self.check_reward(reward, info)
        # A real step advances the step count to >= 1, so a count of 0 marks a reset step.
        reset = observation["session"][:, STEP] == 0
        np.testing.assert_array_equal(reset, self.ended, "reset steps = steps after an end")
        self.check_reset_steps(reset, observation, reward, terminated, truncated, info)
        stepped = ~reset
        self.check_session(stepped, observation, terminated, truncated, info)
        self.check_funnel(stepped, slate, observation, info)
        self.observation, self.info = observation, info
        self.ended = terminated | truncated

    def check_reward(self, reward: NDArray, info: Batch) -> None:
        """reward = w_click * click + w_cart * cart + w_purchase * (revenue | items bought)."""
        funnel = self.config.funnel
        purchase = info["revenue"] if funnel.purchase_reward == "revenue" else info["items_bought"]
        expected = (
            funnel.reward_click * info["click"]
            + funnel.reward_cart * info["cart"]
            + funnel.reward_purchase * purchase
        )
        np.testing.assert_allclose(reward, expected, rtol=1e-12, atol=1e-12)

    def check_reset_steps(
        self,
        reset: NDArray,
        observation: Batch,
        reward: NDArray,
        terminated: NDArray,
        truncated: NDArray,
        info: Batch,
    ) -> None:
        """NEXT_STEP autoreset: no reward, no flags, no events; the next session, empty cart."""
        for name, values in {
            "reward": reward,
            "terminated": terminated,
            "truncated": truncated,
            "click": info["click"],
            "cart": info["cart"],
            "purchase": info["purchase"],
            "revenue": info["revenue"],
            "items_bought": info["items_bought"],
        }.items():
            assert not values[reset].any(), name
        assert (info["clicked_item"][reset] == -1).all()
        assert (observation["cart"][reset] == self.pad).all()
        np.testing.assert_array_equal(
            info["session_index"][reset], self.info["session_index"][reset] + 1
        )

    def check_session(
        self,
        stepped: NDArray,
        observation: Batch,
        terminated: NDArray,
        truncated: NDArray,
        info: Batch,
    ) -> None:
        """The step count advances by one and every session ends by ``max_steps``."""
        steps = observation["session"][:, STEP]
        previous = self.observation["session"][:, STEP]
        np.testing.assert_array_equal(steps[stepped], previous[stepped] + 1)
        np.testing.assert_array_equal(
            info["session_index"][stepped], self.info["session_index"][stepped]
        )
        assert not (terminated & truncated).any()
        at_horizon = steps == self.config.max_steps
        assert (terminated | truncated)[at_horizon].all(), "a session outlived max_steps"
        assert not truncated[steps < self.config.max_steps].any(), "truncated before max_steps"

    def check_funnel(
        self, stepped: NDArray, slate: NDArray, observation: Batch, info: Batch
    ) -> None:
        """Only a clicked, shown item enters the cart; a purchase buys and empties the cart."""
        click, item, cart = info["click"], info["clicked_item"], info["cart"]
        purchase, revenue, bought = info["purchase"], info["revenue"], info["items_bought"]
        assert not (cart & ~click).any(), "an item entered the cart without a click"
        np.testing.assert_array_equal(item >= 0, click)
        clicked = np.flatnonzero(click)
        assert (slate[clicked] == item[clicked, None]).any(axis=1).all(), "clicked an unshown item"

        before = self.observation["cart"]
        count = (before != self.pad).sum(axis=1)
        carted = np.flatnonzero(stepped & cart)
        assert (count[carted] < self.config.cart_capacity).all(), "a full cart took an item"
        after_click = before.copy()
        after_click[carted, count[carted]] = item[carted]  # appended in the first free slot
        expected = np.where(purchase[:, None], self.pad, after_click)
        np.testing.assert_array_equal(observation["cart"][stepped], expected[stepped])

        in_cart = after_click != self.pad  # what a purchase this step buys
        prices = np.where(in_cart, self.prices[np.minimum(after_click, self.pad - 1)], 0.0)
        np.testing.assert_array_equal(bought, np.where(purchase, in_cart.sum(axis=1), 0))
        np.testing.assert_allclose(revenue, np.where(purchase, prices.sum(axis=1), 0.0), 1e-5)
        budget, budget_before = info["hidden"]["budget"], self.info["hidden"]["budget"]
        np.testing.assert_allclose(
            budget[stepped],
            np.maximum(budget_before - revenue, 0.0)[stepped],
            rtol=1e-5,
            atol=1e-4,
            err_msg="the budget moves only by what is spent",
        )


def vector_checker(env: ShoppingVectorEnv, observation: Batch, info: Batch) -> InvariantChecker:
    """A checker for a freshly reset vector env."""
    prices = env.item_features["price"]
    return InvariantChecker(env.config, env.single_observation_space, prices, observation, info)


def random_items(n_shoppers: int, steps: int, seed: int) -> NDArray:
    """``(steps, n_shoppers, 1)`` uniformly random items, one per shopper and step."""
    return np.random.default_rng(seed).integers(0, N_ITEMS, size=(steps, n_shoppers, 1))


def checked_run(all_slates: NDArray, seed: int) -> tuple[dict[str, int], list[Batch]]:
    """Show ``all_slates`` step by step under the invariant checker.

    Returns how often each event happened and every step's observation.
    """
    n_shoppers = all_slates.shape[1]
    env = ShoppingVectorEnv(n_shoppers, preset="small", expose_hidden_state=True, max_steps=10)
    observation, info = env.reset(seed=seed)
    checker = vector_checker(env, observation, info)
    counts = dict.fromkeys(("click", "cart", "purchase", "terminated", "truncated"), 0)
    observations = []
    for slate in all_slates:
        observation, reward, terminated, truncated, info = env.step(as_action(slate))
        checker.step(slate, observation, reward, terminated, truncated, info)
        observations.append(observation)
        for name, values in {**info, "terminated": terminated, "truncated": truncated}.items():
            if name in counts:
                counts[name] += int(values.sum())
    return counts, observations


@pytest.mark.parametrize("n_shoppers", [LARGE_BATCH, 64], ids=["threaded", "single-thread"])
def test_random_runs_keep_invariants_and_see_every_event(n_shoppers: int) -> None:
    """The properties are not vacuous (clicks, carts, purchases and both ends happen), and
    they hold for batches large enough to split the step and the shopper draws in threads."""
    counts, _ = checked_run(random_items(n_shoppers, steps=25, seed=3), seed=3)
    assert all(count > 0 for count in counts.values()), counts


def test_threaded_batch_matches_a_small_batch_slot_by_slot() -> None:
    """Slot i depends only on its seed and its actions, not on the batch it runs in: the
    first slots of a batch split across threads match a small single-threaded batch."""
    n_small = N_SHOPPERS
    all_slates = random_items(LARGE_BATCH, steps=25, seed=5)
    _, large = checked_run(all_slates, seed=5)
    _, small = checked_run(all_slates[:, :n_small], seed=5)
    for step, (large_obs, small_obs) in enumerate(zip(large, small, strict=True)):
        for key, value in small_obs.items():
            np.testing.assert_array_equal(large_obs[key][:n_small], value, f"{key}, step {step}")


@PROPERTY
@given(run=runs(N_SHOPPERS, sessions=2))
def test_vector_env_keeps_invariants_across_sessions(run: tuple[Scenario, NDArray]) -> None:
    """8 shoppers through at least one whole session, its autoreset and the next one."""
    scenario, all_slates = run
    env = ShoppingVectorEnv(N_SHOPPERS, preset="small", **scenario.overrides())
    observation, info = env.reset(seed=scenario.seed)
    assert env.observation_space.contains(observation)
    checker = vector_checker(env, observation, info)
    for slate in all_slates:
        observation, reward, terminated, truncated, info = env.step(as_action(slate))
        checker.step(slate, observation, reward, terminated, truncated, info)
    assert env.observation_space.contains(observation)


@PROPERTY
@given(run=runs(1, sessions=1))
def test_single_env_keeps_invariants_for_one_episode(run: tuple[Scenario, NDArray]) -> None:
    """``ShoppingEnv`` is the same core with one shopper: one episode, the same checks."""
    scenario, all_slates = run
    env = ShoppingEnv(preset="small", **scenario.overrides())
    observation, info = env.reset(seed=scenario.seed)
    prices = env.item_features["price"]
    checker = InvariantChecker(
        env.config, env.observation_space, prices, batch_of_one(observation), batch_of_one(info)
    )
    ended = False
    for slate in all_slates[: scenario.max_steps]:
        observation, reward, terminated, truncated, info = env.step(as_action(slate[0]))
        assert isinstance(reward, float)
        checker.step(
            slate,
            batch_of_one(observation),
            np.array([reward]),
            np.array([terminated]),
            np.array([truncated]),
            batch_of_one(info),
        )
        ended = terminated or truncated
        if ended:
            break
    assert ended, f"the episode outlived max_steps = {scenario.max_steps}"


def corrupt_reward(info: Batch, reward: NDArray) -> None:
    reward[0] += 1.0


def corrupt_cart(info: Batch, reward: NDArray) -> None:
    info["cart"][0], info["click"][0], info["clicked_item"][0] = True, False, -1


def corrupt_budget(info: Batch, reward: NDArray) -> None:
    info["hidden"]["budget"][0] = -1.0


@pytest.mark.parametrize("corrupt", [corrupt_reward, corrupt_cart, corrupt_budget])
def test_checker_rejects_a_broken_step(corrupt: Callable[[Batch, NDArray], None]) -> None:
    """Each invariant can fail: a step tampered with in one place is caught."""
    env = ShoppingVectorEnv(N_SHOPPERS, preset="small", expose_hidden_state=True)
    observation, info = env.reset(seed=0)
    checker = vector_checker(env, observation, info)
    slate = np.arange(N_SHOPPERS)[:, None]
    observation, reward, terminated, truncated, info = env.step(as_action(slate))
    corrupt(info, reward)
    with pytest.raises(AssertionError):
        checker.step(slate, observation, reward, terminated, truncated, info)
