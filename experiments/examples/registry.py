"""Every example by name: how to run it with a seed, what it shows about the library and
the command a reader types. Used by ``tests/test_examples.py`` and
``benchmarks/libraries.py``, so the README's table and the tests run the same code."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Example:
    library: str
    module: str  # experiments.examples.<module>
    works_without_glue: str
    arguments: tuple[Any, ...] = ()  # positional arguments of main() before the seed
    requires: str = "stable_baselines3"  # the package the example needs (an extra)

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.requires) is not None

    @property
    def command(self) -> str:
        flags = f" --algorithm {self.arguments[0]}" if self.arguments else ""
        return f"python -m experiments.examples.{self.module}{flags}"

    def runner(self) -> Callable[[int], dict[str, float]]:
        """``seed -> figures`` (``experiments.examples.scoring.score``) at the defaults."""
        module = importlib.import_module(f"experiments.examples.{self.module}")
        if hasattr(module, "Args"):  # CleanRL style: a dataclass of flags
            return lambda seed: module.main(module.Args(seed=seed))
        return lambda seed: module.main(*self.arguments, seed=seed)


EXAMPLES: dict[str, Example] = {
    "cleanrl_dqn": Example(
        "CleanRL-style DQN (single file)",
        "cleanrl_dqn",
        "gymnasium.make + SyncVectorEnv; float32 Box obs; NEXT_STEP restarts skipped",
    ),
    "cleanrl_ppo": Example(
        "CleanRL-style PPO (single file)",
        "cleanrl_ppo",
        "gymnasium.make + SyncVectorEnv; restart steps masked out of GAE and the loss",
    ),
    "sb3_ppo": Example(
        "stable-baselines3 PPO",
        "sb3_examples",
        "make_vec_env (rgb_array render), MlpPolicy; search slates untouched",
        ("ppo",),
    ),
    "sb3_maskable_ppo": Example(
        "sb3-contrib MaskablePPO",
        "sb3_examples",
        "action_masks() in training, info['action_mask'] at evaluation",
        ("maskable",),
        "sb3_contrib",
    ),
    "tianshou_dqn": Example(
        "Tianshou 2.0 DQN",
        "tianshou_dqn",
        "DummyVectorEnv, Net, VectorReplayBuffer, Collector, off-policy trainer",
        requires="tianshou",
    ),
    "torchrl_dqn": Example(
        "TorchRL DQN",
        "torchrl_dqn",
        "GymEnv + SerialEnv, QValueActor, Collector, DQNLoss (uniform replay)",
        requires="torchrl",
    ),
}
