"""The uniform-random reference: every item equally likely (distinct items in a slate)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from agents import hyperparameters as hp
from agents.base import (
    EnvSource,
    Info,
    Observation,
    learn_nothing,
    load_agent,
    predict_with_act,
    save_agent_files,
)
from recenv.sim.config import EnvConfig

KIND = "random"


@dataclass(frozen=True)
class RandomConfig(hp.Hyperparameters):
    """No hyperparameters: any given is refused by name."""

    agent: ClassVar[str] = KIND


class RandomAgent:
    """Recommends uniformly at random; learns nothing. The floor of every comparison."""

    role = "baseline"  # a simple rule: the bar a learning agent must clear

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, _ = hp.agent_settings(env_config, RandomConfig, settings)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
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

    predict = predict_with_act
    learn = learn_nothing

    def save(self, path: str | Path) -> None:
        save_agent_files(path, KIND, self.env_config, {}, extra={"seed": self.seed})

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> RandomAgent:
        return load_agent(cls, path, KIND, env_config)[0]
