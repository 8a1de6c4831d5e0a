"""The worked example of CONTRIBUTING.md ("A new dynamics effect"): the promotion effect.

``dynamics.promotion_boost`` (one config field) is read by ``dynamics.promotion_utility``
(one function), called once in ``choice.item_utility``: each session the shop promotes
category ``session mod n_categories``, whose items gain ``promotion_boost`` of click utility.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import recenv
from recenv.sim.core import Simulator
from recenv.sim.expectations import expected_outcomes

BOOST = 0.7
SESSION = 13  # small has 5 categories: session 13 promotes category 13 mod 5 = 3


def simulator(boost: float, n_shoppers: int = 8) -> Simulator:
    config = recenv.make_config("small", dynamics={"promotion_boost": boost})
    sim = Simulator(config, n_shoppers)
    sim.seed(3, "evaluation")
    sim.state.session[:] = SESSION
    sim.start_sessions(np.arange(n_shoppers))
    return sim


def click_logit(sim: Simulator) -> np.ndarray:
    """``log(p / (1 - p)) = u - no_click_utility`` of every item shown alone, per shopper."""
    p = expected_outcomes(sim, sim.hidden(), sim.observe()).click_probability
    return np.log(p) - np.log1p(-p)


def test_the_promoted_category_gains_exactly_the_boost_in_the_click_logit() -> None:
    off, on = simulator(0.0), simulator(BOOST)
    category = off.items.category
    assert off.params.n_categories == 5
    promoted = category == SESSION % 5
    assert promoted.any() and not promoted.all()
    # the same shoppers (same streams) with and without the promotion
    np.testing.assert_array_equal(off.state.taste, on.state.taste)
    gain = click_logit(on) - click_logit(off)  # (shoppers, items)
    np.testing.assert_allclose(gain[:, promoted], BOOST, atol=1e-6)
    np.testing.assert_allclose(gain[:, ~promoted], 0.0, atol=1e-6)


def test_the_step_samples_from_the_boosted_utility() -> None:
    """One item shown alone at the top: the step's own utility (its slate scratch) is the
    unboosted one plus the boost, and P(click) = 1 / (1 + exp(u0 - u - boost))."""
    off, on = simulator(0.0, 1), simulator(BOOST, 1)
    item = int(np.flatnonzero(off.items.category == SESSION % 5)[0])
    slate = np.full((1, 1), item, dtype=np.int64)
    off.step(slate), on.step(slate)
    before, after = off.state.slate_utility[0, 0], on.state.slate_utility[0, 0]
    assert after == pytest.approx(before + BOOST, abs=1e-12)
    no_click = off.params.no_click_utility
    by_hand = 1.0 / (1.0 + math.exp(no_click - before - BOOST))
    # expected_outcomes is read before the step: compare with a fresh shopper's first step
    fresh = simulator(BOOST, 1)
    expected = expected_outcomes(fresh, fresh.hidden(), fresh.observe(), slate)
    assert expected.click_probability[0, 0] == pytest.approx(by_hand, rel=1e-6)


def test_promotions_raise_the_click_share_of_the_promoted_category() -> None:
    """4,000 shoppers shown one random item: promoted items are clicked more often."""
    rng = np.random.default_rng(0)
    shares = []
    for boost in (0.0, 1.5):
        sim = simulator(boost, 4000)
        items = rng.integers(0, sim.params.n_items, 4000)
        clicked = sim.step(items[:, None]).clicked
        promoted = sim.items.category[items] == SESSION % 5
        shares.append(clicked[promoted].mean() - clicked[~promoted].mean())
    assert shares[1] > shares[0] + 0.05


def test_the_default_leaves_trajectories_unchanged() -> None:
    """Off by default (golden trajectories, recorded before the field existed, still pass:
    tests/test_golden.py); any boost changes them, so that test would notice."""
    assert recenv.DynamicsConfig().promotion_boost == 0.0

    def run(**overrides: object) -> list[np.ndarray]:
        env = recenv.ShoppingVectorEnv(64, preset="default", **overrides)
        env.reset(seed=5)
        actions = np.random.default_rng(1).integers(0, env.config.catalog.n_items, (60, 64))
        return [env.step(action)[1] for action in actions]

    default = run()
    np.testing.assert_array_equal(default, run(dynamics={"promotion_boost": 0.0}))
    assert not np.array_equal(default, run(dynamics={"promotion_boost": 1.0}))


def test_a_negative_boost_is_refused_naming_field_value_and_range() -> None:
    with pytest.raises(ValueError, match=r"promotion_boost = -1.0 is out of range; allowed: \[0"):
        recenv.make_config("small", dynamics={"promotion_boost": -1.0})
