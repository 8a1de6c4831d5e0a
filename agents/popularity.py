"""Popularity: recommend the items most clicked and bought in the training logs.

``score(j) = click_rate(j) + purchase_weight * purchase_rate(j)`` over logs of a
uniform-random behaviour policy, each rate per impression and smoothed toward the catalog's
mean with ``PRIOR_IMPRESSIONS`` pseudo-impressions. Rates rather than counts, so an item
released late in the log (fewer impressions) is ranked by how it does, not by how long it
was on sale. At each step the best-scoring items the shopper has not just been shown and
does not carry are recommended. The same list for everyone: no personalisation.
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

KIND = "popularity"
PRIOR_IMPRESSIONS = 10.0


@dataclass(frozen=True)
class PopularityConfig(hp.Hyperparameters):
    """Popularity's knobs; the field comments are the help text."""

    purchase_weight: float = 1.0  # a purchase counts this many clicks
    refit_interval: int = 0  # logged shopper-steps between refits (0: one fit on the whole log)

    agent: ClassVar[str] = KIND
    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges(
        {hp.NON_NEGATIVE: "purchase_weight refit_interval"}
    )


class PopularityAgent:
    """Most clicked / bought items in the logs, skipping what is in the history or cart."""

    role = "baseline"  # a simple rule: the bar a learning agent must clear

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, PopularityConfig, settings)
        self.seed, self.steps_done = seed, 0
        self.scores = np.zeros(self.env_config.catalog.n_items)

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        n_items = self.env_config.catalog.n_items
        scores = np.where(unseen_mask(observation, n_items), self.scores, self.scores - 1e9)
        return top_items(scores, self.env_config.slate_size)

    predict = predict_with_act

    learn = learn_from_random_logs  # logs random recommendations, then fit

    def fit(self, logs: InteractionLog, logger: Logger | None = None) -> None:
        """Score items by their smoothed logged click and purchase rates."""
        n_items = self.env_config.catalog.n_items
        shown = np.bincount(logs.item, minlength=n_items)
        events = logs.clicked + self.config.purchase_weight * logs.purchased
        totals = np.bincount(logs.item, weights=events, minlength=n_items)
        mean = totals.sum() / max(shown.sum(), 1)
        self.scores = (totals + PRIOR_IMPRESSIONS * mean) / (shown + PRIOR_IMPRESSIONS)

    def fit_summary(self, logs: InteractionLog) -> dict[str, float]:
        return {"logged_impressions": len(logs)}

    def save(self, path: str | Path) -> None:
        arrays = {"scores": self.scores}
        config, extra = asdict(self.config), {"seed": self.seed}
        save_agent_files(path, KIND, self.env_config, config, arrays=arrays, extra=extra)

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> PopularityAgent:
        agent, _, arrays = load_agent(cls, path, KIND, env_config)
        agent.scores = arrays["scores"]
        return agent
