"""Epsilon-greedy on per-(context, item) empirical click rates.

``ctr[c, i] = (clicks[c, i] + s * pooled) / (trials[c, i] + s)``: the item's clicks per
(examination-weighted) impression in context c, pulled toward the pooled rate by ``s``
pseudo-trials. Each training step, each shopper gets a uniformly random slate of distinct
items with probability ``epsilon`` and the top items by ``ctr`` otherwise (ties broken at
random); evaluation is greedy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from agents import hyperparameters as hp
from agents.bandits.context import CONTEXTS
from agents.bandits.counts import CountBandit
from agents.bandits.online import as_action, ranked_slates
from agents.base import Info, Observation
from recenv.sim.spaces import distinct_slates


@dataclass(frozen=True)
class EpsilonGreedyConfig(hp.Hyperparameters):
    """Epsilon-greedy's knobs; the field comments are the help text."""

    epsilon: float = 0.1  # share of training shopper-steps shown a uniformly random slate
    smoothing: float = 10.0  # pseudo-impressions pulling an item's CTR to the pooled CTR
    context: str = "none"  # discrete context of the counts: none, or the search query
    position_debias: bool = True  # shuffle training slates, weigh impressions by examination

    agent: ClassVar[str] = "epsilon_greedy"
    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges(
        {hp.SHARE: "epsilon", hp.NON_NEGATIVE: "smoothing"}
    )
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"context": CONTEXTS}


class EpsilonGreedyAgent(CountBandit):
    """Greedy on the empirical CTR of each item (per context), random with prob. epsilon."""

    schema = EpsilonGreedyConfig

    def estimates(self) -> NDArray[np.float64]:
        """``(B, M)`` the smoothed click rate of every item in every context."""
        trials = self.counts.trials(self.positions.examination())
        clicks, smoothing = self.counts.clicks, self.config.smoothing
        pooled = clicks.sum() / max(trials.sum(), 1.0)
        return (clicks + smoothing * pooled) / np.maximum(trials + smoothing, 1e-12)

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        scores = self.estimates()[self.buckets(observation)]
        slate_size = self.env_config.slate_size
        slates = ranked_slates(scores, slate_size, None if deterministic else self.rng)
        if not deterministic:
            explore = np.flatnonzero(self.rng.random(len(slates)) < self.config.epsilon)
            n_items = self.env_config.catalog.n_items
            slates[explore] = distinct_slates(self.rng, n_items, len(explore), slate_size)
        return as_action(slates)
