"""Bernoulli Thompson sampling: Beta posteriors per (context, item), as OBP's BernoulliTS.

``theta[c, i] ~ Beta(alpha0 + clicks[c, i], beta0 + trials[c, i] - clicks[c, i])`` with
trials the examination-weighted impressions (``agents.bandits.online``). Each training
step draws one ``theta`` per shopper and item and shows the top draws; evaluation shows the
top posterior means ``(alpha0 + clicks) / (alpha0 + beta0 + trials)``. The default prior is
OBP's, Beta(1, 1).
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


@dataclass(frozen=True)
class ThompsonConfig(hp.Hyperparameters):
    """Thompson sampling's knobs; the field comments are the help text."""

    prior_alpha: float = 1.0  # Beta prior's pseudo-clicks
    prior_beta: float = 1.0  # Beta prior's pseudo-non-clicks
    context: str = "none"  # discrete context of the posteriors: none, or the search query
    position_debias: bool = True  # shuffle training slates, weigh impressions by examination

    agent: ClassVar[str] = "thompson"
    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges({hp.POSITIVE: "prior_alpha prior_beta"})
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"context": CONTEXTS}


class ThompsonSamplingAgent(CountBandit):
    """Top items by one Beta posterior draw each (training) or by posterior mean (evaluation)."""

    schema = ThompsonConfig

    def posterior(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(alpha, beta)``, each ``(B, M)``: the Beta posterior of every item's click rate."""
        trials = self.counts.trials(self.positions.examination())
        clicks = self.counts.clicks
        alpha = self.config.prior_alpha + clicks
        beta = self.config.prior_beta + np.maximum(trials - clicks, 0.0)
        return alpha, beta

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        alpha, beta = self.posterior()
        bucket = self.buckets(observation)
        alpha, beta = alpha[bucket], beta[bucket]  # (n, M)
        scores = alpha / (alpha + beta) if deterministic else self.rng.beta(alpha, beta)
        return as_action(ranked_slates(scores, self.env_config.slate_size))
