"""A custom agent in one file: the template for plugging your own policy into recenv.

Nothing to register. Any importable class with ``act``, ``predict``, ``learn``, ``save``
and ``load`` (``agents.base.Agent``) is an agent; Hydra builds it from ``_target_``::

    python -m experiments.train agent=custom_example          # conf/agent/custom_example.yaml
    python -m experiments.train agent._target_=mypackage.MyAgent  # your own class

The constructor takes ``env_config``, ``seed`` and ``device`` plus your hyperparameters
(every other key of the ``agent`` config). Nothing else is required; this template also uses
the scaffolding the shipped agents share: its hyperparameters in one checked dataclass
(``agents.hyperparameters``), ``predict`` and ``learn`` from ``agents.base`` and
``agents.logs``, and the JSON + ``.npz`` checkpoint helpers. This one, *bought-and-fresh*,
scores each item by how often it was bought in logs of random recommendations (purchases,
not clicks: clickbait is clicked often and bought rarely), minus a penalty for categories
that fill the shopper's recent history (shoppers tire of a category they keep seeing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from agents import hyperparameters as hp
from agents.base import (
    EnvSource,
    Info,
    Logger,
    Observation,
    load_agent,
    predict_with_act,
    save_agent_files,
    top_items,
    unseen_mask,
)
from agents.logs import InteractionLog, learn_from_random_logs
from recenv.sim.config import EnvConfig
from recenv.sim.items import item_features

KIND = "bought_and_fresh"


@dataclass(frozen=True)
class BoughtAndFreshConfig(hp.Hyperparameters):
    """The hyperparameters, range-checked; ``conf/agent/custom_example.yaml`` states only
    what differs from these defaults."""

    fatigue_penalty: float = 1.0  # score lost per unit of the category's share of history
    refit_interval: int = 0  # logged shopper-steps between refits (0: one fit on the whole log)

    agent: ClassVar[str] = KIND  # errors name the field as bought_and_fresh.<field>
    bounds: ClassVar[dict[str, hp.Range]] = {
        "fatigue_penalty": hp.NON_NEGATIVE,
        "refit_interval": hp.NON_NEGATIVE,
    }


class BoughtAndFreshAgent:
    """Logged purchase rate per item, penalised by the category's share of recent history."""

    role = "baseline"  # a simple rule: the bar a learning agent must clear

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, BoughtAndFreshConfig, settings)
        self.seed, self.steps_done = seed, 0
        self.item_category = item_features(self.env_config)["category"]
        self.purchase_rate = np.zeros(self.env_config.catalog.n_items)

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
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
        scores = self.purchase_rate - self.config.fatigue_penalty * share[:, self.item_category]
        scores = np.where(unseen_mask(observation, n_items), scores, scores - 1e9)
        return top_items(scores, self.env_config.slate_size)

    predict = predict_with_act  # stable-baselines3's acting API, from act

    learn = learn_from_random_logs  # logs random recommendations, then calls fit

    def fit(self, logs: InteractionLog, logger: Logger | None = None) -> None:
        """Each item's purchase rate in the logs, smoothed towards 2%."""
        n_items = self.env_config.catalog.n_items
        shown = np.bincount(logs.item, minlength=n_items)
        bought = np.bincount(logs.item[logs.purchased], minlength=n_items)
        self.purchase_rate = (bought + 0.02) / (shown + 1.0)

    def fit_summary(self, logs: InteractionLog) -> dict[str, float]:
        """What ``learn`` logs after the fit, as ``train/<name>``."""
        return {"logged_impressions": len(logs)}

    def save(self, path: str | Path) -> None:
        """``agent.json`` (kind, env config, hyperparameters, seed) and ``arrays.npz``."""
        arrays, extra = {"purchase_rate": self.purchase_rate}, {"seed": self.seed}
        hyperparameters = asdict(self.config)
        save_agent_files(path, KIND, self.env_config, hyperparameters, arrays=arrays, extra=extra)

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> BoughtAndFreshAgent:
        agent, _, arrays = load_agent(cls, path, KIND, env_config)
        agent.purchase_rate = arrays["purchase_rate"]
        return agent
