"""The logged-reward rule (``agents/rule.py``): its estimates, its rule, its checkpoint, its bar.

Rates and scores are checked against numbers worked out by hand on a hand-made log; the
rotation rule against a plain-Python reference on real observations; and the rule against
random on the ``small`` scenario with a paired CI (chance level: a difference of zero).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import recenv
from agents.base import MemoryLogger
from agents.evaluation import evaluate, paired_difference
from agents.logs import InteractionLog
from agents.random import RandomAgent
from agents.rule import RuleAgent
from experiments.factory import build_agent, compose_config, env_config_from
from recenv import ShoppingEnv, ShoppingVectorEnv

SMALL = recenv.make_config("small")
REPO = Path(__file__).resolve().parent.parent
VIEWED, CLICKED, CARTED, BOUGHT = 1, 2, 3, 4  # history event codes (the env card)


def hand_made_log(history_length: int) -> InteractionLog:
    """Two sessions over items 0-3, one item per step, rows shuffled (order must not matter).

    Session 7, steps 0-4: item 0 clicked + carted, item 1 shown, item 0 clicked (not
    carted), item 2 clicked + carted and the cart bought at once (rows of steps 0 and 3
    purchased), item 0 clicked on the last step (cart unknown). Session 9, steps 0-2: item 1
    clicked + carted (never bought), item 3 shown, item 1 shown. The event of step t's
    impression is in the observation of step t + 1, history position 0.
    """
    # (session, step, item, clicked, purchased, event seen at the next step)
    rows = [
        (7, 0, 0, True, True, CARTED),
        (7, 1, 1, False, False, VIEWED),
        (7, 2, 0, True, False, CLICKED),
        (7, 3, 2, True, True, BOUGHT),
        (7, 4, 0, True, False, None),
        (9, 0, 1, True, False, CARTED),
        (9, 1, 3, False, False, VIEWED),
        (9, 2, 1, False, False, None),
    ]
    events = np.zeros((len(rows), history_length), dtype=np.int64)
    for index, row in enumerate(rows):
        if row[1] > 0:  # the previous row is the same session's previous step
            events[index, 0] = rows[index - 1][5]
    features = np.zeros((len(rows), 8), dtype=np.float32)
    features[:, 0] = [row[1] for row in rows]
    order = np.array([5, 2, 7, 0, 4, 1, 6, 3])
    return InteractionLog(
        observation={"history_events": events[order], "session": features[order]},
        item=np.array([row[2] for row in rows])[order],
        position=np.zeros(len(rows), dtype=np.int64),
        clicked=np.array([row[3] for row in rows])[order],
        purchased=np.array([row[4] for row in rows])[order],
        session=np.array([row[0] for row in rows])[order],
    )


@pytest.mark.parametrize("purchase_reward", ["revenue", "count"])
def test_rates_and_scores_match_hand_computed_values(purchase_reward: str) -> None:
    config = recenv.make_config(
        "small",
        catalog={"n_items": 4, "n_categories": 2},
        funnel={
            "reward_click": 0.3,
            "reward_cart": 0.5,
            "reward_purchase": 2.0,
            "purchase_reward": purchase_reward,
        },
    )
    agent = RuleAgent(config, prior_strength=2.0)
    agent.fit(hand_made_log(config.history_length))
    # Pooled: 5 clicks / 8 shown = 0.625; 3 carts / 4 clicks of known cart = 0.75 (item 0's
    # last click is unknown); 2 purchases / 5 clicks = 0.4. Pseudo-count a = 2:
    # click  item 0 (3 + 2 * .625) / (3 + 2) = .85, item 1 (1 + 1.25) / 5 = .45,
    #        item 2 (1 + 1.25) / 3 = .75, item 3 (0 + 1.25) / 3 = .41667
    # cart   item 0 (1 + 1.5) / (2 + 2) = .625, item 1 (1 + 1.5) / 3, item 2 (1 + 1.5) / 3,
    #        item 3 (0 + 1.5) / (0 + 2) = .75
    # buy    item 0 (1 + .8) / (3 + 2) = .36, item 1 (0 + .8) / 3, item 2 (1 + .8) / 3 = .6,
    #        item 3 (0 + .8) / 2 = .4
    click = np.array([0.85, 0.45, 0.75, 1.25 / 3])
    cart = np.array([0.625, 2.5 / 3, 2.5 / 3, 0.75])
    buy = np.array([0.36, 0.8 / 3, 0.6, 0.4])
    np.testing.assert_allclose(agent.rates["click_rate"], click)
    np.testing.assert_allclose(agent.rates["cart_rate"], cart)
    np.testing.assert_allclose(agent.rates["purchase_rate"], buy)
    price = ShoppingEnv(config).item_features["price"].astype(float)
    value = price if purchase_reward == "revenue" else np.ones(4)
    np.testing.assert_allclose(agent.scores, click * (0.3 + 0.5 * cart + 2.0 * buy * value))


def reference_slate(
    agent: RuleAgent, history: list[int], cart: list[int], step: int
) -> tuple[list[int], set[int]]:
    """The rule written plainly for one shopper: its slate and the categories it blocks.

    Candidates are ranked by (seen, category already in the slate, category blocked,
    -score): a seen item only when nothing else is left, a blocked category only when
    every unseen item of a new category is blocked.
    """
    n_items, slate_size = len(agent.scores), agent.env_config.slate_size
    recent = history[: min(step, agent.rotation_window) * slate_size]
    blocked = {int(agent.item_category[item]) for item in recent if item < n_items}
    seen = set(history) | set(cart)
    slate: list[int] = []
    for _ in range(slate_size):
        in_slate = {int(agent.item_category[item]) for item in slate}
        slate.append(
            min(
                (item for item in range(n_items) if item not in slate),
                key=lambda item: (
                    item in seen,
                    int(agent.item_category[item]) in in_slate,
                    int(agent.item_category[item]) in blocked,
                    -agent.scores[item],
                    item,
                ),
            )
        )
    return slate, blocked


@pytest.mark.parametrize(
    ("slate_size", "rotation_window", "strict"),
    [(1, 4, True), (1, 9, False), (3, 1, False), (3, 2, False)],
)
def test_rotation_rule_on_real_observations(
    slate_size: int, rotation_window: int, strict: bool
) -> None:
    """On 300 steps of 16 shoppers (the rule acting), every action is the reference's.

    ``strict``: with 5 categories and at most 4 blocked, a fresh category is always left,
    so no shown item is seen and no category was shown in the last ``rotation_window`` steps.
    """
    config = recenv.make_config(
        "small", slate_size=slate_size, shoppers={"returning_fraction": 0.5}
    )
    agent = RuleAgent(config, seed=3, rotation_window=rotation_window)
    agent.learn(ShoppingVectorEnv(16, config=config), 2_000)
    env = ShoppingVectorEnv(16, config=config)
    observation, _ = env.reset(seed=11)
    checked_blocking = 0
    for _ in range(300):
        action = agent.act(observation).reshape(16, slate_size)
        for shopper in range(16):
            history = observation["history"][shopper].tolist()
            cart = observation["cart"][shopper].tolist()
            step = int(observation["session"][shopper, 0])
            slate, blocked = reference_slate(agent, history, cart, step)
            assert action[shopper].tolist() == slate
            checked_blocking += bool(blocked)
            if strict:
                assert not set(slate) & (set(history) | set(cart))
                assert not {int(agent.item_category[item]) for item in slate} & blocked
        observation, *_ = env.step(action if slate_size > 1 else action[:, 0])
    assert checked_blocking > 1_000  # the rule was exercised, not only on empty histories


def test_rotation_ignores_a_returning_shoppers_past_picks() -> None:
    """At step 0 nothing was shown this session: no category is blocked, whatever the past."""
    config = recenv.make_config("small", shoppers={"returning_fraction": 1.0})
    observation, _ = ShoppingVectorEnv(8, config=config).reset(seed=5)
    assert (observation["history"] < config.catalog.n_items).any()
    assert not RuleAgent(config, rotation_window=9).blocked_categories(observation).any()


def test_checkpoint_round_trip_acts_identically(tmp_path: Path) -> None:
    agent = RuleAgent(SMALL, seed=4, click_weight=0.05, prior_strength=3.0, rotation_window=2)
    agent.learn(ShoppingVectorEnv(16, config=SMALL), 2_000)
    agent.save(tmp_path / "rule")
    loaded = RuleAgent.load(tmp_path / "rule")
    env = ShoppingVectorEnv(32, config=SMALL)
    observation, _ = env.reset(seed=8)
    rng = np.random.default_rng(8)
    for _ in range(5):
        np.testing.assert_array_equal(loaded.act(observation), agent.act(observation))
        observation, *_ = env.step(rng.integers(0, SMALL.catalog.n_items, 32))
    assert loaded.hyperparameters == agent.hyperparameters
    assert (loaded.seed, loaded.steps_done) == (4, agent.steps_done)
    np.testing.assert_array_equal(loaded.scores, agent.scores)


def test_checkpoint_without_rates_raises(tmp_path: Path) -> None:
    RuleAgent(SMALL).save(tmp_path / "rule")
    (tmp_path / "rule" / "arrays.npz").unlink()
    with pytest.raises(ValueError, match="click_rate"):
        RuleAgent.load(tmp_path / "rule")


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"rotation_windw": 3}, r"rotation_windw.*valid: \['click_weight'"),
        ({"rotation_window": -1}, r"rule.rotation_window = -1 .*\[0, inf\)"),
        ({"prior_strength": -0.5}, r"rule.prior_strength = -0.5"),
        ({"click_weight": -0.1}, r"rule.click_weight = -0.1"),
    ],
)
def test_bad_hyperparameters_raise_naming_the_field(hyperparameters: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RuleAgent(SMALL, **hyperparameters)


def test_refits_give_a_learning_curve() -> None:
    """``refit_interval`` refits on the growing log: a callback (and fit) per 1,000 steps."""
    agent = RuleAgent(SMALL, refit_interval=1_000)
    seen: list[int] = []
    logger = MemoryLogger()
    agent.learn(
        ShoppingVectorEnv(20, config=SMALL), 3_000, logger, lambda a: seen.append(a.steps_done)
    )
    assert seen == [1_000, 2_000, 3_000]
    assert logger.scalars["train/logged_impressions"][0][0] == 3_000


def test_rule_beats_random_on_the_same_shoppers() -> None:
    """Paired 95% CI of (rule - random) return on 500 ``small`` shoppers lies above zero."""
    agent = RuleAgent(SMALL, seed=0).learn(ShoppingVectorEnv(32, config=SMALL), 10_000)
    rule = evaluate(agent, SMALL, 500, seed=2024)
    random = evaluate(RandomAgent(SMALL, seed=0), SMALL, 500, seed=2024)
    difference = paired_difference(rule, random, "return")
    assert difference.ci_low > 0, f"the rule does not beat random: {difference}"


def test_shipped_config_holds_the_tuned_values() -> None:
    """``agent=rule`` composes, builds a RuleAgent, and carries what tune_rule.py chose."""
    cfg = compose_config(["agent=rule", "env=small"])
    agent = build_agent(cfg, env_config_from(cfg))
    tuned = json.loads((REPO / "benchmarks/results/rule_tuning.json").read_text())
    assert isinstance(agent, RuleAgent)
    assert tuned["tuning_seed"] != cfg.eval.seed
    for name, value in tuned["chosen"].items():
        assert getattr(agent, name) == value, name
