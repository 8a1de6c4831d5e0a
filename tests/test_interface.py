"""The agent interface: repeated slate items, scoring actions, the compact observation,
masks, the spec's horizon, checked against independent references (brute force or hand)."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import recenv
from recenv import ShoppingEnv, ShoppingVectorEnv
from recenv.sim.encoding import item_feature_matrix
from recenv.sim.scoring import top_k
from recenv.sim.spaces import SlateSpace, replace_repeats
from recenv.sim.state import SESSION_FEATURES

FEATURES = {"observation": "features"}


# --- repeated items in slates ------------------------------------------------------------


@pytest.mark.parametrize(
    ("slate", "fixed", "replaced"),
    [
        ([4, 7, 4], [4, 7, 5], 1),  # the next id not in the slate
        ([4, 5, 4], [4, 5, 6], 1),  # 5 is taken: skip to 6
        ([99, 99, 0], [99, 1, 0], 1),  # wraps round modulo n_items; 0 is taken
        ([3, 3, 3, 3], [3, 4, 5, 6], 3),
        ([1, 2, 3], [1, 2, 3], 0),
    ],
)
def test_repeats_are_replaced_by_the_documented_rule(
    slate: list[int], fixed: list[int], replaced: int
) -> None:
    result, count = replace_repeats(np.array(slate), 100)
    assert result.tolist() == fixed and count == replaced


def test_replaced_slates_match_a_reference_and_are_counted_in_info() -> None:
    env = ShoppingEnv(preset="small", slate_size=4)
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(20):
        action = rng.integers(0, 6, size=4)  # few ids: repeats are common
        before = action.copy()
        _, _, terminated, truncated, info = env.step(action)
        assert (action == before).all()  # the caller's array is never written
        expected = len(action) - len(set(action.tolist()))
        assert info["slate_repeats"] == expected
        shown = env.simulator.observe()["history"][0, :4]  # the slate, first item first
        reference = []
        for item in action.tolist():  # brute force: the first free id after the item
            candidate = item
            while candidate in reference or (candidate != item and candidate in action):
                candidate = (candidate + 1) % 100
            reference.append(candidate)
        assert sorted(shown.tolist()) == sorted(reference)
        if terminated or truncated:
            env.reset()


def test_strict_mode_rejects_repeats_with_the_item_named() -> None:
    env = ShoppingEnv(preset="small", slate_size=3, interface={"slate_repeats": "strict"})
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"slate repeats item 4.*strict"):
        env.step([4, 7, 4])


def test_vector_env_counts_repeats_per_slot() -> None:
    env = ShoppingVectorEnv(3, preset="small", slate_size=3)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([[1, 1, 1], [1, 2, 3], [5, 6, 5]]))
    assert info["slate_repeats"].tolist() == [2, 0, 1]


def test_sb3_ppo_trains_on_search_untouched() -> None:
    from stable_baselines3 import PPO

    env = ShoppingEnv(preset="search")
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(128)  # raised "slate repeats item" before repeats were replaced


# --- slate sampling with masks ---------------------------------------------------------------


def test_masked_slate_samples_never_repeat_and_respect_the_mask() -> None:
    space = SlateSpace(np.full(3, 10))
    space.seed(0)
    mask = np.zeros(10, dtype=np.int8)
    mask[[2, 5, 7, 9]] = 1
    for _ in range(200):
        slate = space.sample(mask=mask)
        assert len(set(slate.tolist())) == 3 and set(slate.tolist()) <= {2, 5, 7, 9}
    exact = np.zeros(10, dtype=np.int8)
    exact[[1, 4, 8]] = 1
    assert sorted(space.sample(mask=exact).tolist()) == [1, 4, 8]
    per_position = tuple(np.eye(10, dtype=np.int8)[[3, 3, 6]] + np.eye(10, dtype=np.int8)[4])
    for _ in range(50):  # position masks {3,4}, {3,4}, {4,6}: distinct draws only
        slate = space.sample(mask=per_position).tolist()
        assert slate[:2] in ([3, 4], [4, 3]) and slate[2] == 6
    with pytest.raises(ValueError, match="no item for slate position 2"):
        space.sample(mask=(exact + 0) * 0 + np.isin(np.arange(10), [1, 4]).astype(np.int8))


def test_weighted_slate_samples_follow_the_probability() -> None:
    space = SlateSpace(np.full(2, 4))
    space.seed(3)
    probability = np.array([0.7, 0.3, 0.0, 0.0])
    slates = np.array([space.sample(probability=probability) for _ in range(400)])
    assert set(map(tuple, slates.tolist())) <= {(0, 1), (1, 0)}
    # the first position draws 0 with probability 0.7 (binomial 400: sd 0.023)
    assert abs((slates[:, 0] == 0).mean() - 0.7) < 0.08


def test_batched_slate_space_takes_a_mask_per_slot() -> None:
    space = SlateSpace(np.full((2, 2), 5))
    space.seed(0)
    mask = np.array([[1, 1, 0, 0, 0], [0, 0, 0, 1, 1]], dtype=np.int8)
    slates = space.sample(mask=mask)
    assert sorted(slates[0].tolist()) == [0, 1] and sorted(slates[1].tolist()) == [3, 4]


# --- scoring actions -------------------------------------------------------------------------


def reference_top_k(scores: np.ndarray, mask: np.ndarray, k: int) -> list[list[int]]:
    """Brute force: sort the allowed ids by (score descending, id ascending)."""
    return [
        sorted(np.flatnonzero(allowed).tolist(), key=lambda item: (-row[item], item))[:k]
        for row, allowed in zip(scores, mask, strict=True)
    ]


def test_top_k_matches_brute_force_with_ties_and_masks() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(-4, 5, size=(200, 30)) / 4.0  # many ties, at the cut too
    mask = rng.random((200, 30)) < 0.6
    mask[:, :5] = True  # at least k allowed per row
    assert top_k(scores, mask, 5).tolist() == reference_top_k(scores, mask, 5)


def test_score_actions_show_the_top_items_of_the_scores() -> None:
    env = ShoppingEnv(preset="search", interface={"action": "scores"})
    assert env.action_space == gym.spaces.Box(-1, 1, (1000,), np.float32)
    env.reset(seed=0)
    scores = np.linspace(-1, 1, 1000, dtype=np.float32)[::-1].copy()  # item 0 best
    env.step(scores)
    shown = env.simulator.observe()["history"][0, :5]  # a slate's first item is most recent
    assert shown.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match=r"score 1.5.*\[-1, 1\]"):
        env.step(np.full(1000, 1.5, dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        env.step(np.zeros(3, dtype=np.float32))


def test_feature_weights_rank_by_the_dot_product_with_item_features() -> None:
    env = ShoppingEnv(preset="search", interface={"action": "feature_weights"})
    table = item_feature_matrix(env.simulator.catalog, False)
    assert env.action_space.shape == (table.shape[1],)
    env.reset(seed=0)
    weights = np.random.default_rng(2).uniform(-1, 1, table.shape[1]).astype(np.float32)
    env.step(weights)
    scores = table.astype(np.float64) @ weights.astype(np.float64)
    expected = reference_top_k(scores[None], np.ones((1, 1000), bool), 5)[0]
    assert env.simulator.observe()["history"][0, :5].tolist() == expected


def test_score_actions_never_show_unreleased_items() -> None:
    env = ShoppingVectorEnv(4, preset="cold_start", slate_size=3, interface={"action": "scores"})
    env.reset(seed=0)
    released = env.simulator.catalog.release_session == 0
    favour_new = np.where(released, -1.0, 1.0).astype(np.float32)  # new items score best
    env.step(np.tile(favour_new, (4, 1)))
    shown = env.simulator.observe()["history"][:, :3]
    assert released[shown].all()


def test_sb3_sac_ranks_slates_with_feature_weights() -> None:
    from stable_baselines3 import SAC

    env = ShoppingEnv(preset="search", interface={"action": "feature_weights", **FEATURES})
    SAC("MlpPolicy", env, learning_starts=32, batch_size=32, seed=0).learn(96)


# --- the compact observation -----------------------------------------------------------------


def reference_encoding(env: ShoppingEnv, raw: dict[str, Any]) -> np.ndarray:
    """The documented layout, built entry by entry in plain Python."""
    catalog = env.simulator.catalog
    n_items, n_categories = catalog.n_items, catalog.n_categories
    log_price = np.log(catalog.price.astype(np.float64))

    def features(item: int) -> list[float]:
        if item == n_items:
            return [0.0] * (n_categories + 2)
        one_hot = [1.0 if c == catalog.category[item] else 0.0 for c in range(n_categories)]
        z = (log_price[item] - log_price.mean()) / log_price.std()
        return [*one_hot, z, 1 - catalog.popularity_rank[item] / (n_items - 1)]

    def mean(items: list[int]) -> list[float]:
        if not items:
            return [0.0] * (n_categories + 2)
        return list(np.mean([features(item) for item in items], axis=0))

    history, events = raw["history"].tolist(), raw["history_events"].tolist()
    row = [float(np.log1p(value)) for value in raw["session"]]
    row += [1.0 if q == raw["query"] else 0.0 for q in range(n_categories + 1)]
    row += mean([item for item, event in zip(history, events, strict=True) if event > 0])
    row += mean([item for item, event in zip(history, events, strict=True) if event >= 2])
    row += mean([item for item in raw["cart"].tolist() if item < n_items])
    for age in range(env.config.interface.observation_positions):
        row += features(history[age]) + [1.0 if e == events[age] else 0.0 for e in range(5)]
    return np.array(row, dtype=np.float32)


def test_compact_observation_matches_the_documented_layout() -> None:
    ids = ShoppingEnv(preset="small", slate_size=2)
    compact = ShoppingEnv(preset="small", slate_size=2, interface=FEATURES)
    raw, _ = ids.reset(seed=5)
    encoded, _ = compact.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(60):
        np.testing.assert_allclose(encoded, reference_encoding(ids, raw), atol=1e-5)
        assert encoded.dtype == np.float32 and compact.observation_space.contains(encoded)
        action = rng.choice(100, 2, replace=False)
        raw, _, terminated, truncated, _ = ids.step(action)
        encoded, *_ = compact.step(action)
        if terminated or truncated:
            raw, _ = ids.reset()
            encoded, _ = compact.reset()


def test_compact_observation_is_a_few_hundred_floats_on_large() -> None:
    config = recenv.make_config("large", interface=FEATURES)
    space = ShoppingEnv(config=config).observation_space
    # 9 session + 101 query + 3 pooled x 102 + 2 positions x (102 + 5)
    assert space.shape == (9 + 101 + 3 * 102 + 2 * 107,)
    assert space.dtype == np.float32 and np.isfinite(space.low).all()
    assert len(SESSION_FEATURES) == 9


@pytest.mark.parametrize("copy", [True, False])
def test_vector_env_encodes_like_the_single_env(copy: bool) -> None:
    vector = ShoppingVectorEnv(3, preset="small", interface=FEATURES, copy=copy)
    single = ShoppingEnv(preset="small", interface=FEATURES)
    batch, _ = vector.reset(seed=2)
    first, _ = single.reset(seed=2, options={"slot": 1})
    np.testing.assert_array_equal(batch[1], first)
    batch, *_ = vector.step(np.array([3, 4, 5]))
    first, *_ = single.step(4)
    np.testing.assert_array_equal(batch[1], first)


def test_envs_with_the_new_interfaces_pass_both_checkers() -> None:
    for interface in (FEATURES, {"action": "scores"}, {"action": "feature_weights", **FEATURES}):
        env = ShoppingEnv(preset="search", interface=interface)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a checker warning is a failure here
            check_env(env, skip_render_check=True)
        sb3_check_env(ShoppingEnv(preset="search", interface=interface), warn=True)


# --- masks -----------------------------------------------------------------------------------


def test_unreleased_items_are_masked_until_their_release() -> None:
    env = ShoppingEnv(preset="cold_start", interface={"mask_in_info": True})
    _, info = env.reset(seed=0)
    release = env.simulator.catalog.release_session
    assert info["action_mask"].tolist() == (release == 0).tolist()
    assert (~info["action_mask"]).sum() == 300
    _, info = env.reset(seed=0, options={"session_index": 20})  # sessions 2, 4, ..., 20
    assert (~info["action_mask"]).sum() == 290
    assert (env.action_masks() == info["action_mask"]).all()


def test_cart_and_shown_items_are_masked_on_request() -> None:
    env = ShoppingEnv(
        preset="small", slate_size=3, interface={"mask_cart": True, "mask_shown": True}
    )
    env.reset(seed=0)
    assert env.action_masks().shape == (300,)  # one mask per slate position
    assert env.action_masks().all()  # nothing shown yet, empty cart
    for _ in range(20):
        observation, _, terminated, truncated, _ = env.step(np.array([7, 8, 9]))
        mask = env.action_masks()[:100]
        cart = {int(item) for item in observation["cart"] if item < 100}
        expected = set(range(100)) - cart - {7, 8, 9}
        assert set(np.flatnonzero(mask).tolist()) == expected
        if terminated or truncated:
            break


def test_vector_masks_have_one_row_per_slot() -> None:
    env = ShoppingVectorEnv(
        4, preset="cold_start", interface={"mask_in_info": True, "mask_shown": True}
    )
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([0, 1, 2, 3]))
    assert info["action_mask"].shape == (4, 1000)
    assert not info["action_mask"][np.arange(4), [0, 1, 2, 3]].any()
    assert (env.action_masks() == info["action_mask"]).all()


def test_action_masks_refuse_score_actions() -> None:
    env = ShoppingEnv(preset="small", interface={"action": "scores"})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="applies the mask itself"):
        env.action_masks()


# --- the horizon -----------------------------------------------------------------------------


def test_spec_reports_the_config_horizon() -> None:
    assert ShoppingEnv(preset="small").spec.max_episode_steps == 20
    shopper = ShoppingEnv(preset="small", episode="shopper", max_visits=3)
    assert shopper.spec.max_episode_steps == 60
    made = gym.make(recenv.ENV_ID, preset="small", max_steps=7)
    assert made.spec.max_episode_steps == 7 and "TimeLimit" not in repr(made)
    made.reset(seed=0)
    for step in range(1, 8):
        *_, terminated, truncated, _ = made.step(made.action_space.sample())
        if terminated:
            break
        assert truncated == (step == 7)


@pytest.mark.parametrize(
    ("preset", "compact", "flattened"),
    [("small", 60, 1_580), ("default", 150, 30_160), ("large", 630, 3_000_240)],
)
def test_readme_sizes_of_the_compact_and_flattened_observations(
    preset: str, compact: int, flattened: int
) -> None:
    """The README's table: the compact Box against the one-hot flattening of the ids."""
    config = recenv.make_config(preset)
    assert gym.spaces.flatdim(ShoppingEnv(config=config).observation_space) == flattened
    features = recenv.make_config(preset, interface=FEATURES)
    assert ShoppingEnv(config=features).observation_space.shape == (compact,)
