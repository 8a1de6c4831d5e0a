"""The third-party examples run as is and learn: each trains on ``small`` and beats
uniform random on the same evaluation shoppers (paired 95% CI above zero)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from experiments.examples import cleanrl_dqn, cleanrl_ppo, scoring
from experiments.examples.registry import EXAMPLES
from recenv import ENV_ID, ShoppingEnv, ShoppingVectorEnv
from recenv.sim.env import UnexpectedKeywordError


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                not example.installed, reason=f"needs {example.requires} (the examples extra)"
            ),
        )
        for name, example in EXAMPLES.items()
    ],
)
def test_example_trains_and_beats_random(name: str) -> None:
    figures = EXAMPLES[name].runner()(1)
    assert figures["train_steps"] >= 19_000
    assert figures["gain_ci_low"] > 0, f"{name} does not beat random: {figures}"
    assert figures["gain_vs_random"] == pytest.approx(
        figures["return"] - figures["random_return"], abs=1e-9
    )


def test_gae_skips_restart_steps_and_bootstraps_truncation() -> None:
    """One env, 4 steps: a session truncated at step 1, a restart step 2, then step 3.
    Hand-computed with gamma 0.5, lambda 1."""
    args = cleanrl_ppo.Args(gamma=0.5, gae_lambda=1.0)
    column = lambda *values: torch.tensor(values, dtype=torch.float32)[:, None]  # noqa: E731
    rollout = {
        "rewards": column(1.0, 2.0, 0.0, 4.0),
        "values": column(0.5, 0.25, 9.0, 1.0),
        "next_values": column(0.25, 3.0, 1.0, 2.0),  # step 1: V(real last observation) = 3
        "terminated": column(0, 0, 0, 0),
        "done": column(0, 1, 0, 0),  # truncated at step 1
        "valid": column(1, 1, 0, 1),  # step 2 only reset the env
    }
    advantage = cleanrl_ppo.advantages(rollout, args)[:, 0]
    delta1 = 2.0 + 0.5 * 3.0 - 0.25  # truncation bootstraps from the last observation
    delta0 = 1.0 + 0.5 * 0.25 - 0.5
    delta3 = 4.0 + 0.5 * 2.0 - 1.0
    expected = [delta0 + 0.5 * delta1, delta1, 0.0, delta3]  # the chain stops at step 1
    assert advantage.tolist() == pytest.approx(expected)


def test_cleanrl_dqn_buffer_never_stores_restart_steps() -> None:
    """Every stored transition continues its own session: its observation's step counter
    is one less than its next observation's (a restart would jump back to 0)."""
    env = gym.vector.SyncVectorEnv(
        [lambda: scoring.make_env("small") for _ in range(3)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    encoder = ShoppingEnv(config=scoring.features_config("small")).interface.encoder
    step_column = encoder.block("session").start  # the session's step feature comes first
    rng = np.random.default_rng(0)
    buffer = cleanrl_dqn.ReplayBuffer(500, env.single_observation_space.shape[0], rng)
    obs, _ = env.reset(seed=0)
    restarting = np.zeros(3, dtype=bool)
    for _ in range(100):  # several sessions of 20 steps at most
        actions = rng.integers(0, 100, 3)
        next_obs, rewards, terminated, truncated, _ = env.step(actions)
        real = ~restarting
        buffer.add(obs[real], actions[real], rewards[real], next_obs[real], terminated[real])
        restarting = terminated | truncated
        obs = next_obs
    stored = buffer.position
    gap = buffer.next_obs[:stored, step_column] - buffer.obs[:stored, step_column]
    assert stored > 250 and np.all(gap > 0), "a restart step was stored as a transition"


def test_sb3_ppo_trains_on_search_slates_untouched() -> None:
    """SB3 samples slate positions independently; repeats are replaced, not fatal."""
    config = scoring.features_config("search")
    envs = make_vec_env(ENV_ID, n_envs=2, seed=0, env_kwargs={"config": config})
    model = PPO("MlpPolicy", envs, n_steps=64, batch_size=64, seed=0).learn(256)
    assert model.num_timesteps == 256
    envs.reset()
    _, _, _, infos = envs.step(np.array([[3, 3, 3, 3, 3], [1, 2, 3, 4, 5]])[:, : config.slate_size])
    assert infos[0]["slate_repeats"] == config.slate_size - 1
    assert infos[1]["slate_repeats"] == 0


@pytest.mark.parametrize("env_class", [ShoppingEnv, ShoppingVectorEnv])
def test_unknown_constructor_keyword_is_a_type_error(env_class: type) -> None:
    """TorchRL's GymEnv probes with frameskip= and drops it on this TypeError."""
    args = (2,) if env_class is ShoppingVectorEnv else ()
    with pytest.raises(TypeError, match="unexpected keyword argument 'frameskip'") as raised:
        env_class(*args, preset="small", frameskip=1)
    assert isinstance(raised.value, UnexpectedKeywordError)
    assert isinstance(raised.value, ValueError)  # like every other config error
    assert "valid fields of EnvConfig" in str(raised.value)
