"""K-means: the clustering recommender.

Each shopper is represented by what they did, in observable item features: the share of
each category in their history, weighted by how far they went (viewed < clicked < carted <
bought), plus whether they have a history at all. scikit-learn's ``KMeans`` clusters the
shoppers of uniform-random logs; each cluster's items are scored by their smoothed logged
reward per impression, ``(sum_r + a * item_mean) / (n + a)``; a shopper is shown their
cluster's best items that they have not just seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

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
from recenv.sim.items import item_features

KIND = "kmeans"
EVENT_WEIGHT = np.array([0.0, 0.25, 1.0, 1.5, 2.0])  # pad, viewed, clicked, carted, bought
MAX_FIT_ROWS = 20_000
SILHOUETTE_SAMPLE = 2_000


def logged_reward(logs: InteractionLog, config: EnvConfig, price: NDArray) -> NDArray:
    """The immediate reward each logged impression earned (revenue credited to bought items)."""
    funnel = config.funnel
    purchase_value = price[logs.item] if funnel.purchase_reward == "revenue" else 1.0
    return funnel.reward_click * logs.clicked + funnel.reward_purchase * purchase_value * (
        logs.purchased
    )


class KMeansAgent:
    """Per-cluster best items, clusters of shoppers by their history's category mix."""

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        n_clusters: int = 8,
        smoothing: float = 5.0,
        refit_interval: int = 0,
        **unknown: Any,
    ) -> None:
        reject_unknown("kmeans", unknown, ["n_clusters", "smoothing", "refit_interval"])
        check_positive("kmeans", "refit_interval", refit_interval, allow_zero=True)
        if n_clusters < 1:
            raise ValueError(f"kmeans.n_clusters = {n_clusters} is out of range; allowed: >= 1")
        check_positive("kmeans", "smoothing", smoothing, allow_zero=True)
        self.env_config = resolve_config(env_config, None, {})
        self.seed, self.n_clusters, self.smoothing = seed, int(n_clusters), float(smoothing)
        self.refit_interval, self.steps_done = int(refit_interval), 0
        features, catalog = item_features(self.env_config), self.env_config.catalog
        self.item_category, self.price = features["category"], features["price"]
        self.centres = np.zeros((self.n_clusters, catalog.n_categories + 1))
        self.cluster_scores = np.zeros((self.n_clusters, catalog.n_items))
        self.inertia, self.silhouette = float("nan"), float("nan")

    def shopper_features(self, observation: Mapping[str, NDArray]) -> NDArray[np.float64]:
        """``(n, n_categories + 1)``: weighted category shares of the history, has-history flag."""
        history, events = observation["history"], observation["history_events"]
        n_categories = self.env_config.catalog.n_categories
        weights = EVENT_WEIGHT[events]
        category = np.append(self.item_category, 0)[history]  # padding counts with weight 0
        shares = np.zeros((len(history), n_categories))
        np.add.at(shares, (np.arange(len(history))[:, None], category), weights)
        total = shares.sum(axis=1, keepdims=True)
        has_history = (total > 0).astype(float)
        return np.hstack([shares / np.maximum(total, 1e-12), has_history])

    def clusters(self, observation: Mapping[str, NDArray]) -> NDArray[np.int64]:
        features = self.shopper_features(observation)
        distances = ((features[:, None, :] - self.centres[None]) ** 2).sum(axis=2)
        return distances.argmin(axis=1)

    def act(
        self,
        observation: Mapping[str, NDArray],
        deterministic: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> NDArray[np.int64]:
        scores = self.cluster_scores[self.clusters(observation)]
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
    ) -> KMeansAgent:
        """Log random recommendations, cluster the shoppers, score items per cluster."""
        logger = logger or NullLogger()
        learn_from_random_logs(self, env, total_steps, self.refit_interval, self.fit, callback)
        logger.record("train/kmeans_inertia", self.inertia, self.steps_done)
        logger.record("train/kmeans_silhouette", self.silhouette, self.steps_done)
        return self

    def fit(self, logs: InteractionLog) -> None:
        """Cluster the logged shoppers, then score every item per cluster."""
        config = self.env_config
        features = self.shopper_features(logs.observation)
        rng = np.random.default_rng(self.seed)
        fit_rows = rng.permutation(len(features))[:MAX_FIT_ROWS]
        model = KMeans(self.n_clusters, n_init=3, random_state=self.seed).fit(features[fit_rows])
        self.centres = model.cluster_centers_
        self.inertia = float(model.inertia_)
        sample = fit_rows[:SILHOUETTE_SAMPLE]
        labels = model.labels_[: len(sample)]
        self.silhouette = (
            float(silhouette_score(features[sample], labels)) if len(set(labels)) > 1 else 0.0
        )
        cluster = self.clusters(logs.observation)
        reward = logged_reward(logs, config, self.price)
        n_items = config.catalog.n_items
        item_mean = np.bincount(logs.item, reward, n_items) / np.maximum(
            np.bincount(logs.item, minlength=n_items), 1
        )
        cell = cluster * n_items + logs.item
        sums = np.bincount(cell, reward, self.n_clusters * n_items).reshape(self.n_clusters, -1)
        counts = np.bincount(cell, minlength=self.n_clusters * n_items).reshape(self.n_clusters, -1)
        self.cluster_scores = (sums + self.smoothing * item_mean) / (counts + self.smoothing)

    def save(self, path: str | Path) -> None:
        save_agent_files(
            path,
            KIND,
            self.env_config,
            {
                "n_clusters": self.n_clusters,
                "smoothing": self.smoothing,
                "refit_interval": self.refit_interval,
            },
            arrays={"centres": self.centres, "cluster_scores": self.cluster_scores},
            extra={"seed": self.seed, "inertia": self.inertia, "silhouette": self.silhouette},
        )

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> KMeansAgent:
        meta, arrays = load_agent_files(path, KIND)
        agent = cls(
            env_config or config_from_dict(meta["env_config"]),
            seed=meta["seed"],
            **meta["hyperparameters"],
        )
        agent.centres, agent.cluster_scores = arrays["centres"], arrays["cluster_scores"]
        agent.inertia, agent.silhouette = meta["inertia"], meta["silhouette"]
        return agent
