"""The logged-reward rule: a hard, observation-only baseline that a learning agent must beat.

From logs of uniform-random impressions it estimates, per item ``j``,

    click_rate(j) = P(click | shown),  cart_rate(j) = P(cart | click),
    purchase_rate(j) = P(bought later in the session | click),

each smoothed toward its catalog-wide rate by ``prior_strength`` pseudo-observations
(``(events + a * mean) / (trials + a)``), and scores

    score(j) = click_rate * (click_weight + reward_cart * cart_rate
                             + purchase_weight * purchase_rate * value(j))

with ``value`` the price (revenue rewards) or 1 (count rewards). With the env's reward
weights (the defaults) the score is the logged expected immediate reward of one impression.
Then the rule: never show an item in the observed history or cart; never show a category
shown in the last ``rotation_window`` steps of this session (shoppers tire of a category
they keep seeing), unless that blocks every unseen item; a slate takes the best items in
order, each from a category not yet in the slate while one is left.

The defaults are the env's weights; ``conf/agent/rule.yaml`` ships a lower click weight
chosen on tuning shoppers (``benchmarks/tune_rule.py``): the myopic score ranks clickbait
first, whose clicks drain the patience that later purchases need.

Prices and categories are observable item features (``ShoppingEnv.item_features``); carts
are read from the observation after an impression, whose history events mark it carted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
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
    RewardWeights,
    expected_reward,
    load_agent,
    predict_with_act,
    save_agent_files,
    unseen_mask,
)
from agents.logs import STEP, InteractionLog, learn_from_random_logs, logged_carts
from recenv.sim.config import EnvConfig
from recenv.sim.items import item_features

KIND = "rule"
RATES = ("click_rate", "cart_rate", "purchase_rate")
# Penalties ordering the fallbacks, each larger than any score: a seen item is worse than a
# category repeated within the slate, which is worse than a category blocked by rotation.
SEEN, SLATE_REPEAT, BLOCKED = 4e9, 2e9, 1e9


@dataclass(frozen=True)
class RuleConfig(hp.Hyperparameters):
    """The rule's knobs; None weights are the env's own (the score is then the expected
    immediate reward)."""

    click_weight: float | None = None  # reward of a click in the score
    purchase_weight: float | None = None  # reward of a purchase (per unit of revenue or item)
    prior_strength: float = 10.0  # pseudo-impressions pulling each item's rates to the mean
    rotation_window: int = 9  # steps a shown category stays blocked
    refit_interval: int = 0  # logged shopper-steps between refits (0: one fit on the whole log)

    agent: ClassVar[str] = KIND
    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges(
        {
            hp.NON_NEGATIVE: "click_weight purchase_weight prior_strength rotation_window "
            "refit_interval"
        }
    )


class RuleAgent:
    """Logged expected reward per impression, no repeats, category rotation."""

    role = "baseline"  # a simple rule: the bar a learning agent must clear

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, RuleConfig, settings)
        config = self.config
        self.rewards = RewardWeights.of(
            self.env_config.funnel, config.click_weight, config.purchase_weight
        )
        self.click_weight = float(self.rewards.reward_click)
        self.purchase_weight = float(self.rewards.reward_purchase)
        self.prior_strength = config.prior_strength
        self.rotation_window, self.refit_interval = config.rotation_window, config.refit_interval
        self.seed, self.steps_done = seed, 0
        features = item_features(self.env_config)
        self.item_category = features["category"]  # (n_items,)
        self.price = features["price"].astype(np.float64)  # (n_items,)
        self.rates = {name: np.zeros(len(self.price)) for name in RATES}
        self.scores = np.zeros(len(self.price))

    @property
    def hyperparameters(self) -> dict[str, float | int]:
        """The resolved knobs (env weights filled in): what a checkpoint stores."""
        names = (spec.name for spec in dataclasses.fields(RuleConfig))
        return {name: getattr(self, name) for name in names}

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        """Best-scoring unseen items outside the recently shown categories (a slate per row)."""
        n_items, slate_size = len(self.scores), self.env_config.slate_size
        penalised = (
            self.scores
            - SEEN * ~unseen_mask(observation, n_items)
            - BLOCKED * self.blocked_categories(observation)[:, self.item_category]
        )  # (n_shoppers, n_items)
        if slate_size == 1:
            return penalised.argmax(axis=1)
        rows = np.arange(len(penalised))
        in_slate = np.zeros((len(penalised), self.env_config.catalog.n_categories), dtype=bool)
        slate = np.empty((len(penalised), slate_size), dtype=np.int64)
        for position in range(slate_size):
            choice = (penalised - SLATE_REPEAT * in_slate[:, self.item_category]).argmax(axis=1)
            slate[:, position] = choice
            penalised[rows, choice] = -np.inf  # distinct items within the slate
            in_slate[rows, self.item_category[choice]] = True
        return slate

    def blocked_categories(self, observation: Mapping[str, NDArray]) -> NDArray[np.bool_]:
        """``(n, n_categories)`` True for categories shown in the last ``rotation_window`` steps.

        Only this session's impressions count (the first ``step * slate_size`` history
        entries): a returning shopper's past picks are favourites, not fatigue.
        """
        history = observation["history"]  # (n, H), most recent first
        n_categories = self.env_config.catalog.n_categories
        slate_size = self.env_config.slate_size
        shown = observation["session"][:, STEP].astype(np.int64) * slate_size
        recent = np.minimum(shown, self.rotation_window * slate_size)  # (n,)
        category = np.append(self.item_category, n_categories)[history]  # padding: extra bin
        category = np.where(np.arange(history.shape[1]) < recent[:, None], category, n_categories)
        blocked = np.zeros((len(history), n_categories + 1), dtype=bool)
        blocked[np.arange(len(history))[:, None], category] = True
        return blocked[:, :n_categories]

    predict = predict_with_act

    learn = learn_from_random_logs  # logs random recommendations, then fit

    def fit(self, logs: InteractionLog, logger: Logger | None = None) -> None:
        """Smoothed click, cart and purchase rates per item from logged impressions."""
        n_items, strength = len(self.scores), self.prior_strength
        carted, cart_known = logged_carts(logs)
        shown = np.bincount(logs.item, minlength=n_items)
        clicks = np.bincount(logs.item[logs.clicked], minlength=n_items)
        carts = np.bincount(logs.item[carted], minlength=n_items)
        cart_trials = np.bincount(logs.item[logs.clicked & cart_known], minlength=n_items)
        purchases = np.bincount(logs.item[logs.purchased], minlength=n_items)
        self.rates = {
            "click_rate": smoothed_rate(clicks, shown, strength),
            "cart_rate": smoothed_rate(carts, cart_trials, strength),
            "purchase_rate": smoothed_rate(purchases, clicks, strength),
        }
        self.scores = self.score()

    def fit_summary(self, logs: InteractionLog) -> dict[str, float]:
        return {"logged_impressions": len(logs)}

    def score(self) -> NDArray[np.float64]:
        """``click_rate * E[reward | click]``: the env's reward formula with the rule's click
        and purchase weights, ``cart_rate`` and ``purchase_rate`` as event probabilities."""
        rates = self.rates
        per_click = expected_reward(
            self.rewards, 1.0, rates["cart_rate"], rates["purchase_rate"], self.price
        )
        return rates["click_rate"] * per_click

    def save(self, path: str | Path) -> None:
        save_agent_files(
            path,
            KIND,
            self.env_config,
            self.hyperparameters,
            arrays=self.rates,
            extra={"seed": self.seed, "steps_done": self.steps_done},
        )

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> RuleAgent:
        agent, meta, arrays = load_agent(cls, path, KIND, env_config)
        missing = [name for name in RATES if name not in arrays]
        if missing or any(arrays[name].shape != agent.scores.shape for name in RATES):
            raise ValueError(
                f"checkpoint {path} must hold rates {list(RATES)} of shape {agent.scores.shape}"
            )
        agent.rates = {name: arrays[name] for name in RATES}
        agent.scores, agent.steps_done = agent.score(), int(meta.get("steps_done", 0))
        return agent


def smoothed_rate(
    events: NDArray[np.integer], trials: NDArray[np.integer], strength: float
) -> NDArray[np.float64]:
    """``(events + strength * mean) / (trials + strength)``, mean = the pooled rate.

    Items with few trials shrink toward the catalog-wide rate instead of 0/1 extremes.
    """
    mean = events.sum() / max(trials.sum(), 1)
    denominator = trials + strength
    numerator = events + strength * mean
    return np.divide(numerator, denominator, out=np.full(len(events), mean), where=denominator > 0)
