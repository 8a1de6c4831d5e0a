"""The Gymnasium API of the shopper env and vector env: checkers, registration, seeding."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import recenv
from recenv import ShoppingEnv, ShoppingVectorEnv

SEED = 7


def random_slates(n_items: int, n: int, slate_size: int, steps: int, seed: int) -> np.ndarray:
    """Valid actions: ``(steps, n)`` item ids, or ``(steps, n, slate_size)`` distinct slates."""
    rng = np.random.default_rng(seed)
    if slate_size == 1:
        return rng.integers(0, n_items, size=(steps, n))
    return np.stack(
        [[rng.choice(n_items, slate_size, replace=False) for _ in range(n)] for _ in range(steps)]
    )


def assert_same_observation(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for key in left:
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)


@pytest.mark.parametrize("slate_size", [1, 3])
def test_gymnasium_and_sb3_checkers_pass(slate_size: int) -> None:
    env = ShoppingEnv(preset="small", slate_size=slate_size)
    check_env(env, skip_render_check=True)
    sb3_check_env(ShoppingEnv(preset="small", slate_size=slate_size), warn=True)


def test_registered_id_makes_single_and_vector_envs() -> None:
    env = gym.make(recenv.ENV_ID, preset="small")
    assert isinstance(env.unwrapped, ShoppingEnv)
    # the horizon comes from the config (small: 20 steps); the env truncates itself, so
    # gymnasium.make adds no TimeLimit
    assert env.spec is not None and env.spec.max_episode_steps == 20
    assert "TimeLimit" not in repr(env)
    vector = gym.make_vec(
        recenv.ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", preset="small"
    )
    assert isinstance(vector, ShoppingVectorEnv)
    observations, _ = vector.reset(seed=SEED)
    assert observations["history"].shape == (3, vector.config.history_length)
    assert vector.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP


@pytest.mark.parametrize("slate_size", [1, 2])
def test_vector_slots_reproduce_single_envs_at_their_slot(slate_size: int) -> None:
    """Slot i of a vector env seeded s == a single env seeded s at slot i, across sessions."""
    n_slots, steps = 3, 70  # small sessions last <= 20 steps: several autoresets per slot
    vector = ShoppingVectorEnv(n_slots, preset="small", slate_size=slate_size)
    actions = random_slates(vector.config.catalog.n_items, n_slots, slate_size, steps, seed=1)
    vector_obs, _ = vector.reset(seed=SEED)
    singles = [ShoppingEnv(preset="small", slate_size=slate_size) for _ in range(n_slots)]
    single_obs = [
        env.reset(seed=SEED, options={"slot": slot})[0] for slot, env in enumerate(singles)
    ]
    restarting = np.zeros(n_slots, dtype=bool)
    n_resets = 0
    for step_actions in actions:
        vector_obs, rewards, terminated, truncated, _ = vector.step(step_actions)
        for slot, env in enumerate(singles):
            if restarting[slot]:  # NEXT_STEP autoreset: this step started a new session
                single_obs[slot], _ = env.reset()
                assert rewards[slot] == 0 and not terminated[slot] and not truncated[slot]
                n_resets += 1
            else:
                single_obs[slot], reward, term, trunc, _ = env.step(step_actions[slot])
                assert (reward, term, trunc) == (rewards[slot], terminated[slot], truncated[slot])
            assert_same_observation(single_obs[slot], {k: v[slot] for k, v in vector_obs.items()})
        restarting = terminated | truncated
    assert n_resets >= n_slots  # the comparison covered autoresets


def trajectory(seed: int, steps: int = 40) -> tuple[np.ndarray, np.ndarray]:
    env = ShoppingVectorEnv(4, preset="small")
    observations, _ = env.reset(seed=seed)
    actions = random_slates(env.config.catalog.n_items, 4, 1, steps, seed=3)
    rewards, histories = [], []
    for action in actions:
        observations, reward, *_ = env.step(action)
        rewards.append(reward)
        histories.append(observations["history_events"])
    return np.array(rewards), np.array(histories)


def test_same_seed_same_trajectory_and_different_seed_different() -> None:
    first, second, other = trajectory(SEED), trajectory(SEED), trajectory(SEED + 100)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[1], other[1])


def test_same_step_autoreset_reports_final_observation() -> None:
    """SAME_STEP = NEXT_STEP up to each slot's first end, with the reset one step earlier."""
    actions = random_slates(100, 2, 1, 40, seed=5)
    next_step = ShoppingVectorEnv(2, preset="small")
    same_step = ShoppingVectorEnv(2, preset="small", autoreset_mode="SAME_STEP")
    next_step.reset(seed=SEED)
    same_step.reset(seed=SEED)
    in_sync = np.ones(2, dtype=bool)
    new_shoppers: dict[int, dict] = {}
    for action in actions:
        next_obs, _, next_term, next_trunc, _ = next_step.step(action)
        same_obs, _, term, trunc, info = same_step.step(action)
        for slot, first_obs in new_shoppers.items():  # NEXT_STEP shows them one step later
            assert_same_observation(first_obs, {k: v[slot] for k, v in next_obs.items()})
        new_shoppers = {}
        for slot in np.flatnonzero(in_sync):
            assert (term[slot], trunc[slot]) == (next_term[slot], next_trunc[slot])
            if term[slot] or trunc[slot]:
                assert info["_final_obs"][slot] and info["final_info"]["_click"][slot]
                last = {k: v[slot] for k, v in next_obs.items()}
                assert_same_observation(info["final_obs"][slot], last)
                assert same_obs["session"][slot, 0] == 0  # the new session's first observation
                new_shoppers[slot] = {k: v[slot] for k, v in same_obs.items()}
                in_sync[slot] = False
    assert not in_sync.any()  # both slots ended within the run


@pytest.mark.parametrize("mode", ["NEXT_STEP", "SAME_STEP"])
def test_copy_false_writes_the_same_observations_into_the_same_arrays(mode: str) -> None:
    """``copy=False`` reuses one set of arrays (fewer allocations); the values, final
    observations included, are those of the default fresh copies."""
    actions = random_slates(100, 300, 1, 30, seed=2)  # 300 shoppers: one-block observations
    fresh = ShoppingVectorEnv(300, preset="small", autoreset_mode=mode)
    reused = ShoppingVectorEnv(300, preset="small", autoreset_mode=mode, copy=False)
    fresh_obs, _ = fresh.reset(seed=SEED)
    reused_obs, _ = reused.reset(seed=SEED)
    assert_same_observation(fresh_obs, reused_obs)
    first = reused_obs["history"]
    for action in actions:
        fresh_obs, reward, *_, fresh_info = fresh.step(action)
        reused_obs, reused_reward, *_, reused_info = reused.step(action)
        assert reused_obs["history"] is first and fresh_obs["history"] is not first
        assert_same_observation(fresh_obs, reused_obs)
        np.testing.assert_array_equal(reward, reused_reward)
        if "final_obs" in fresh_info:
            for row in np.flatnonzero(fresh_info["_final_obs"]):
                final = reused_info["final_obs"][row]
                assert_same_observation(fresh_info["final_obs"][row], final)
                assert final["history"].base is not first.base
    with pytest.raises(ValueError, match="copy: expected true/false"):
        ShoppingVectorEnv(2, preset="small", copy="no")


def test_session_index_option_jumps_to_that_shopper() -> None:
    env = ShoppingEnv(preset="small")
    env.reset(seed=SEED)
    for _ in range(3):
        walked, info = env.reset()
    jumped, jumped_info = ShoppingEnv(preset="small").reset(seed=SEED, options={"session_index": 3})
    assert info["session_index"] == jumped_info["session_index"] == 3
    assert_same_observation(walked, jumped)


def test_hidden_state_only_in_info_and_only_when_asked() -> None:
    plain = ShoppingEnv(preset="small")
    observation, info = plain.reset(seed=SEED)
    assert "hidden" not in info
    assert set(observation) == {"history", "history_events", "cart", "session", "query"}
    exposed = ShoppingEnv(preset="small", expose_hidden_state=True)
    _, info = exposed.reset(seed=SEED)
    _, _, _, _, step_info = exposed.step(0)
    for hidden_info in (info["hidden"], step_info["hidden"]):
        assert {"taste", "patience", "budget", "fatigue"} <= set(hidden_info)
        assert hidden_info["taste"].shape == (exposed.config.catalog.embedding_dim,)


def test_cold_start_items_are_clicked_only_once_released() -> None:
    env = ShoppingVectorEnv(
        400, preset="small", catalog={"n_new_items": 20, "new_item_interval": 3}
    )
    first_new = env.config.catalog.n_items - 20
    release = env.item_features["release_session"]
    assert (release[:first_new] == 0).all() and (np.diff(release[first_new:]) == 3).all()
    env.reset(seed=SEED)
    unreleased_clicks = 0
    for _ in range(10):  # session 0: only the initial items are on sale
        _, _, _, _, info = env.step(np.full(400, first_new + 5))
        unreleased_clicks += info["click"].sum()
    assert unreleased_clicks == 0
    env.reset(seed=SEED, options={"session_index": int(release[first_new + 5])})
    clicks = sum(env.step(np.full(400, first_new + 5))[4]["click"].sum() for _ in range(5))
    assert clicks > 0


def test_search_preset_puts_the_query_in_the_observation() -> None:
    env = ShoppingVectorEnv(500, preset="search")
    observations, _ = env.reset(seed=SEED)
    searching = observations["query"] < env.config.catalog.n_categories
    assert 0.7 < searching.mean() < 0.9  # intent_probability = 0.8
    assert env.single_action_space.shape == (5,)


def test_render_ansi_describes_the_session() -> None:
    env = ShoppingEnv(preset="small", render_mode="ansi")
    env.reset(seed=SEED)
    env.step(1)
    text = env.render()
    assert text.startswith("step 1 |") and "1:" in text
