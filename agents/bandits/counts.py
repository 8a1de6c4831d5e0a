"""Click counts per (context bucket, item, position): the statistics of the count-based
bandits (epsilon-greedy's empirical CTR, Thompson sampling's Beta posteriors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from agents import hyperparameters as hp
from agents.bandits.context import context_bucket, n_buckets
from agents.bandits.online import PositionModel, learn_online, load_bandit, save_bandit
from agents.base import EnvSource, Observation, predict_with_act
from recenv.sim.config import EnvConfig


class ClickCounts:
    """``clicks (B, M)`` and ``impressions (B, M, K)``; impressions keep their position so
    the examination-weighted trials can be recomputed whenever the position model moves."""

    def __init__(self, n_buckets: int, n_items: int, slate_size: int) -> None:
        self.clicks = np.zeros((n_buckets, n_items))
        self.impressions = np.zeros((n_buckets, n_items, slate_size))

    def update(
        self, buckets: NDArray[np.int64], slates: NDArray[np.int64], clicked: NDArray[np.bool_]
    ) -> None:
        """Add ``(n, K)`` shown slates and their clicks, for shoppers in ``buckets (n,)``."""
        n, slate_size = slates.shape
        rows = np.repeat(buckets, slate_size)
        positions = np.tile(np.arange(slate_size), n)
        np.add.at(self.clicks, (rows, slates.ravel()), clicked.ravel())
        np.add.at(self.impressions, (rows, slates.ravel(), positions), 1.0)

    def trials(self, examination: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(B, M)`` impressions weighted by their position's examination ``kappa_k``."""
        return self.impressions @ examination

    def arrays(self) -> dict[str, NDArray]:
        return {"clicks": self.clicks, "impressions": self.impressions}

    def restore(self, arrays: dict[str, NDArray]) -> None:
        self.clicks, self.impressions = arrays["clicks"], arrays["impressions"]


class CountBandit:
    """What epsilon-greedy and Thompson sampling share: construction, the counts' update,
    ``learn`` and checkpoints. Subclasses set ``schema`` (their hyperparameters, whose
    ``agent`` names the checkpoint kind) and write ``act``."""

    schema: ClassVar[type[hp.Hyperparameters]]

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, self.schema, settings)
        self.seed, self.steps_done, self.rng = seed, 0, np.random.default_rng(seed)
        catalog, slate_size = self.env_config.catalog, self.env_config.slate_size
        self.positions = PositionModel(slate_size, self.config.position_debias)
        buckets = n_buckets(self.config.context, catalog.n_categories)
        self.counts = ClickCounts(buckets, catalog.n_items, slate_size)

    predict = predict_with_act
    learn = learn_online

    def update(
        self, observation: Observation, slates: NDArray[np.int64], clicked: NDArray[np.bool_]
    ) -> None:
        """Count the shown ``(n, K)`` slates and their clicks in each shopper's context."""
        self.positions.update(clicked)
        self.counts.update(self.buckets(observation), slates, clicked)

    def buckets(self, observation: Observation) -> NDArray[np.int64]:
        """``(n,)`` each shopper's row of the counts."""
        return context_bucket(observation, self.config.context)

    def state_arrays(self) -> dict[str, NDArray]:
        return self.counts.arrays()

    def restore(self, arrays: dict[str, NDArray]) -> None:
        self.counts.restore(arrays)

    def save(self, path: str | Path) -> None:
        save_bandit(self, path, self.schema.agent)

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> Any:
        return load_bandit(cls, path, cls.schema.agent, env_config)
