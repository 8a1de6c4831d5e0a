"""The multinomial-logit choice matches probabilities worked out by hand.

``P(position k) = exp(u_k) / (exp(u_none) + sum_j exp(u_j))`` and ``P(no click) =
exp(u_none) / (same)``. ``sample_position(utilities, shopper, u_none, uniform)`` inverts
that CDF over row ``shopper`` in the order (slate positions..., no click), so a uniform
draw below the first cumulative weight clicks position 0, and so on; the slate size
means no click.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from recenv import ShoppingVectorEnv
from recenv.sim.choice import click_probability_alone, sample_position
from recenv.sim.expectations import expected_outcomes

LN2 = math.log(2.0)
UNIFORM_GRID = (np.arange(10_000) + 0.5) / 10_000  # evenly spaced quantiles of U(0, 1)


def position(utilities: list[float], no_click_utility: float, uniform: float) -> int:
    """``sample_position`` on a slate given as the middle row of a batch of three.

    The other rows hold a dominant utility (50, always clicked at position 0), so reading
    the wrong shopper's row would show up as a click on position 0.
    """
    batch = np.full((3, len(utilities)), 50.0)
    batch[1] = utilities
    return int(sample_position(batch, 1, no_click_utility, uniform))


def mnl_probabilities(utilities: list[float], no_click_utility: float) -> NDArray[np.float64]:
    """Reference (positions..., no click) probabilities, computed in numpy independently."""
    weights = np.exp(np.array([*utilities, no_click_utility]))
    return weights / weights.sum()


@pytest.mark.parametrize(
    ("uniform", "expected"),
    [
        # u = [ln 2, 0], u_none = 0: weights 2, 1, 1, total 4 -> P = 2/4, 1/4, 1/4,
        # cumulative 0.50, 0.75, 1.00.
        (0.01, 0),  # 0.01 < 0.50
        (0.49, 0),  # 0.49 < 0.50
        (0.51, 1),  # 0.50 <= 0.51 < 0.75
        (0.74, 1),  # 0.74 < 0.75
        (0.76, 2),  # 0.75 <= 0.76: no click (= the slate size, 2)
        (0.99, 2),  # 0.99 < 1.00: still no click
    ],
)
def test_two_items_ln2_and_zero(uniform: float, expected: int) -> None:
    assert position([LN2, 0.0], 0.0, uniform) == expected


@pytest.mark.parametrize(
    ("uniform", "expected"),
    [
        # u = [1, 1], u_none = 1: weights e, e, e -> each 1/3; cumulative 1/3, 2/3, 1.
        (0.33, 0),  # 0.33 < 0.3333
        (0.34, 1),  # 0.3333 <= 0.34 < 0.6667
        (0.66, 1),  # 0.66 < 0.6667
        (0.67, 2),  # 0.6667 <= 0.67: no click
    ],
)
def test_two_items_equal_to_no_click(uniform: float, expected: int) -> None:
    assert position([1.0, 1.0], 1.0, uniform) == expected


@pytest.mark.parametrize(
    ("uniform", "expected"),
    [
        # u = [-inf, 0], u_none = 0 (an item not on sale yet): weights 0, 1, 1 -> P = 0, 1/2,
        # 1/2; position 0 is never clicked, however small the draw.
        (1e-12, 1),  # cumulative after position 0 is 0: not below; 1e-12 < 0.5
        (0.49, 1),  # 0.49 < 0.5
        (0.51, 2),  # 0.5 <= 0.51: no click
    ],
)
def test_unreleased_item_is_never_clicked(uniform: float, expected: int) -> None:
    assert position([-math.inf, 0.0], 0.0, uniform) == expected


@pytest.mark.parametrize(
    ("uniform", "expected"),
    [
        # u = [1000 + ln 2, 1000], u_none = 1000: exp(1000) overflows, but the weights are
        # shifted by the largest utility: 2, 1, 1 as in the first example -> 2/4, 1/4, 1/4.
        (0.49, 0),  # 0.49 < 0.50
        (0.51, 1),  # 0.50 <= 0.51 < 0.75
        (0.76, 2),  # 0.75 <= 0.76: no click
    ],
)
def test_huge_utilities_do_not_overflow(uniform: float, expected: int) -> None:
    assert position([1000.0 + LN2, 1000.0], 1000.0, uniform) == expected


@pytest.mark.parametrize(
    ("utility", "no_click_utility", "expected"),
    [
        (0.0, 0.0, 0.5),  # e^0 / (e^0 + e^0) = 1/2
        (math.log(3.0), 0.0, 0.75),  # 3 / (1 + 3) = 3/4
        (1.0, 1.0 + LN2, 1.0 / 3.0),  # e / (2e + e) = 1/3
        (2.0, 2.0 + math.log(4.0), 0.2),  # 1 / (4 + 1) = 1/5
        (-math.inf, 0.0, 0.0),  # an item not on sale yet
        (-1000.0, 0.0, 0.0),  # 1 / (1 + e^1000) underflows to 0, no overflow error
        (1000.0, 0.0, 1.0),  # 1 / (1 + e^-1000) = 1
    ],
)
def test_click_probability_alone(utility: float, no_click_utility: float, expected: float) -> None:
    assert click_probability_alone(utility, no_click_utility) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("utilities", "no_click_utility"),
    [
        ([LN2, 0.0], 0.0),  # 1/2, 1/4, 1/4
        ([1.0, 1.0], 1.0),  # 1/3 each
        ([0.0], 0.0),  # one item alone: 1/2, 1/2
        ([0.5, -0.3, 1.2, -2.0], 2.0),  # a slate of 4 against the default no-click utility
        ([-math.inf, 1.0, 0.0], -1.0),  # unreleased item first
    ],
)
def test_sampling_frequencies_match_mnl(utilities: list[float], no_click_utility: float) -> None:
    """On evenly spaced uniforms, each outcome's share is its MNL probability (to 1e-3)."""
    outcomes = [position(utilities, no_click_utility, u) for u in UNIFORM_GRID]
    frequencies = np.bincount(outcomes, minlength=len(utilities) + 1) / len(UNIFORM_GRID)
    np.testing.assert_allclose(
        frequencies, mnl_probabilities(utilities, no_click_utility), atol=1e-3
    )


def test_single_item_click_probability_agrees_with_sampling() -> None:
    """``click_probability_alone`` is the one-item case of ``sample_position``."""
    for utility in (-2.0, 0.0, 0.7, 3.0):
        share = np.mean([position([utility], 0.5, u) == 0 for u in UNIFORM_GRID])
        assert share == pytest.approx(click_probability_alone(utility, 0.5), abs=1e-3)


def test_simulator_click_rate_matches_expected_click_probability() -> None:
    """End to end: the simulator's clicks follow the MNL its expectations kernel predicts."""
    n_shoppers = 4000
    env = ShoppingVectorEnv(
        n_shoppers, preset="small", expose_hidden_state=True, choice={"position_bias": 0.0}
    )
    observation, info = env.reset(seed=0)
    items = np.arange(n_shoppers) % env.config.catalog.n_items  # a fixed item per shopper
    predicted = expected_outcomes(
        env.simulator, info["hidden"], observation, items[:, None]
    ).click_probability[:, 0]
    _, _, _, _, info = env.step(items)
    observed = info["click"].astype(np.float64)
    # Clicks are independent Bernoulli(p_i), so Var(mean click) = sum_i p_i (1 - p_i) / n^2
    # and the standard error of the mean is sqrt(sum_i p_i (1 - p_i)) / n (about 0.005).
    standard_error = math.sqrt(np.sum(predicted * (1.0 - predicted))) / n_shoppers
    assert 0.05 < predicted.mean() < 0.95  # an informative comparison, not 0 vs 0
    assert abs(observed.mean() - predicted.mean()) < 4.0 * standard_error
