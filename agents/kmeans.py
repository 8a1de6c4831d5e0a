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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

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
    top_items,
    unseen_mask,
)
from agents.logs import InteractionLog, learn_from_random_logs, logged_carts
from recenv.sim.config import EnvConfig
from recenv.sim.items import item_features

if TYPE_CHECKING:
    from agents.explain import ClusterExplanation

KIND = "kmeans"
EVENT_WEIGHT = np.array([0.0, 0.25, 1.0, 1.5, 2.0])  # pad, viewed, clicked, carted, bought
MAX_FIT_ROWS = 20_000
SILHOUETTE_SAMPLE = 2_000


@dataclass(frozen=True)
class KMeansConfig(hp.Hyperparameters):
    """K-means hyperparameters; the field comments are the help text."""

    n_clusters: int = 8  # shopper clusters
    smoothing: float = 5.0  # pseudo-impressions pulling a cluster's item score to the item's
    refit_interval: int = 0  # logged shopper-steps between refits (0: one fit on the whole log)

    agent: ClassVar[str] = KIND
    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges(
        {hp.AT_LEAST_ONE: "n_clusters", hp.NON_NEGATIVE: "smoothing refit_interval"}
    )


class KMeansAgent:
    """Per-cluster best items, clusters of shoppers by their history's category mix."""

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, KMeansConfig, settings)
        self.seed, self.n_clusters, self.steps_done = seed, self.config.n_clusters, 0
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
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        scores = self.cluster_scores[self.clusters(observation)]
        n_items = self.env_config.catalog.n_items
        scores = np.where(unseen_mask(observation, n_items), scores, scores - 1e9)
        return top_items(scores, self.env_config.slate_size)

    predict = predict_with_act

    def explain(
        self, observation: Observation, item: int | NDArray[np.int64]
    ) -> ClusterExplanation | list[ClusterExplanation]:
        """The shopper's cluster, its signature categories and the item's score there
        (``agents.explain.explain_clusters``)."""
        from agents.explain import explain_clusters  # torch and Captum: only when explaining

        return explain_clusters(self, observation, item)

    learn = learn_from_random_logs  # logs random recommendations, then fit

    def fit(self, logs: InteractionLog, logger: Logger | None = None) -> None:
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
        # the reward each logged impression earned (revenue credited to bought items)
        carted, _ = logged_carts(logs)
        weights, price = RewardWeights.of(config.funnel), self.price[logs.item]
        reward = expected_reward(weights, logs.clicked, carted, logs.purchased, price)
        n_items = config.catalog.n_items
        item_mean = np.bincount(logs.item, reward, n_items) / np.maximum(
            np.bincount(logs.item, minlength=n_items), 1
        )
        cell = cluster * n_items + logs.item
        sums = np.bincount(cell, reward, self.n_clusters * n_items).reshape(self.n_clusters, -1)
        counts = np.bincount(cell, minlength=self.n_clusters * n_items).reshape(self.n_clusters, -1)
        smoothing = self.config.smoothing
        self.cluster_scores = (sums + smoothing * item_mean) / (counts + smoothing)

    def fit_summary(self, logs: InteractionLog) -> dict[str, float]:
        return {"kmeans_inertia": self.inertia, "kmeans_silhouette": self.silhouette}

    def save(self, path: str | Path) -> None:
        save_agent_files(
            path,
            KIND,
            self.env_config,
            asdict(self.config),
            arrays={"centres": self.centres, "cluster_scores": self.cluster_scores},
            extra={"seed": self.seed, "inertia": self.inertia, "silhouette": self.silhouette},
        )

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> KMeansAgent:
        agent, meta, arrays = load_agent(cls, path, KIND, env_config)
        agent.centres, agent.cluster_scores = arrays["centres"], arrays["cluster_scores"]
        agent.inertia, agent.silhouette = meta["inertia"], meta["silhouette"]
        return agent
