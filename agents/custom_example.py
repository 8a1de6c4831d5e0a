"""A custom agent in one file: the template for plugging your own policy into recenv.

Nothing to register. Any importable class with ``act``, ``predict``, ``learn``, ``save``
and ``load`` (``agents.base.Agent``) is an agent; Hydra builds it from ``_target_``::

    python -m experiments.train agent=custom_example          # conf/agent/custom_example.yaml
    python -m experiments.train agent._target_=mypackage.MyAgent  # your own class

The constructor takes ``env_config``, ``seed`` and ``device`` plus your hyperparameters
(every other key of the ``agent`` config). This one, *category affinity*, recommends the
most-clicked unseen item (in logs of random recommendations) of the category the shopper
engaged with most in their history, and the most-clicked unseen item overall otherwise.
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
from agents.logs import collect_logs, uniform_policy
from recenv.config import EnvConfig, config_from_dict
from recenv.core import build_world
from recenv.env import resolve_config

KIND = "category_affinity"


class CategoryAffinityAgent:
    """Best logged items of the shopper's favourite category (by clicks and carts)."""

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        category_bonus: float = 1.0,
        **unknown: Any,
    ) -> None:
        reject_unknown("category_affinity", unknown, ["category_bonus"])
        check_positive("category_affinity", "category_bonus", category_bonus, allow_zero=True)
        self.env_config = resolve_config(env_config, None, {})
        self.seed, self.category_bonus = seed, float(category_bonus)
        self.item_category = build_world(self.env_config).catalog.category
        self.click_rate = np.zeros(self.env_config.catalog.n_items)

    def act(
        self,
        observation: Mapping[str, NDArray],
        deterministic: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> NDArray[np.int64]:
        """Scores = logged click rate, plus a bonus inside the favourite category."""
        n_categories = self.env_config.catalog.n_categories
        engaged = observation["history_events"] >= 2  # clicked, carted or bought
        category = np.append(self.item_category, n_categories)[observation["history"]]
        counts = np.zeros((len(category), n_categories + 1))
        np.add.at(counts, (np.arange(len(category))[:, None], category), engaged)
        favourite = counts[:, :n_categories].argmax(axis=1)
        has_favourite = counts[:, :n_categories].max(axis=1) > 0
        in_favourite = self.item_category[None, :] == favourite[:, None]
        scores = self.click_rate + self.category_bonus * (in_favourite & has_favourite[:, None])
        n_items = self.env_config.catalog.n_items
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
    ) -> CategoryAffinityAgent:
        """Estimate every item's click rate from ``total_steps`` logged random impressions."""
        n_items, slate_size = self.env_config.catalog.n_items, self.env_config.slate_size
        logs = collect_logs(
            env, total_steps, uniform_policy(n_items, slate_size, self.seed), self.seed
        )
        shown = np.bincount(logs.item, minlength=n_items)
        clicked = np.bincount(logs.item[logs.clicked], minlength=n_items)
        self.click_rate = (clicked + 0.1) / (shown + 1.0)  # smoothed towards 10%
        if logger is not None:
            logger.record("train/logged_impressions", len(logs), total_steps)
        if callback is not None:
            callback(self)
        return self

    def save(self, path: str | Path) -> None:
        save_agent_files(
            path,
            KIND,
            self.env_config,
            {"category_bonus": self.category_bonus},
            arrays={"click_rate": self.click_rate},
            extra={"seed": self.seed},
        )

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> CategoryAffinityAgent:
        meta, arrays = load_agent_files(path, KIND)
        agent = cls(
            env_config or config_from_dict(meta["env_config"]),
            seed=meta["seed"],
            **meta["hyperparameters"],
        )
        agent.click_rate = arrays["click_rate"]
        return agent
