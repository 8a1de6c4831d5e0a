"""A custom agent in one file: the template for plugging your own policy into recenv.

Nothing to register. Any importable class with ``act``, ``predict``, ``learn``, ``save``
and ``load`` (``agents.base.Agent``) is an agent; Hydra builds it from ``_target_``::

    python -m experiments.train agent=custom_example          # conf/agent/custom_example.yaml
    python -m experiments.train agent._target_=mypackage.MyAgent  # your own class

The constructor takes ``env_config``, ``seed`` and ``device`` plus your hyperparameters
(every other key of the ``agent`` config). This one, *bought-and-fresh*, scores each item
by how often it was bought in logs of random recommendations (purchases, not clicks:
clickbait is clicked often and bought rarely), minus a penalty for categories that fill
the shopper's recent history (shoppers tire of a category they keep seeing).
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
from recenv.sim.items import item_features

KIND = "bought_and_fresh"


class BoughtAndFreshAgent:
    """Logged purchase rate per item, penalised by the category's share of recent history."""

    role = "baseline"  # a simple rule: the bar a learning agent must clear

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        fatigue_penalty: float = 1.0,
        refit_interval: int = 0,
        **unknown: Any,
    ) -> None:
        reject_unknown("bought_and_fresh", unknown, ["fatigue_penalty", "refit_interval"])
        check_positive("bought_and_fresh", "fatigue_penalty", fatigue_penalty, allow_zero=True)
        check_positive("bought_and_fresh", "refit_interval", refit_interval, allow_zero=True)
        self.env_config = resolve_config(env_config, None, {})
        self.seed, self.fatigue_penalty = seed, float(fatigue_penalty)
        self.refit_interval, self.steps_done = int(refit_interval), 0
        self.item_category = item_features(self.env_config)["category"]
        self.purchase_rate = np.zeros(self.env_config.catalog.n_items)

    def act(
        self,
        observation: Mapping[str, NDArray],
        deterministic: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> NDArray[np.int64]:
        """Best unseen items by ``purchase_rate - fatigue_penalty * category share``."""
        n_items, n_categories = (
            self.env_config.catalog.n_items,
            self.env_config.catalog.n_categories,
        )
        history = observation["history"]
        category = np.append(self.item_category, n_categories)[history]  # padding: extra bin
        counts = np.zeros((len(history), n_categories + 1))
        np.add.at(counts, (np.arange(len(history))[:, None], category), 1.0)
        share = counts[:, :n_categories] / max(history.shape[1], 1)
        scores = self.purchase_rate - self.fatigue_penalty * share[:, self.item_category]
        scores = np.where(unseen_mask(observation, n_items), scores, scores - 1e9)
        return top_items(scores, self.env_config.slate_size)

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return self.act(observation, deterministic), None

    def learn(
        self,
        env: Any,
        total_steps: int,
        logger: Logger | None = None,
        callback: Callback | None = None,
    ) -> BoughtAndFreshAgent:
        """Estimate every item's purchase rate from ``total_steps`` logged random impressions."""
        logs = learn_from_random_logs(
            self, env, total_steps, self.refit_interval, self.fit, callback
        )
        if logger is not None:
            logger.record("train/logged_impressions", len(logs), self.steps_done)
        return self

    def fit(self, logs: InteractionLog) -> None:
        """Each item's purchase rate in the logs, smoothed towards 2%."""
        n_items = self.env_config.catalog.n_items
        shown = np.bincount(logs.item, minlength=n_items)
        bought = np.bincount(logs.item[logs.purchased], minlength=n_items)
        self.purchase_rate = (bought + 0.02) / (shown + 1.0)

    def save(self, path: str | Path) -> None:
        save_agent_files(
            path,
            KIND,
            self.env_config,
            {"fatigue_penalty": self.fatigue_penalty, "refit_interval": self.refit_interval},
            arrays={"purchase_rate": self.purchase_rate},
            extra={"seed": self.seed},
        )

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> BoughtAndFreshAgent:
        meta, arrays = load_agent_files(path, KIND)
        agent = cls(
            env_config or config_from_dict(meta["env_config"]),
            seed=meta["seed"],
            **meta["hyperparameters"],
        )
        agent.purchase_rate = arrays["purchase_rate"]
        return agent
