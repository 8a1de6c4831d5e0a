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
    unseen_mask,
)
from agents.logs import InteractionLog, learn_from_random_logs
from recenv.sim.config import EnvConfig, config_from_dict
from recenv.sim.env import resolve_config
from recenv.sim.items import item_features
from recenv.sim.state import EVENT_NAMES, SESSION_FEATURES

KIND = "rule"
HYPERPARAMETERS = [
    "click_weight",
    "purchase_weight",
    "prior_strength",
    "rotation_window",
    "refit_interval",
]
RATES = ("click_rate", "cart_rate", "purchase_rate")
CARTED = EVENT_NAMES.index("carted")  # the next code, "bought", implies carted too
STEP = SESSION_FEATURES.index("step")
# Penalties ordering the fallbacks, each larger than any score: a seen item is worse than a
# category repeated within the slate, which is worse than a category blocked by rotation.
SEEN, SLATE_REPEAT, BLOCKED = 4e9, 2e9, 1e9


class RuleAgent:
    """Logged expected reward per impression, no repeats, category rotation."""

    role = "baseline"  # a simple rule: the bar a learning agent must clear

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        click_weight: float | None = None,
        purchase_weight: float | None = None,
        prior_strength: float = 10.0,
        rotation_window: int = 9,
        refit_interval: int = 0,
        **unknown: Any,
    ) -> None:
        reject_unknown(KIND, unknown, HYPERPARAMETERS)
        self.env_config = resolve_config(env_config, None, {})
        funnel = self.env_config.funnel
        # None: the env's own reward weight, so the score is the expected immediate reward.
        self.click_weight = float(funnel.reward_click if click_weight is None else click_weight)
        self.purchase_weight = float(
            funnel.reward_purchase if purchase_weight is None else purchase_weight
        )
        self.prior_strength = float(prior_strength)
        self.rotation_window, self.refit_interval = int(rotation_window), int(refit_interval)
        for name in HYPERPARAMETERS:
            check_positive(KIND, name, getattr(self, name), allow_zero=True)
        self.seed, self.steps_done = seed, 0
        features = item_features(self.env_config)
        self.item_category = features["category"]  # (n_items,)
        revenue = funnel.purchase_reward == "revenue"
        price = features["price"].astype(np.float64)
        self.item_value = price if revenue else np.ones_like(price)  # (n_items,)
        n_items = len(price)
        self.rates = {name: np.zeros(n_items) for name in RATES}
        self.scores = np.zeros(n_items)

    @property
    def hyperparameters(self) -> dict[str, float | int]:
        """The resolved knobs (env weights filled in): what a checkpoint stores."""
        return {name: getattr(self, name) for name in HYPERPARAMETERS}

    def act(
        self,
        observation: Mapping[str, NDArray],
        deterministic: bool = False,
        info: Mapping[str, Any] | None = None,
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

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        """stable-baselines3's acting API."""
        return self.act(observation, deterministic), None

    def learn(
        self,
        env: Any,
        total_steps: int,
        logger: Logger | None = None,
        callback: Callback | None = None,
    ) -> RuleAgent:
        """Log ``total_steps`` shopper-steps of random recommendations and estimate the rates."""
        logs = learn_from_random_logs(
            self, env, total_steps, self.refit_interval, self.fit, callback
        )
        (logger or NullLogger()).record("train/logged_impressions", len(logs), self.steps_done)
        return self

    def fit(self, logs: InteractionLog) -> None:
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

    def score(self) -> NDArray[np.float64]:
        """``click_rate * (click_weight + reward_cart * cart_rate + purchase_weight * ...)``."""
        rates, reward_cart = self.rates, self.env_config.funnel.reward_cart
        return rates["click_rate"] * (
            self.click_weight
            + reward_cart * rates["cart_rate"]
            + self.purchase_weight * rates["purchase_rate"] * self.item_value
        )

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
        meta, arrays = load_agent_files(path, KIND)
        agent = cls(
            env_config or config_from_dict(meta["env_config"]),
            seed=meta["seed"],
            **meta["hyperparameters"],
        )
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


def logged_carts(logs: InteractionLog) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per row: was the item carted, and is that known (``(carted, known)``).

    An impression's cart shows in the next observation of its session: the slate enters
    the history at its positions, a carted click marked "carted" (or "bought" if checked out
    at once). A bought item was carted; a click with no next step (the session or the log
    ended) is otherwise unknown.
    """
    carted, known = logs.purchased.copy(), logs.purchased.copy()
    session, position = logs.session, logs.position
    history_events = logs.observation["history_events"]
    clicked_rows = np.flatnonzero(logs.clicked)
    if len(clicked_rows) == 0:
        return carted, known
    step = logs.observation["session"][:, STEP].astype(np.int64)
    key = session * (int(step.max(initial=0)) + 2) + step  # unique per (session, step)
    first_rows = np.flatnonzero(position == 0)  # one row per logged step
    order = np.argsort(key[first_rows])
    sorted_keys, sorted_rows = key[first_rows][order], first_rows[order]
    index = np.searchsorted(sorted_keys, key[clicked_rows] + 1)
    index = np.minimum(index, len(sorted_keys) - 1)  # a clicked row's step has a first row
    clicked_position = position[clicked_rows]
    found = (sorted_keys[index] == key[clicked_rows] + 1) & (
        clicked_position < history_events.shape[1]
    )
    next_rows = sorted_rows[index]
    marked = history_events[next_rows, np.minimum(clicked_position, history_events.shape[1] - 1)]
    carted[clicked_rows] |= found & (marked >= CARTED)
    known[clicked_rows] |= found
    return carted, known
