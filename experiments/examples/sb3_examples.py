"""stable-baselines3 and sb3-contrib on recenv with their own tools only.

* ``ppo``: ``make_vec_env("recenv/Shopping-v0", ...)`` (it asks for ``rgb_array``
  rendering, which recenv supports) and SB3's PPO with an ``MlpPolicy`` on the compact
  float32 observation. The same call trains on the ``search`` preset's slates untouched:
  SB3 samples slate positions independently, and repeated items are replaced by the
  env's documented rule (``info["slate_repeats"]`` counts them).
* ``maskable``: sb3-contrib's ``MaskablePPO`` reading the env's ``action_masks()``
  (here ``interface.mask_shown``: never show the previous step's item again) and, at
  evaluation, the same mask from ``info["action_mask"]``.

Run: ``python -m experiments.examples.sb3_examples --algorithm maskable``
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from agents.threads import configure_threads
from experiments.examples.scoring import Stopwatch, features_config, score
from recenv import ENV_ID

PPO_SETTINGS: dict[str, Any] = {
    "n_steps": 128,
    "batch_size": 256,
    "learning_rate": 1e-3,
    "gamma": 0.9,
    "ent_coef": 0.01,
}
MASKS = {"interface": {"mask_shown": True, "mask_in_info": True}}


def train(
    algorithm: str, preset: str, total_steps: int, seed: int, n_envs: int = 8
) -> tuple[Any, Any, float]:
    """The trained model, the env config it trained on, and the training seconds."""
    configure_threads()
    overrides = MASKS if algorithm == "maskable" else {}
    config = features_config(preset, **overrides)
    envs = make_vec_env(ENV_ID, n_envs=n_envs, seed=seed, env_kwargs={"config": config})
    if algorithm == "maskable":
        from sb3_contrib import MaskablePPO

        model = MaskablePPO("MlpPolicy", envs, seed=seed, **PPO_SETTINGS)
    else:
        model = PPO("MlpPolicy", envs, seed=seed, **PPO_SETTINGS)
    with Stopwatch() as clock:
        model.learn(total_timesteps=total_steps)
    envs.close()
    return model, config, clock.elapsed


def main(
    algorithm: str = "ppo",
    preset: str = "small",
    total_steps: int = 20_000,
    seed: int = 1,
    eval_shoppers: int = 500,
) -> dict[str, float]:
    model, config, seconds = train(algorithm, preset, total_steps, seed)
    if algorithm == "maskable":

        def greedy(observation: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return model.predict(observation, action_masks=mask, deterministic=True)[0]
    else:

        def greedy(observation: np.ndarray) -> np.ndarray:
            return model.predict(observation, deterministic=True)[0]

    masked = algorithm == "maskable"
    return score(greedy, config, model.num_timesteps, seconds, eval_shoppers, masked=masked)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="SB3 PPO or sb3-contrib MaskablePPO on recenv")
    parser.add_argument("--algorithm", choices=("ppo", "maskable"), default="ppo")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--total-steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(main(args.algorithm, args.preset, args.total_steps, args.seed), indent=2))
