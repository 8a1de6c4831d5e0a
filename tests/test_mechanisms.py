"""The long-term mechanisms, each switchable: needs (satiation, complements), shoppers who
return for later visits, budget carried across visits — checked by hand on the state."""

from __future__ import annotations

import numpy as np
import pytest

import recenv
from recenv.sim.core import Simulator
from recenv.sim.expectations import expected_outcomes
from recenv.sim.state import CART_ITEMS, CART_VALUE, RETURNING, STEP, VISIT

NO_CLICKS = {"choice": {"no_click_utility": 60.0}}  # nothing shown is ever clicked
SURE_CHECKOUT = {"funnel": {"checkout_bias": 40.0}}  # a non-empty cart is bought at once


def simulator(n: int = 1, **overrides) -> Simulator:
    config = recenv.make_config("small", **overrides)
    sim = Simulator(config, n)
    sim.seed(4, "evaluation")
    sim.start_sessions(np.arange(n))
    return sim


def put_in_cart(sim: Simulator, row: int, item: int) -> None:
    """Place ``item`` in ``row``'s cart as a click-and-cart would."""
    state, items = sim.state, sim.items
    state.cart_items[row, state.cart_count[row]] = item
    state.cart_count[row] += 1
    state.cart_quality_sum[row] += items.quality[item]
    state.cart_embedding_sum[row] += items.embedding[item]
    state.features[row, CART_ITEMS] += 1
    state.features[row, CART_VALUE] += items.price[item]


def step(sim: Simulator, item: int):
    return sim.step(np.full((sim.n_shoppers, 1), item, dtype=np.int64))


def test_a_purchase_satiates_its_category_and_raises_its_complement() -> None:
    sim = simulator(
        dynamics={"satiation": 0.6, "complement_boost": 0.5, "need_recovery": 0.1},
        **NO_CLICKS,
        **SURE_CHECKOUT,
    )
    item = 7
    category = int(sim.items.category[item])
    complement = (category + 1) % sim.params.n_categories
    put_in_cart(sim, 0, item)
    outcome = step(sim, 3)
    assert outcome.purchased[0]
    need = sim.state.need[0]
    # satiated to 1 - 0.6 = 0.4, then the step's recovery closes 10% of the gap to 1
    assert need[category] == pytest.approx(0.4 + 0.1 * 0.6, rel=1e-6)
    # complement raised to 1.5, then recovery pulls it 10% back toward 1
    assert need[complement] == pytest.approx(1.5 - 0.1 * 0.5, rel=1e-6)
    others = np.delete(np.arange(len(need)), [category, complement])
    np.testing.assert_array_equal(need[others], 1.0)


def test_need_enters_the_click_logit_as_need_weight_times_log_need() -> None:
    sim = simulator(dynamics={"satiation": 0.5, "need_weight": 1.5})
    hidden, observation = sim.hidden(), sim.observe()
    before = expected_outcomes(sim, hidden, observation).click_probability[0]
    hidden["need"][0, :] = 0.25
    after = expected_outcomes(sim, hidden, observation).click_probability[0]
    logit = np.log(after / (1 - after)) - np.log(before / (1 - before))
    np.testing.assert_allclose(logit, 1.5 * np.log(0.25), rtol=1e-5)


def test_needs_stay_neutral_when_the_mechanism_is_off() -> None:
    sim = simulator(**SURE_CHECKOUT)
    put_in_cart(sim, 0, 7)
    assert step(sim, 3).purchased[0]
    np.testing.assert_array_equal(sim.state.need, 1.0)


def returning(**shoppers) -> dict:
    return {
        "episode": "shopper",
        "max_steps": 3,
        "shoppers": {"return_bias": 60.0, **shoppers},  # every visit ends in a return
        **NO_CLICKS,
    }


def test_a_returning_shopper_keeps_taste_and_history_and_carries_unspent_budget() -> None:
    sim = simulator(**returning(budget_refill=0.25), funnel={"checkout_bias": 40.0})
    state = sim.state
    base = float(state.base_budget[0])
    put_in_cart(sim, 0, 7)
    price = float(sim.items.price[7])
    for expected_step in (1, 2):
        outcome = step(sim, 3)
        assert state.features[0, STEP] == expected_step
    history, taste = sim.observe()["history"], state.taste.copy()  # drifted by the purchase
    outcome = step(sim, 3)  # the third step ends the visit: the shopper comes back
    assert not outcome.terminated[0] and not outcome.truncated[0]
    assert state.visit[0] == 1 and state.features[0, VISIT] == 1
    assert state.features[0, STEP] == 0 and state.features[0, RETURNING] == 1
    np.testing.assert_array_equal(state.taste, taste)
    np.testing.assert_array_equal(sim.observe()["history"][0, 1:], history[0, :-1])  # kept
    # spent `price` in the first visit; a quarter of the base budget back, capped at the base
    assert state.budget[0] == pytest.approx(min(base - price + 0.25 * base, base), rel=1e-5)


def test_episodes_end_when_the_shopper_leaves_or_the_visits_run_out() -> None:
    leaves = simulator(**returning(return_bias=-60.0))
    outcomes = [step(leaves, 3) for _ in range(3)]
    assert outcomes[-1].terminated[0] and not outcomes[-1].truncated[0]
    capped = simulator(max_visits=2, **returning())
    outcomes = [step(capped, 3) for _ in range(6)]
    assert [bool(o.truncated[0]) for o in outcomes] == [False] * 5 + [True]
    assert capped.state.visit[0] == 1


def test_return_frequency_follows_the_return_model() -> None:
    """4,000 shoppers end a 2-step visit; the share coming back equals the mean of
    sigmoid(bias + satisfaction * patience / patience_mean + purchase * bought)."""
    config_overrides = {
        "episode": "shopper",
        "max_steps": 2,
        "shoppers": {"return_bias": -0.5, "return_satisfaction": 1.0, "return_purchase": 0.0},
        **NO_CLICKS,
    }
    sim = simulator(4000, **config_overrides)
    step(sim, 3)
    patience = sim.state.patience.astype(float).copy()
    params = sim.params
    # the second step costs patience_decay (no click, no purchase, fatigue from the first)
    fatigue = sim.state.fatigue[np.arange(4000), sim.items.category[3]].astype(float)
    patience_left = patience - params.patience_decay - params.boredom * fatigue
    logit = -0.5 + np.maximum(patience_left, 0) / params.patience_mean
    expected = np.mean(1 / (1 + np.exp(-logit)))
    outcome = step(sim, 3)
    came_back = 1 - outcome.terminated.mean()
    assert came_back == pytest.approx(expected, abs=3 * np.sqrt(expected * (1 - expected) / 4000))


def test_later_visits_draw_fresh_responses() -> None:
    """Visit 1 replays none of visit 0's random draws (visits index their own streams)."""
    clicks = {"choice": {"no_click_utility": 0.0}}
    sim = simulator(200, **{**returning(), **clicks})
    first = [step(sim, 3).clicked.copy() for _ in range(3)]
    second = [step(sim, 3).clicked.copy() for _ in range(3)]
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_unknown_episode_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="episode = 'life' is not allowed"):
        recenv.make_config("small", episode="life")
