"""Paired evaluation (``agents.evaluation``): common random numbers and honest intervals.

Comparisons between agents are only meaningful if every agent meets the same shoppers
for a given seed and every reported figure comes with a 95% interval around it.
"""

from __future__ import annotations

import numpy as np
import pytest

import recenv
from agents.evaluation import (
    METRICS,
    EvaluationResult,
    evaluate,
    paired_difference,
    shown_slates,
)
from agents.popularity import PopularityAgent
from agents.random import RandomAgent
from recenv import ShoppingVectorEnv

pytestmark = pytest.mark.usefixtures("single_torch_thread")

CFG = recenv.make_config("small")
N_SHOPPERS = 300
SEED = 11


@pytest.fixture(scope="module")
def popularity() -> PopularityAgent:
    """A deterministic agent: its acts depend on the observation only."""
    agent = PopularityAgent(CFG, seed=0, device="cpu")
    return agent.learn(ShoppingVectorEnv(32, config=CFG), 10_000)


@pytest.fixture(scope="module")
def popularity_result(popularity: PopularityAgent) -> EvaluationResult:
    return evaluate(popularity, CFG, N_SHOPPERS, SEED)


@pytest.fixture(scope="module")
def random_result() -> EvaluationResult:
    return evaluate(RandomAgent(CFG, seed=0, device="cpu"), CFG, N_SHOPPERS, SEED)


def test_same_seed_replays_the_same_sessions(
    popularity: PopularityAgent, popularity_result: EvaluationResult
) -> None:
    """Common random numbers: same agent, same seed, the very same per-shopper outcomes."""
    again = evaluate(popularity, CFG, N_SHOPPERS, SEED)
    assert again.sessions.keys() == popularity_result.sessions.keys()
    for name, values in popularity_result.sessions.items():
        np.testing.assert_array_equal(again.sessions[name], values, err_msg=name)
    assert again.summary == popularity_result.summary


@pytest.mark.parametrize("metric", METRICS)
def test_paired_difference_of_an_agent_with_itself_is_exactly_zero(
    popularity: PopularityAgent, popularity_result: EvaluationResult, metric: str
) -> None:
    again = evaluate(popularity, CFG, N_SHOPPERS, SEED)
    difference = paired_difference(again, popularity_result, metric)
    assert (difference.mean, difference.ci_low, difference.ci_high) == (0.0, 0.0, 0.0)


def test_paired_difference_is_the_difference_of_the_means(
    popularity_result: EvaluationResult, random_result: EvaluationResult
) -> None:
    difference = paired_difference(popularity_result, random_result, "return")
    expected = popularity_result.summary["return"].mean - random_result.summary["return"].mean
    assert difference.mean == pytest.approx(expected)
    assert difference.ci_low < difference.mean < difference.ci_high


def test_different_seed_meets_different_shoppers(
    popularity: PopularityAgent, popularity_result: EvaluationResult
) -> None:
    other = evaluate(popularity, CFG, N_SHOPPERS, SEED + 1)
    assert not np.array_equal(other.sessions["return"], popularity_result.sessions["return"])
    assert not np.array_equal(other.sessions["items"], popularity_result.sessions["items"])


@pytest.mark.parametrize(("seed", "n_shoppers"), [(SEED + 1, N_SHOPPERS), (SEED, 200)])
def test_paired_difference_refuses_unpaired_results(
    popularity_result: EvaluationResult, seed: int, n_shoppers: int
) -> None:
    other = evaluate(RandomAgent(CFG, seed=0, device="cpu"), CFG, n_shoppers, seed)
    with pytest.raises(ValueError, match="met different shoppers"):
        paired_difference(other, popularity_result, "return")


def test_sessions_match_a_brute_force_replay_with_single_envs(
    popularity: PopularityAgent, popularity_result: EvaluationResult
) -> None:
    """Each evaluation session equals the same shopper played alone, step by step."""
    catalog = recenv.sim.core.build_world(CFG).catalog
    for slot in (0, 7, 123):
        env = recenv.ShoppingEnv(config=CFG, split="evaluation")
        observation, _ = env.reset(seed=SEED, options={"slot": slot})
        rewards, clicks, revenue, bought, shown, done = [], 0, 0.0, 0, [], False
        while not done:
            batched = {key: np.asarray(value)[None] for key, value in observation.items()}
            action = int(popularity.act(batched, deterministic=True)[0])
            observation, reward, terminated, truncated, info = env.step(action)
            rewards.append(reward)
            clicks += info["click"]
            revenue += info["revenue"]
            bought += info["purchase"]
            shown.append(action)
            done = terminated or truncated
        sessions = popularity_result.sessions
        assert sessions["return"][slot] == pytest.approx(sum(rewards))
        assert sessions["steps"][slot] == len(shown) == sessions["impressions"][slot]
        assert sessions["clicks"][slot] == clicks
        assert sessions["revenue"][slot] == pytest.approx(revenue)
        assert sessions["converted"][slot] == float(bought > 0)
        tail = catalog.popularity_rank[shown] >= 0.2 * catalog.n_items
        assert sessions["tail_impressions"][slot] == tail.sum()
        np.testing.assert_array_equal(sessions["items"][slot][: len(shown)], shown)


def test_summary_is_the_hand_computed_aggregate(popularity_result: EvaluationResult) -> None:
    sessions, summary = popularity_result.sessions, popularity_result.summary
    assert summary["return"].mean == pytest.approx(sessions["return"].mean())
    assert summary["ctr"].mean == pytest.approx(
        sessions["clicks"].sum() / sessions["impressions"].sum()
    )
    assert summary["conversion_rate"].mean == pytest.approx(sessions["converted"].mean())
    shown = sessions["items"][sessions["items"] >= 0]
    assert summary["coverage"].mean == pytest.approx(len(np.unique(shown)) / CFG.catalog.n_items)


def test_return_interval_matches_the_normal_approximation(
    random_result: EvaluationResult,
) -> None:
    """For a mean over 300 shoppers the percentile bootstrap and mean +- 1.96 se agree."""
    returns = random_result.sessions["return"]
    half_width = 1.96 * returns.std(ddof=1) / np.sqrt(len(returns))
    estimate = random_result.summary["return"]
    assert estimate.ci_high - estimate.ci_low == pytest.approx(2 * half_width, rel=0.15)
    assert (estimate.ci_low + estimate.ci_high) / 2 == pytest.approx(
        estimate.mean, abs=half_width / 5
    )


def test_coverage_is_near_one_for_random_and_small_for_popularity(
    popularity_result: EvaluationResult, random_result: EvaluationResult
) -> None:
    """Random shows ~3,600 uniform draws over 100 items; popularity shows one global list."""
    assert random_result.summary["coverage"].mean >= 0.95
    assert popularity_result.summary["coverage"].mean <= 0.25  # about 0.11


def test_coverage_interval_contains_its_estimate_with_few_shoppers() -> None:
    estimate = evaluate(RandomAgent(CFG, seed=0, device="cpu"), CFG, 20, 0).summary["coverage"]
    assert estimate.ci_low <= estimate.mean <= estimate.ci_high, estimate


def test_shown_items_survive_a_visit_that_ends_and_restarts() -> None:
    """With ``episode: shopper`` a step can end a visit and start the next one; what that
    step showed is still recorded (the history ring keeps it), never a sentinel id."""
    config = recenv.make_config("small", episode="shopper", max_visits=5)
    env = ShoppingVectorEnv(64, config=config, split="evaluation")
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    new_visits = 0
    for _ in range(60):
        slates = rng.integers(0, config.catalog.n_items, 64)
        visit_before = env.simulator.state.visit.copy()
        env.step(slates)
        shown = shown_slates(env, config.slate_size)[:, 0]
        moved_on = env.simulator.state.visit > visit_before  # this step began a new visit
        new_visits += int(moved_on.sum())
        assert np.array_equal(shown[moved_on], slates[moved_on])
    assert new_visits > 0, "no visit ended and restarted: the test checks nothing"
