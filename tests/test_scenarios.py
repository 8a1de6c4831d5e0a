"""The two scenarios: complementary categories and shops, each against a computation of
its own (by hand, by brute force over a recorded trajectory, or from the model's formula)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import recenv
from agents.evaluation import evaluate, run_sessions
from agents.random import RandomAgent
from agents.scenario_records import ScenarioRecorder
from experiments.factory import compose_config, env_config_from
from recenv import metrics
from recenv.sim.core import Simulator, build_world
from recenv.sim.expectations import expected_outcomes
from recenv.sim.shops import ShopSlates
from tests.test_mechanisms import SURE_CHECKOUT, put_in_cart

NO_DRIFT = {"taste_drift_click": 0.0, "taste_drift_purchase": 0.0}  # affinities stay put
NEEDS = {"satiation": 0.6, "complement_boost": 0.5, "need_recovery": 0.1, "max_need": 3.0}
RING = ";".join(f"{c}:{(c + 1) % 5}" for c in range(5))  # "next" written out on small


def started(config: recenv.EnvConfig, n: int = 1) -> Simulator:
    sim = Simulator(config, n)
    sim.seed(4, "evaluation")
    sim.start_sessions(np.arange(n))
    return sim


def trajectory(config: recenv.EnvConfig, steps: int = 60) -> list[np.ndarray]:
    """Observations, rewards and needs of 32 shoppers under seeded random items."""
    env = recenv.ShoppingVectorEnv(32, config=config, expose_hidden_state=True)
    observation, _ = env.reset(seed=3)
    rng, out = np.random.default_rng(0), []
    for _ in range(steps):
        observation, reward, _, _, info = env.step(rng.integers(0, 100, 32))
        out += [observation["history_events"].copy(), reward, info["hidden"]["need"]]
    return out


# -- complements -----------------------------------------------------------------------


def test_the_ring_written_out_gives_bit_identical_trajectories() -> None:
    """``next`` and the same ring as an explicit map are one world: every step agrees."""
    ring = recenv.make_config("small", dynamics=NEEDS)
    explicit = recenv.make_config("small", dynamics=NEEDS, catalog={"complements": RING})
    for first, second in zip(trajectory(ring), trajectory(explicit), strict=True):
        np.testing.assert_array_equal(first, second)


def test_a_purchase_raises_the_need_of_every_complement_by_the_boost() -> None:
    config = recenv.make_config(
        "small",
        catalog={"complements": "0:1,3;1:2;2:0;3:4;4:0"},
        dynamics={**NEEDS, **NO_DRIFT},
        choice={"no_click_utility": 60.0},  # no clicks: only the cart placed below is bought
        **SURE_CHECKOUT,
    )
    sim = started(config)
    item = int(np.flatnonzero(sim.items.category == 0)[0])
    hidden, observation = sim.hidden(), sim.observe()
    before = expected_outcomes(sim, hidden, observation).click_probability[0]
    put_in_cart(sim, 0, item)
    assert sim.step(np.full((1, 1), item, dtype=np.int64)).purchased[0]
    need = sim.state.need[0]
    # category 0 satiated to 0.4, then 10% of the gap to 1 closed: 0.46
    assert need[0] == pytest.approx(0.46, rel=1e-6)
    # its complements 1 and 3: 1 + 0.5, then 10% back toward 1: 1.45; 2 and 4 untouched
    np.testing.assert_allclose(need[[1, 3]], 1.45, rtol=1e-6)
    np.testing.assert_array_equal(need[[2, 4]], 1.0)
    # click logits move by need_weight * log(need) and nothing else (no drift, no fatigue
    # on items never shown: compare items of categories 1-4 only)
    hidden = sim.hidden()
    hidden["fatigue"][:] = 0.0
    after = expected_outcomes(sim, hidden, sim.observe()).click_probability[0]
    category = sim.items.category
    logit = np.log(after / (1 - after)) - np.log(before / (1 - before))
    for c in (1, 2, 3, 4):
        np.testing.assert_allclose(logit[category == c], np.log(need[c]), rtol=1e-4, atol=1e-6)
    assert (after[np.isin(category, [1, 3])] > before[np.isin(category, [1, 3])]).all()


def test_random_complements_are_drawn_from_the_world_seed_alone() -> None:
    config = recenv.make_config("default", catalog={"complements": "random", "n_complements": 3})
    table = build_world(config).catalog.complements
    assert table.shape == (20, 3)
    for category, row in enumerate(table):  # distinct other categories
        assert len(set(row)) == 3 and category not in row and (row >= 0).all() and (row < 20).all()
    np.testing.assert_array_equal(build_world(config).catalog.complements, table)
    other_seed = recenv.make_config(
        "default", catalog_seed=1, catalog={"complements": "random", "n_complements": 3}
    )
    assert not np.array_equal(build_world(other_seed).catalog.complements, table)
    # the complement stream is the world's own: catalog and population are unchanged
    ring = build_world(recenv.make_config("default"))
    drawn = build_world(config)
    for name in ("category", "embedding", "price", "quality", "appeal"):
        np.testing.assert_array_equal(getattr(ring.catalog, name), getattr(drawn.catalog, name))
    np.testing.assert_array_equal(ring.population.favourites, drawn.population.favourites)


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ({"complements": "0:0"}, "CatalogConfig.complements = '0:0' is out of range"),
        ({"complements": "0:7"}, r"CatalogConfig.complements category = 7 .* \[0, 4\]"),
        ({"complements": "ring"}, "CatalogConfig.complements = 'ring' is out of range; allowed"),
        ({"complements": "0:1;0:2"}, "each category listed once"),
        (
            {"complements": "random", "n_complements": 5},
            r"CatalogConfig.n_complements = 5 .* \[1, n_categories - 1 = 4\]",
        ),
        ({"n_shops": 101}, r"CatalogConfig.n_shops = 101 .* \[0, n_items=100\]"),
        ({"n_shops": -1}, r"CatalogConfig.n_shops = -1 .* \[0, inf\]"),
        ({"reputation_std": -0.5}, r"CatalogConfig.reputation_std = -0.5 .* \[0, inf\]"),
    ],
)
def test_scenario_config_errors_name_field_value_and_range(catalog: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        recenv.make_config("small", catalog=catalog)


def test_shop_actions_need_shops() -> None:
    with pytest.raises(ValueError, match=r"CatalogConfig.n_shops = 0 .* interface.action"):
        recenv.make_config("small", interface={"action": "shops"})


def test_cross_category_records_match_a_brute_force_count() -> None:
    """The evaluation's complement clicks and purchases, recounted by plain loops over the
    same seeded episode: the cart before each step plus the carted click is what a
    checkout buys; a category counts once bought at an earlier step."""
    config = recenv.make_config("cross_category", max_steps=30)
    records = run_sessions(RandomAgent(config, seed=1), config, 40, seed=9)
    env = recenv.ShoppingVectorEnv(40, config=config, split="evaluation")
    observation, _ = env.reset(seed=9)
    agent, catalog = RandomAgent(config, seed=1), env.simulator.catalog
    complements = [set(row[row >= 0].tolist()) for row in catalog.complements]
    bought_before = [set() for _ in range(40)]
    counts = np.zeros((40, 3))  # complement clicks, complement purchases, items purchased
    active = np.ones(40, dtype=bool)
    while active.any():
        cart = observation["cart"].copy()
        observation, _, terminated, truncated, info = env.step(agent.act(observation))
        for n in np.flatnonzero(active):
            wanted = set().union(*(complements[c] for c in bought_before[n]))
            clicked = int(info["clicked_item"][n])
            counts[n, 0] += clicked >= 0 and int(catalog.category[clicked]) in wanted
            if info["purchase"][n]:
                bought = [int(i) for i in cart[n] if i < catalog.n_items]
                bought += [clicked] if info["cart"][n] else []
                categories = [int(catalog.category[i]) for i in bought]
                counts[n, 1] += sum(c in wanted for c in categories)
                counts[n, 2] += len(bought)
                bought_before[n].update(categories)
        active &= ~(terminated | truncated)
    assert counts[:, 0].sum() > 5 and counts[:, 1].sum() > 2  # the check has material
    np.testing.assert_array_equal(records["complement_clicks"], counts[:, 0])
    np.testing.assert_array_equal(records["complement_purchases"], counts[:, 1])
    np.testing.assert_array_equal(records["items_purchased"], counts[:, 2])
    assert records["items_purchased"].sum() >= records["purchases"].sum()


def test_the_recorder_counts_the_same_on_torch_tensors() -> None:
    """The device evaluation's records: one code path, numpy or torch, equal counts."""
    config = recenv.make_config("small", catalog={"n_shops": 3}, dynamics=NEEDS)
    catalog = build_world(config).catalog
    rng = np.random.default_rng(5)
    on_numpy = ScenarioRecorder(config, catalog, 8)
    on_torch = ScenarioRecorder(config, catalog, 8, device="cpu")
    for _ in range(30):
        cart = np.where(rng.random((8, 5)) < 0.5, rng.integers(0, 100, (8, 5)), 100)
        step = (
            np.where(rng.random(8) < 0.5, rng.integers(0, 100, 8), -1),
            rng.random(8) < 0.5,
            rng.random(8) < 0.5,
            rng.random(8) < 0.9,
        )
        on_numpy.before_step(cart)
        on_numpy.after_step(*step)
        on_torch.before_step(torch.as_tensor(cart))
        on_torch.after_step(*(torch.as_tensor(values) for values in step))
    expected = on_numpy.records()
    assert expected["complement_clicks"].sum() > 0 and expected["shop_purchases"].sum() > 0
    for name, values in on_torch.records().items():
        np.testing.assert_allclose(values, expected[name], err_msg=name)


# -- metrics ---------------------------------------------------------------------------

# Two sessions on the 6-item catalog of tests/test_metrics.py, items 0-2 in shop 0
# (reputation 1), items 3-5 in shop 1 (reputation -1)
SCENARIO_RAW = {
    "return": np.array([1.0, 2.0]),
    "steps": np.array([2.0, 2.0]),
    "clicks": np.array([2.0, 2.0]),
    "revenue": np.zeros(2),
    "purchases": np.array([1.0, 1.0]),
    "items": np.array([[0, 3], [4, 5]]),
    "complement_clicks": np.array([1.0, 0.0]),
    "complement_purchases": np.array([0.0, 1.0]),
    "items_purchased": np.array([1.0, 3.0]),
    "shop_purchases": np.array([[1.0, 0.0], [2.0, 1.0]]),
    "reputation_purchased": np.array([1.0, 1.0]),
}


def test_scenario_metrics_by_hand() -> None:
    reputation = np.array([1.0, 1.0, 1.0, -1.0, -1.0, -1.0])
    table = metrics.session_table(
        SCENARIO_RAW, np.array([0, 0, 1, 1, 2, 2]), np.arange(6), 3, reputation=reputation
    )
    expected = {
        "cross_category_click_share": 1 / 4,  # ratio of sums: (1 + 0) / (2 + 2)
        "cross_category_purchase_share": 1 / 4,  # (0 + 1) / (1 + 3)
        "shop_purchase_hhi": 0.75**2 + 0.25**2,  # pooled purchases 3 and 1 of 4
        "shop_reputation_exposure": -2 / 4,  # shown 1, -1, -1, -1
        "shop_purchase_reputation": 2 / 4,
    }
    assert set(expected) == {chosen.name for chosen in metrics.SCENARIO_METRICS}
    for name, value in expected.items():
        assert metrics.value(name, table, 6) == pytest.approx(value), name
    summary = metrics.summarise([table], 6)
    assert set(summary) == {m.name for m in metrics.METRICS} | set(expected)
    assert summary["shop_purchase_hhi"].mean == pytest.approx(0.625)
    assert set(
        metrics.summarise(
            [
                metrics.session_table(
                    {
                        k: v
                        for k, v in SCENARIO_RAW.items()
                        if "shop" not in k and "reputation" not in k
                    },
                    np.array([0, 0, 1, 1, 2, 2]),
                    np.arange(6),
                    3,
                )
            ],
            6,
        )
    ) == {m.name for m in metrics.METRICS} | {
        "cross_category_click_share",
        "cross_category_purchase_share",
    }


# -- shops -----------------------------------------------------------------------------


def test_shops_are_drawn_from_the_world_seed_with_every_shop_present() -> None:
    world = build_world(recenv.make_config("shops"))
    catalog = world.catalog
    sizes = np.bincount(catalog.shop, minlength=25)
    assert catalog.n_shops == 25 and (sizes >= 1).all() and sizes[0] > sizes[-1]
    np.testing.assert_array_equal(
        build_world(recenv.make_config("shops")).catalog.shop, catalog.shop
    )
    plain = build_world(recenv.make_config("default")).catalog
    np.testing.assert_array_equal(plain.embedding, catalog.embedding)  # its own stream
    features = recenv.ShoppingEnv(preset="shops").item_features
    np.testing.assert_array_equal(
        features["shop_reputation"], catalog.shop_reputation[catalog.shop]
    )


def test_a_shop_action_shows_that_shops_most_popular_items() -> None:
    config = recenv.make_config("shops", slate_size=3, interface={"action": "shops"})
    env = recenv.ShoppingVectorEnv(6, config=config)
    env.reset(seed=0)
    assert env.single_action_space == recenv.ShoppingEnv(config=config).action_space
    assert env.single_action_space.n == 25
    catalog = env.simulator.catalog
    shops = np.array([0, 3, 7, 24, 11, 3])
    env.step(shops)
    shown = env.simulator.state.history_items[:, :3]  # the ring's first step, last item first
    for row, shop in enumerate(shops):
        mine = np.flatnonzero(catalog.shop == shop)
        expected = mine[np.argsort(catalog.popularity_rank[mine])][:3]
        np.testing.assert_array_equal(shown[row, ::-1], expected)
    with pytest.raises(ValueError, match=r"action shop id = 25 .* 0 <= id < 25"):
        env.step(np.full(6, 25))


def test_a_shop_slate_skips_masked_items_then_fills_with_them() -> None:
    shop = np.array([0, 0, 0, 1, 1, 0])
    rank = np.array([3, 0, 5, 1, 2, 4])  # shop 0 by popularity: items 1, 0, 5, 2
    slates = ShopSlates(shop, rank, 2)
    allowed = np.ones((3, 6), dtype=bool)
    allowed[1, 0] = False  # row 1 may not see item 0
    allowed[2, [1, 0, 5]] = False  # row 2 may see only item 2 of shop 0
    result = slates.slates(np.array([0, 0, 0]), allowed, 3)
    np.testing.assert_array_equal(result, [[1, 0, 5], [1, 5, 2], [2, 1, 0]])
    with pytest.raises(ValueError, match=r"EnvConfig.slate_size = 3 .* \[1, 2\]"):
        slates.check_fits(3)


def test_reputation_moves_click_and_cart_logits_by_its_weights() -> None:
    """Same world and shoppers with and without reputation effects: each item's click
    logit shifts by 0.5 r and its cart logit by 0.8 r (r its shop's reputation)."""
    weights = {"reputation_click_weight": 0.0, "reputation_cart_weight": 0.0}
    with_effect = started(recenv.make_config("shops"), 4)
    without = started(recenv.make_config("shops", catalog=weights), 4)
    reputation = with_effect.catalog.item_reputation()
    on, off = (
        expected_outcomes(sim, sim.hidden(), sim.observe()) for sim in (with_effect, without)
    )

    def logit(p):
        return np.log(p / (1 - p))

    click_shift = logit(on.click_probability) - logit(off.click_probability)
    np.testing.assert_allclose(click_shift, np.tile(0.5 * reputation, (4, 1)), atol=2e-5)
    fits = (on.cart_probability > 0) & (off.cart_probability > 0)
    cart_shift = logit(on.cart_probability) - logit(off.cart_probability)
    np.testing.assert_allclose(
        cart_shift[fits], np.broadcast_to(0.8 * reputation, fits.shape)[fits], atol=2e-5
    )


def test_reputation_changes_simulated_click_rates_as_the_model_says() -> None:
    """2,000 shoppers each shown the most reputable shop's top item at step 0: the
    simulated CTR, with and without the reputation effect, matches the model's mean click
    probability within 4 standard errors, and the effect raises it."""
    rates = {}
    for name, weight in (("on", 0.5), ("off", 0.0)):
        config = recenv.make_config("shops", catalog={"reputation_click_weight": weight})
        sim = started(config, 2000)
        catalog = sim.catalog
        best = np.flatnonzero(catalog.shop == np.argmax(catalog.shop_reputation))
        item = best[np.argmin(catalog.popularity_rank[best])]
        predicted = expected_outcomes(
            sim, sim.hidden(), sim.observe(), np.full((2000, 1), item)
        ).click_probability.mean()
        clicked = sim.step(np.full((2000, 1), item, dtype=np.int64)).clicked.mean()
        error = np.sqrt(predicted * (1 - predicted) / 2000)
        assert abs(clicked - predicted) < 4 * error, (name, clicked, predicted)
        rates[name] = clicked
    assert rates["on"] > rates["off"] + 0.03


def test_shop_metrics_follow_the_evaluation() -> None:
    """Showing only the most reputable shop's items: its exposure is that shop's reputation
    and every purchase is there (HHI 1)."""
    config = recenv.make_config("shops", max_steps=15)
    catalog = build_world(config).catalog
    best = int(np.argmax(catalog.shop_reputation))
    items = np.flatnonzero(catalog.shop == best)

    class OneShop:
        def act(self, observation, deterministic=False):
            step = observation["session"][:, 0].astype(int)
            return items[step % len(items)]

    summary = evaluate(OneShop(), config, 100, seed=2).summary
    assert summary["shop_reputation_exposure"].mean == pytest.approx(
        float(catalog.shop_reputation[best]), rel=1e-6
    )
    assert summary["shop_purchase_hhi"].mean == pytest.approx(1.0)
    assert summary["shop_purchase_reputation"].mean == pytest.approx(
        float(catalog.shop_reputation[best]), rel=1e-6
    )


@pytest.mark.parametrize("preset", ["cross_category", "shops"])
def test_the_presets_compose_through_hydra(preset: str) -> None:
    config = env_config_from(compose_config([f"env={preset}"]))
    assert config == recenv.make_config(preset)
    assert config.dynamics.complement_boost > 0 or config.catalog.n_shops > 0
