"""Popularity: recommend the items most clicked and bought in the training logs.

``score(j) = click_rate(j) + purchase_weight * purchase_rate(j)`` over logs of a
uniform-random behaviour policy, each rate per impression and smoothed toward the catalog's
mean with ``PRIOR_IMPRESSIONS`` pseudo-impressions. Rates rather than counts, so an item
released late in the log (fewer impressions) is ranked by how it does, not by how long it
was on sale. At each step the best-scoring items the shopper has not just been shown and
does not carry are recommended. The same list for everyone: no personalisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.base import (
    Callback,
    Logger,
    NullLogger,
    check_positive,
    load_agent_files,
    reject_unknown,
    save_agent_files,
    top_items,
    unseen_mask,
)
from agents.logs import InteractionLog, learn_from_random_logs
from recenv.sim.config import EnvConfig, config_from_dict
from recenv.sim.env import resolve_config

KIND = "popularity"
PRIOR_IMPRESSIONS = 10.0


class PopularityAgent:
    """Most clicked / bought items in the logs, skipping what is in the history or cart."""

    role = "baseline"  # a simple rule: the bar a learning agent must clear

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        purchase_weight: float = 1.0,
        refit_interval: int = 0,
        **unknown: Any,
    ) -> None:
        reject_unknown("popularity", unknown, ["purchase_weight", "refit_interval"])
        check_positive("popularity", "purchase_weight", purchase_weight, allow_zero=True)
        check_positive("popularity", "refit_interval", refit_interval, allow_zero=True)
        self.env_config = resolve_config(env_config, None, {})
        self.seed, self.purchase_weight = seed, float(purchase_weight)
        self.refit_interval, self.steps_done = int(refit_interval), 0
        self.scores = np.zeros(self.env_config.catalog.n_items)

    def act(
        self,
        observation: Mapping[str, NDArray],
        deterministic: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> NDArray[np.int64]:
        n_items = self.env_config.catalog.n_items
        scores = np.where(unseen_mask(observation, n_items), self.scores, self.scores - 1e9)
        return top_items(scores, self.env_config.slate_size)

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return self.act(observation, deterministic), None

    def learn(
        self,
        env: Any,
        total_steps: int,
        logger: Logger | None = None,
        callback: Callback | None = None,
    ) -> PopularityAgent:
        """Log ``total_steps`` shopper-steps of random recommendations and count responses."""
        logs = learn_from_random_logs(
            self, env, total_steps, self.refit_interval, self.fit, callback
        )
        (logger or NullLogger()).record("train/logged_impressions", len(logs), self.steps_done)
        return self

    def fit(self, logs: InteractionLog) -> None:
        """Score items by their smoothed logged click and purchase rates."""
        n_items = self.env_config.catalog.n_items
        shown = np.bincount(logs.item, minlength=n_items)
        events = logs.clicked + self.purchase_weight * logs.purchased
        totals = np.bincount(logs.item, weights=events, minlength=n_items)
        mean = totals.sum() / max(shown.sum(), 1)
        self.scores = (totals + PRIOR_IMPRESSIONS * mean) / (shown + PRIOR_IMPRESSIONS)

    def save(self, path: str | Path) -> None:
        save_agent_files(
            path,
            KIND,
            self.env_config,
            {"purchase_weight": self.purchase_weight, "refit_interval": self.refit_interval},
            arrays={"scores": self.scores},
            extra={"seed": self.seed},
        )

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> PopularityAgent:
        meta, arrays = load_agent_files(path, KIND)
        agent = cls(
            env_config or config_from_dict(meta["env_config"]),
            seed=meta["seed"],
            **meta["hyperparameters"],
        )
        agent.scores = arrays["scores"]
        return agent
