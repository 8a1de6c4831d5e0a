"""The metric table (``recenv.metrics``) and the bootstrap (``recenv.stats``) by hand."""

from __future__ import annotations

import numpy as np
import pytest

from recenv import metrics, stats

# Three hand-made sessions on a 6-item catalog; items 0-1 are the popular head (20% of 6
# rounds to the top 1.2 ranks: ranks 0 and 1), categories: items 0,1 -> 0; 2,3 -> 1; 4,5 -> 2.
CATEGORY = np.array([0, 0, 1, 1, 2, 2])
POPULARITY_RANK = np.array([0, 1, 2, 3, 4, 5])
RAW = {
    "return": np.array([1.0, 2.0, 6.0]),
    "steps": np.array([2.0, 1.0, 3.0]),
    "clicks": np.array([1.0, 0.0, 2.0]),
    "revenue": np.array([0.0, 1.5, 3.0]),
    "purchases": np.array([0.0, 1.0, 2.0]),
    "items": np.array([[0, 2, -1], [1, -1, -1], [4, 4, 5]]),
    "new_clicks": np.array([0.0, 0.0, 1.0]),  # items 4 and 5 are released during the run
}
RELEASE = np.array([0, 0, 0, 0, 3, 5])
EXPECTED = {
    "return": 3.0,
    "ctr": 3 / 6,  # ratio of sums, not the mean of 1/2, 0/1, 2/3
    "conversion_rate": 2 / 3,
    "revenue": 1.5,
    "session_length": 2.0,
    # session 0: categories (0, 1): 1 pair, different -> 1; session 1: one item -> 0;
    # session 2: (2, 2, 2): all pairs the same -> 0
    "intra_list_diversity": 1 / 3,
    "long_tail_share": 4 / 6,  # items 2, 4, 4, 5 are outside the head
    "new_item_share": 3 / 6,  # 4, 4, 5
    "new_item_ctr": 1 / 3,
    "coverage": 5 / 6,  # 0, 1, 2, 4, 5
}


@pytest.fixture(scope="module")
def sessions() -> dict[str, np.ndarray]:
    return metrics.session_table(RAW, CATEGORY, POPULARITY_RANK, 3, RELEASE)


def test_every_metric_has_one_hand_computed_value(sessions) -> None:
    assert set(EXPECTED) == {chosen.name for chosen in metrics.METRICS}
    for name, expected in EXPECTED.items():
        assert metrics.value(name, sessions, n_items=6) == pytest.approx(expected), name
        assert metrics.estimate(name, [sessions], 6).mean == pytest.approx(expected), name


def test_seeds_average_their_values(sessions) -> None:
    doubled = {**sessions, "return": sessions["return"] * 2}
    assert metrics.estimate("return", [sessions, doubled], 6).mean == pytest.approx(4.5)


def test_paired_difference_of_a_run_with_itself_is_zero(sessions) -> None:
    for name in EXPECTED:
        difference = metrics.estimate(name, [sessions], 6, baseline=[sessions])
        assert (difference.mean, difference.ci_low, difference.ci_high) == (0, 0, 0), name


def test_metric_names_are_checked() -> None:
    with pytest.raises(ValueError, match="metric = 'clicks' is unknown"):
        metrics.metric("clicks")


def test_runs_on_different_shoppers_are_refused(sessions) -> None:
    shorter = {key: value[:2] for key, value in sessions.items()}
    with pytest.raises(ValueError, match="same evaluation shoppers"):
        metrics.estimate("return", [sessions, shorter], 6)


def test_two_level_bootstrap_resamples_the_seeds() -> None:
    """Two seeds with constant returns 1 and 3: a resample of seeds gives 1, 2 or 3 with
    probabilities 1/4, 1/2, 1/4, so the 95% interval is exactly [1, 3]."""
    runs = np.array([np.ones(50), np.full(50, 3.0)])
    estimate = stats.mean_estimate(runs)
    assert (estimate.mean, estimate.ci_low, estimate.ci_high) == (2.0, 1.0, 3.0)


def test_one_level_bootstrap_of_a_known_distribution() -> None:
    """Bernoulli(0.5) on 400 units: the 95% CI half-width is about 1.96 * 0.5 / 20 = 0.049."""
    values = np.tile([0.0, 1.0], 200)
    estimate = stats.mean_estimate(values, seed=3)
    assert estimate.mean == 0.5
    assert estimate.ci_high - estimate.ci_low == pytest.approx(2 * 0.049, rel=0.1)


def test_coverage_interval_is_recentred_on_its_estimate() -> None:
    """A resample repeats shoppers and sees fewer items: uncorrected, the interval lies below."""
    rng = np.random.default_rng(0)
    raw = {**RAW, "items": rng.integers(0, 300, size=(3, 40))}
    table = metrics.session_table(raw, np.zeros(300, dtype=int), np.arange(300), n_categories=1)
    estimate = metrics.estimate("coverage", [table], 300)
    assert estimate.ci_low <= estimate.mean <= estimate.ci_high


def test_iqm_over_runs_trims_a_quarter_from_each_end() -> None:
    """rliable's IQM of 8 runs: the mean of the middle four."""
    scores = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0])
    assert stats.iqm_over_runs(scores).mean == pytest.approx((2 + 3 + 4 + 5) / 4)


def test_bootstrap_rejects_empty_inputs() -> None:
    with pytest.raises(ValueError, match="n_units = 0 is out of range"):
        stats.bootstrap(lambda index: index.mean(axis=1), 0)
