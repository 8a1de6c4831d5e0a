"""The uniform-random reference: every item equally likely (distinct items in a slate)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.base import Callback, Logger, load_agent_files, reject_unknown, save_agent_files
from recenv.sim.config import EnvConfig, config_from_dict
from recenv.sim.env import resolve_config

KIND = "random"


class RandomAgent:
    """Recommends uniformly at random; learns nothing. The floor of every comparison."""

    role = "baseline"  # a simple rule: the bar a learning agent must clear

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        **unknown: Any,
    ) -> None:
        reject_unknown("random", unknown, [])
        self.env_config = resolve_config(env_config, None, {})
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def act(
        self,
        observation: Mapping[str, NDArray],
        deterministic: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> NDArray[np.int64]:
        n_shoppers = len(observation["session"])
        n_items, slate_size = self.env_config.catalog.n_items, self.env_config.slate_size
        if slate_size == 1:
            return self.rng.integers(0, n_items, n_shoppers)
        # the slate_size smallest of uniform keys, in key order: a uniform ordered slate of
        # distinct items (the same as a full argsort's first columns, in O(n_items) per row)
        keys = self.rng.random((n_shoppers, n_items))
        smallest = np.argpartition(keys, slate_size - 1, axis=1)[:, :slate_size]
        order = np.argsort(np.take_along_axis(keys, smallest, axis=1), axis=1)
        return np.take_along_axis(smallest, order, axis=1)

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return self.act(observation, deterministic), None

    def learn(
        self,
        env: Any,
        total_steps: int,
        logger: Logger | None = None,
        callback: Callback | None = None,
    ) -> RandomAgent:
        """Nothing to learn."""
        if callback is not None:
            callback(self)
        return self

    def save(self, path: str | Path) -> None:
        save_agent_files(path, KIND, self.env_config, {}, extra={"seed": self.seed})

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> RandomAgent:
        meta, _ = load_agent_files(path, KIND)
        return cls(env_config or config_from_dict(meta["env_config"]), seed=meta["seed"])
