"""Paired evaluation (``agents.evaluation``): common random numbers and honest intervals.

Comparisons between agents are only meaningful if every agent meets the same shoppers
for a given seed and every reported figure comes with a 95% interval around it.
"""

from __future__ import annotations

import numpy as np
import pytest

import recenv
from agents.evaluation import METRICS, RATIO_METRICS, EvaluationResult, evaluate, paired_difference
from agents.oracle import MyopicOracle
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


@pytest.mark.parametrize("metric", list(RATIO_METRICS))
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
    with pytest.raises(ValueError, match="same seed"):
        paired_difference(other, popularity_result, "return")


@pytest.mark.parametrize("agent_name", ["random", "popularity", "myopic_oracle"])
def test_every_metric_lies_inside_its_interval(
    agent_name: str, popularity_result: EvaluationResult, random_result: EvaluationResult
) -> None:
    result = {
        "random": random_result,
        "popularity": popularity_result,
        "myopic_oracle": evaluate(MyopicOracle(CFG), CFG, N_SHOPPERS, SEED),
    }[agent_name]
    assert (
        set(result.summary)
        == set(METRICS)
        == {
            "return",
            "ctr",
            "conversion_rate",
            "revenue",
            "session_length",
            "intra_list_diversity",
            "long_tail_share",
            "coverage",
        }
    )
    for metric, estimate in result.summary.items():
        assert estimate.ci_low <= estimate.mean <= estimate.ci_high, (metric, estimate)
        assert np.isfinite([estimate.ci_low, estimate.mean, estimate.ci_high]).all()


def test_coverage_is_near_one_for_random_and_small_for_popularity(
    popularity_result: EvaluationResult, random_result: EvaluationResult
) -> None:
    """Random shows ~3,600 uniform draws over 100 items; popularity shows one global list."""
    assert random_result.summary["coverage"].mean >= 0.95
    assert popularity_result.summary["coverage"].mean <= 0.25  # about 0.11


def test_coverage_interval_contains_its_estimate_with_few_shoppers() -> None:
    estimate = evaluate(RandomAgent(CFG, seed=0, device="cpu"), CFG, 20, 0).summary["coverage"]
    assert estimate.ci_low <= estimate.mean <= estimate.ci_high, estimate
