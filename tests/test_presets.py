"""Presets test what their names say: search rewards matching the query; cold start
evaluates after the releases, where exposing new items pays."""

from __future__ import annotations

import numpy as np
import pytest

import recenv
from agents.evaluation import evaluate, paired_difference
from agents.oracle import MyopicOracle
from recenv.sim.core import build_world

SHOPPERS, SEED = 400, 123_456


class IntentBlindOracle(MyopicOracle):
    """The myopic oracle with the query hidden from it: knows everything but the search."""

    def act(self, observation, deterministic=True, info=None):
        blind = dict(observation)
        blind["query"] = np.full_like(observation["query"], self.env_config.catalog.n_categories)
        return super().act(blind, deterministic, info)


class OnIntentSlates:
    """``on_intent`` random items of the searched category, the rest from other categories."""

    def __init__(self, config, on_intent: int, seed: int = 0) -> None:
        self.config, self.on_intent = config, on_intent
        self.category = build_world(config).catalog.category
        self.rng = np.random.default_rng(seed)

    def act(self, observation, deterministic=True):
        size, n_categories = self.config.slate_size, self.config.catalog.n_categories
        slates = np.empty((len(observation["query"]), size), dtype=np.int64)
        for row, query in enumerate(observation["query"]):
            if query == n_categories:  # no search: any distinct items
                slates[row] = self.rng.choice(len(self.category), size, replace=False)
                continue
            on = self.rng.choice(np.flatnonzero(self.category == query), self.on_intent, False)
            off = np.flatnonzero(self.category != query)
            slates[row] = np.concatenate([on, self.rng.choice(off, size - self.on_intent, False)])
        return slates


@pytest.fixture(scope="module")
def search():
    return recenv.make_config("search")


def test_search_rewards_an_intent_aware_policy(search) -> None:
    aware = evaluate(MyopicOracle(search), search, SHOPPERS, SEED)
    blind = evaluate(IntentBlindOracle(search), search, SHOPPERS, SEED)
    assert paired_difference(aware, blind).ci_low > 0


def test_search_does_not_punish_relevant_slates(search) -> None:
    """Five on-intent items earn more than one (per-item fatigue used to make it 3.3 vs 10)."""
    five = evaluate(OnIntentSlates(search, 5), search, SHOPPERS, SEED)
    one = evaluate(OnIntentSlates(search, 1), search, SHOPPERS, SEED)
    assert paired_difference(five, one).ci_low > 0


def test_search_fatigue_is_per_category_and_spares_the_query(search) -> None:
    env = recenv.ShoppingVectorEnv(1, config=search, expose_hidden_state=True)
    _, info = env.reset(seed=1)
    category = build_world(search).catalog.category
    query = 2
    env.simulator.state.intent[:] = query
    slate = np.concatenate(
        [np.flatnonzero(category == query)[:2], np.flatnonzero(category == 5)[:3]]
    )
    _, _, _, _, info = env.step(slate[None])
    fatigue = info["hidden"]["fatigue"][0]
    assert fatigue[query] == 0.0  # the searched category never tires
    assert fatigue[5] == pytest.approx(search.dynamics.fatigue_per_exposure)  # once, not 3x


def test_cold_start_evaluates_after_every_release() -> None:
    config = recenv.make_config("cold_start", expose_hidden_state=True)
    release = build_world(config).catalog.release_session
    assert config.evaluation_session >= release.max() > 0
    env = recenv.ShoppingVectorEnv(4, config=config, split="evaluation")
    _, info = env.reset(seed=SEED, options={"session_index": config.evaluation_session})
    assert (info["hidden"]["session_index"] >= release.max()).all()


class OldItemsOnly(MyopicOracle):
    """The myopic oracle that never shows an item released during the run."""

    def act(self, observation, deterministic=True, info=None):
        release = build_world(self.env_config).catalog.release_session
        outcome = recenv.sim.expectations.expected_outcomes(
            self._world_model, info["hidden"], observation
        )
        scores = np.where(release[None, :] > 0, -np.inf, outcome.reward)
        return scores.argmax(axis=1)


def test_cold_start_pays_an_agent_that_exposes_new_items() -> None:
    config = recenv.make_config("cold_start")
    exposing = evaluate(MyopicOracle(config), config, SHOPPERS, SEED)
    never = evaluate(OldItemsOnly(config), config, SHOPPERS, SEED)
    assert exposing.summary["new_item_share"].mean > 0.1
    assert never.summary["new_item_share"].mean == 0.0
    assert paired_difference(exposing, never).ci_low > 0
