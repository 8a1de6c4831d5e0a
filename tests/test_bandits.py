"""The contextual bandits: each update rule against a computation by hand or by brute force,
learning a known best slate in a tiny world, config errors, checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import recenv
from agents.bandits.context import context_vector
from agents.bandits.epsilon_greedy import EpsilonGreedyAgent
from agents.bandits.linucb import LinUCBAgent
from agents.bandits.online import PositionModel
from agents.bandits.thompson import ThompsonSamplingAgent
from experiments.factory import build_agent, compose_config
from recenv.sim.calibrated import ClickModel
from recenv.sim.vector import ShoppingVectorEnv

AGENTS = (EpsilonGreedyAgent, LinUCBAgent, ThompsonSamplingAgent)
# A calibrated world of 6 items where items 4 and 1 are the best (logit +2.5 and +1.5 over
# the others), slates of 2 and a lower second position (utility -0.7).
ITEM_EFFECTS = [-1.0, 0.5, -1.0, -1.0, 1.5, -1.0]
BEST_SLATE = [4, 1]


def tiny_world(tmp_path: Path, **overrides: Any) -> recenv.EnvConfig:
    """An ``obd``-like calibrated config with the click model above."""
    model = ClickModel(
        intercept=-2.0,
        item=np.array(ITEM_EFFECTS),
        position=np.array([0.0, -0.7]),
        user_features=("user_feature_0",),
        user_levels=(("a",),),
        user_weights=(np.zeros(1),),
        profiles=np.zeros((1, 1), dtype=np.int64),
        profile_share=np.ones(1),
        item_category=np.array([0, 1, 0, 1, 0, 1]),
        spreads=(1.0, 0.0, 0.0),
        estimation="fixed",
    )
    path = tmp_path / "tiny.json"
    model.save(path)
    return recenv.make_config(
        "obd",
        calibration=str(path),
        catalog={"n_items": 6, "n_categories": 2},
        shoppers={"n_segments": 1},
        slate_size=2,
        history_length=6,
        max_steps=10,
        **overrides,
    )


def observation(query: list[int], step: list[float], n_items: int = 6) -> dict[str, np.ndarray]:
    """A batch of fresh shoppers' observations with the given queries and steps."""
    n = len(query)
    session = np.zeros((n, 9), dtype=np.float32)
    session[:, 0] = step
    return {
        "history": np.full((n, 6), n_items),
        "history_events": np.zeros((n, 6), dtype=np.int64),
        "cart": np.full((n, 5), n_items),
        "session": session,
        "query": np.array(query),
    }


# -- update rules against hand and brute-force computations --------------------------------


def test_position_examination_is_the_smoothed_rate_ratio() -> None:
    positions = PositionModel(2, enabled=True)
    positions.update(np.array([[True, False]] * 30 + [[False, True]] * 10 + [[False, False]] * 960))
    # pooled = (40 + 1) / (2000 + 2); rate_k = (c_k + 10) / (1000 + 10 / pooled)
    pooled = 41 / 2002
    rate = (np.array([30, 10]) + 10) / (1000 + 10 / pooled)
    np.testing.assert_allclose(positions.examination(), rate / rate[0])
    assert positions.examination()[1] == pytest.approx(20 / 40)  # (10 + 10) / (30 + 10)
    assert positions.ctr() == pytest.approx(40 / 2000)
    np.testing.assert_array_equal(PositionModel(2, enabled=False).examination(), [1.0, 1.0])


def test_linucb_matrices_and_bounds_match_a_brute_force_computation(tmp_path: Path) -> None:
    """Li et al.'s Algorithm 1 by loops over the impressions of three updates."""
    config = tiny_world(tmp_path)
    agent = LinUCBAgent(config, alpha=0.8, ridge=2.0, position_debias=False)
    steps = [
        (observation([2, 0], [0, 3]), np.array([[4, 1], [0, 4]]), [[True, False], [False, False]]),
        (observation([1], [5]), np.array([[1, 4]]), [[False, True]]),
        (observation([2, 2], [1, 1]), np.array([[4, 5], [4, 1]]), [[False, False], [True, False]]),
    ]
    d = 6  # bias, 2 query one-hots, 2 clicked shares, progress
    A, b = [2.0 * np.eye(d) for _ in range(6)], [np.zeros(d) for _ in range(6)]
    for batch, slates, clicked in steps:
        agent.update(batch, slates, np.array(clicked))
        contexts = context_vector(batch, np.array([0, 1, 0, 1, 0, 1]), 10)
        for x, slate, clicks in zip(contexts, slates, clicked, strict=True):
            for item, click in zip(slate, clicks, strict=True):
                A[item] += np.outer(x, x)
                b[item] += click * x
    # the second shopper's context by hand: query 0 (of 2 categories), step 3 of 10
    np.testing.assert_allclose(
        context_vector(steps[0][0], np.array([0, 1] * 3), 10)[1], [1, 1, 0, 0, 0, 0.3]
    )
    np.testing.assert_allclose(agent.A, np.array(A))
    np.testing.assert_allclose(agent.b.sum(axis=1), np.array(b))
    probe = observation([0, 2], [2, 7])
    x = context_vector(probe, np.array([0, 1, 0, 1, 0, 1]), 10)
    theta = np.array([np.linalg.solve(A[item], b[item]) for item in range(6)])
    ucb = x @ theta.T + 0.8 * np.sqrt(
        [[xi @ np.linalg.solve(A[item], xi) for item in range(6)] for xi in x]
    )
    np.testing.assert_allclose(agent.scores(probe, deterministic=False), ucb)
    np.testing.assert_allclose(agent.scores(probe, deterministic=True), x @ theta.T)
    np.testing.assert_array_equal(
        agent.act(probe, deterministic=True), np.argsort(-(x @ theta.T), axis=1)[:, :2]
    )


def test_linucb_divides_each_click_by_its_position_examination(tmp_path: Path) -> None:
    agent = LinUCBAgent(tiny_world(tmp_path), ridge=1.0)
    batch = observation([2] * 4, [0] * 4)
    slates = np.array([[4, 1], [1, 4], [4, 1], [1, 4]])
    agent.update(
        batch, slates, np.array([[True, False], [False, True], [False, True], [False, False]])
    )
    kappa = agent.positions.examination()
    # item 4: clicked once at position 0 and once at position 1; item 1: once at position 1
    x = context_vector(batch, np.array([0, 1] * 3), 10)[0]
    expected_b4 = (1 / kappa[0] + 1 / kappa[1]) * x
    theta4 = np.linalg.solve(np.eye(6) + 4 * np.outer(x, x), expected_b4)
    np.testing.assert_allclose(agent.theta[4], theta4)
    assert kappa[1] != 1.0  # one click at 0 and two at 1 in 4 impressions each


def test_thompson_posteriors_count_clicks_and_non_clicks_per_context(tmp_path: Path) -> None:
    agent = ThompsonSamplingAgent(
        tiny_world(tmp_path),
        prior_alpha=2.0,
        prior_beta=3.0,
        context="query",
        position_debias=False,
    )
    shown = [  # (query, slate, clicked)
        (0, [4, 1], [True, False]),
        (0, [4, 2], [False, False]),
        (1, [4, 1], [False, True]),
        (2, [3, 4], [True, False]),
        (0, [1, 4], [False, True]),
    ]
    for query, slate, clicked in shown:
        agent.update(observation([query], [0]), np.array([slate]), np.array([clicked]))
    clicks, trials = np.zeros((3, 6)), np.zeros((3, 6))
    for query, slate, clicked in shown:
        for item, click in zip(slate, clicked, strict=True):
            clicks[query, item] += click
            trials[query, item] += 1
    alpha, beta = agent.posterior()
    np.testing.assert_array_equal(alpha, 2.0 + clicks)
    np.testing.assert_array_equal(beta, 3.0 + trials - clicks)
    # query 0: item 4 has 2 clicks in 3 (mean 4/8), item 1 none in 2 (2/7), unseen 2/5
    assert alpha[0, 4] / (alpha[0, 4] + beta[0, 4]) == pytest.approx(4 / 8)
    means = alpha / (alpha + beta)
    greedy = agent.act(observation([0, 1, 2], [0, 0, 0]), deterministic=True)
    np.testing.assert_array_equal(greedy, np.argsort(-means, axis=1, kind="stable")[:, :2])


def test_thompson_draws_follow_the_beta_posterior(tmp_path: Path) -> None:
    """Item 4's posterior is Beta(3, 1), the others' Beta(1, 1): item 4 must top a draw with
    the probability that a Beta(3, 1) draw beats 5 uniform ones."""
    agent = ThompsonSamplingAgent(tiny_world(tmp_path), position_debias=False)
    agent.counts.clicks[0, 4], agent.counts.impressions[0, 4, 0] = 2.0, 2.0
    slates = agent.act(observation([2] * 40_000, [0] * 40_000))
    # X ~ Beta(3, 1) has density 3x^2; P(X > max U_1..U_5) = E[X^5] = 3 / (3 + 5) = 3 / 8
    share = (slates[:, 0] == 4).mean()
    assert share == pytest.approx(3 / 8, abs=4 * np.sqrt(3 / 8 * 5 / 8 / 40_000))


def test_epsilon_greedy_explores_an_epsilon_share_with_uniform_slates(tmp_path: Path) -> None:
    agent = EpsilonGreedyAgent(tiny_world(tmp_path), epsilon=0.3, smoothing=4.0)
    agent.counts.clicks[0] = [0, 3, 0, 1, 6, 0]
    agent.counts.impressions[0, :, 0] = 20.0
    # ctr = (clicks + 4 * 10 / 120) / (20 + 4): items 4 then 1, whatever the pooled rate
    pooled = 10 / 120
    np.testing.assert_allclose(
        agent.estimates()[0], (np.array([0, 3, 0, 1, 6, 0]) + 4 * pooled) / 24
    )
    n = 30_000
    slates = agent.act(observation([2] * n, [0] * n))
    greedy = (slates == BEST_SLATE).all(axis=1)
    # an explored slate is [4, 1] with probability 1 / 30 (ordered pairs of 6 items)
    expected = 0.3 * (1 - 1 / 30)
    assert (~greedy).mean() == pytest.approx(expected, abs=4 * np.sqrt(expected * 0.7 / n))
    explored_first = slates[~greedy, 0]
    counts = np.bincount(explored_first, minlength=6) / len(explored_first)
    np.testing.assert_allclose(counts, 1 / 6, atol=0.03)  # uniform over the items
    np.testing.assert_array_equal(
        agent.act(observation([2] * 5, [0] * 5), deterministic=True), [BEST_SLATE] * 5
    )


# -- learning a known best slate ---------------------------------------------------------


@pytest.mark.parametrize("cls", AGENTS)
def test_bandits_learn_the_best_slate_of_a_tiny_world(cls: type, tmp_path: Path) -> None:
    """Items 4 then 1 are best; a random ordered pair is [4, 1] with probability 1 / 30."""
    config = tiny_world(tmp_path)
    agent = cls(config, seed=3).learn(ShoppingVectorEnv(32, config=config), 12_000)
    assert agent.steps_done >= 12_000
    fresh = ShoppingVectorEnv(50, config=config, split="evaluation").reset(seed=9)[0]
    np.testing.assert_array_equal(agent.act(fresh, deterministic=True), [BEST_SLATE] * 50)
    # the shuffled training slates estimated position 1's examination: exp(-0.7) = 0.50
    # under a position-based model; the MNL's shared click lowers it a little
    assert 0.35 < agent.positions.examination()[1] < 0.6


# -- configuration and checkpoints -------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "settings", "message"),
    [
        (
            EpsilonGreedyAgent,
            {"epsilon": 1.5},
            r"epsilon_greedy\.epsilon = 1\.5 is out of range; allowed: \[0, 1\]",
        ),
        (
            EpsilonGreedyAgent,
            {"context": "user"},
            r"epsilon_greedy\.context = 'user' is not allowed; choose one of \('none', 'query'\)",
        ),
        (LinUCBAgent, {"ridge": 0.0}, r"linucb\.ridge = 0\.0 is out of range; allowed: \(0, inf\)"),
        (
            LinUCBAgent,
            {"alpha": -1},
            r"linucb\.alpha = -1(\.0)? is out of range; allowed: \[0, inf\)",
        ),
        (
            ThompsonSamplingAgent,
            {"prior_beta": 0},
            r"thompson\.prior_beta = 0(\.0)? is out of range; allowed: \(0, inf\)",
        ),
        (
            ThompsonSamplingAgent,
            {"position_debias": "yes"},
            r"thompson\.position_debias: expected true/false",
        ),
        (
            ThompsonSamplingAgent,
            {"prior": 1},
            r"unknown thompson hyperparameters \['prior'\]; valid: \[",
        ),
    ],
)
def test_config_errors_name_the_field_value_and_range(
    cls: type, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        cls(recenv.make_config("small", slate_size=3), **settings)


@pytest.mark.parametrize("name", ["epsilon_greedy", "linucb", "thompson"])
def test_presets_build_the_agents_on_obd(name: str) -> None:
    cfg = compose_config([f"agent={name}", "env=obd", "agent.position_debias=false"])
    agent = build_agent(cfg)
    assert isinstance(agent, AGENTS[["epsilon_greedy", "linucb", "thompson"].index(name)])
    assert agent.config.position_debias is False and cfg.train.total_steps == 300_000


@pytest.mark.parametrize("cls", AGENTS)
def test_save_then_load_gives_the_same_actions(cls: type, tmp_path: Path) -> None:
    config = tiny_world(tmp_path)
    agent = cls(config, seed=5, context="query") if cls is not LinUCBAgent else cls(config, seed=5)
    agent.learn(ShoppingVectorEnv(16, config=config), 1_000)
    agent.save(tmp_path / "agent")
    loaded = cls.load(tmp_path / "agent")
    probe = ShoppingVectorEnv(64, config=config, split="evaluation").reset(seed=1)[0]
    assert loaded.steps_done == agent.steps_done and loaded.config == agent.config
    np.testing.assert_array_equal(
        loaded.act(probe, deterministic=True), agent.act(probe, deterministic=True)
    )
    # the generator state travels too: the exploring actions match draw for draw
    np.testing.assert_array_equal(loaded.act(probe), agent.act(probe))


@pytest.mark.parametrize("cls", AGENTS)
def test_a_checkpoint_for_another_catalog_is_refused_naming_the_array(
    cls: type, tmp_path: Path
) -> None:
    cls(tiny_world(tmp_path)).save(tmp_path / "agent")
    with pytest.raises(ValueError, match=r"has shape .* expected .* for this env config"):
        cls.load(tmp_path / "agent", env_config=recenv.make_config("small", slate_size=2))
    with pytest.raises(ValueError, match="holds a 'random' agent"):
        from agents.random import RandomAgent

        RandomAgent(tiny_world(tmp_path)).save(tmp_path / "random")
        cls.load(tmp_path / "random")
