"""LinUCB with disjoint linear models (Li, Chu, Langford, Schapire 2010, Algorithm 1).

Per item a: ``A_a = ridge * I + sum x x^T`` and ``b_a = sum (r / kappa_k) x`` over its
impressions (context ``x``, click ``r``, position examination ``kappa_k``, 1 without
``position_debias``); ``theta_a = A_a^-1 b_a``. Training shows the top items by the upper
confidence bound ``theta_a . x + alpha sqrt(x^T A_a^-1 x)``; evaluation by ``theta_a . x``.
``b`` is kept per position, so the estimate uses the latest examination. The context
``x`` is ``agents.bandits.context.context_vector``. A vector step's impressions are one
batched update (the paper updates after each; with a batch of one the two are identical).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from agents import hyperparameters as hp
from agents.bandits.context import context_dimension, context_vector
from agents.bandits.online import (
    PositionModel,
    as_action,
    learn_online,
    load_bandit,
    ranked_slates,
    save_bandit,
)
from agents.base import EnvSource, Info, Observation, predict_with_act
from recenv.sim.config import EnvConfig
from recenv.sim.items import item_features

KIND = "linucb"


@dataclass(frozen=True)
class LinUCBConfig(hp.Hyperparameters):
    """LinUCB's knobs; the field comments are the help text."""

    alpha: float = 1.0  # width of the confidence bound (the paper's alpha; 0: greedy)
    ridge: float = 1.0  # ridge penalty: A starts at ridge * identity
    position_debias: bool = True  # shuffle training slates, divide clicks by examination

    agent: ClassVar[str] = KIND
    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges(
        {hp.NON_NEGATIVE: "alpha", hp.POSITIVE: "ridge"}
    )


def sum_by_key(
    keys: NDArray[np.int64], values: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The distinct ``keys`` and the sums of their rows of ``values``, by a sort and
    ``reduceat``: single-threaded, unlike a one-hot matmul whose BLAS threads stall on a
    busy machine (25x slower measured on 2 loaded cores)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return sorted_keys[starts], np.add.reduceat(values[order], starts, axis=0)


class LinUCBAgent:
    """Per-item ridge regressions of the click on the context; top upper confidence bounds."""

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, LinUCBConfig, settings)
        self.seed, self.steps_done, self.rng = seed, 0, np.random.default_rng(seed)
        catalog, slate_size = self.env_config.catalog, self.env_config.slate_size
        self.positions = PositionModel(slate_size, self.config.position_debias)
        self.item_category = item_features(self.env_config)["category"]
        dimension = context_dimension(catalog.n_categories)
        self.A = np.tile(self.config.ridge * np.eye(dimension), (catalog.n_items, 1, 1))
        self.b = np.zeros((catalog.n_items, slate_size, dimension))
        self._refresh()

    def contexts(self, observation: Observation) -> NDArray[np.float64]:
        """``(n, d)`` the context vector of each shopper."""
        return context_vector(observation, self.item_category, self.env_config.max_steps)

    def _refresh(self) -> None:
        """``A^-1`` and ``theta`` from ``A`` and ``b`` (after every update)."""
        examination = self.positions.examination()
        b = (self.b / examination[None, :, None]).sum(axis=1)  # (M, d)
        self.A_inverse = np.linalg.inv(self.A)
        self.theta = np.einsum("mde,me->md", self.A_inverse, b)

    def scores(self, observation: Observation, deterministic: bool) -> NDArray[np.float64]:
        """``(n, M)``: ``theta . x``, plus ``alpha sqrt(x^T A^-1 x)`` when exploring."""
        x = self.contexts(observation)
        mean = x @ self.theta.T
        if deterministic or self.config.alpha == 0:
            return mean
        spread = np.matmul(x[None], self.A_inverse)  # (M, n, d): x^T A_a^-1 per item
        width = np.sqrt(np.maximum((spread * x[None]).sum(axis=2), 0.0)).T
        return mean + self.config.alpha * width

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        scores = self.scores(observation, deterministic)
        slate_size = self.env_config.slate_size
        return as_action(ranked_slates(scores, slate_size, None if deterministic else self.rng))

    predict = predict_with_act
    learn = learn_online

    def update(
        self, observation: Observation, slates: NDArray[np.int64], clicked: NDArray[np.bool_]
    ) -> None:
        """``A_a += x x^T`` and ``b_a[k] += r x`` for every shown ``(n, K)`` impression."""
        self.positions.update(clicked)
        n, slate_size = slates.shape
        x = np.repeat(self.contexts(observation), slate_size, axis=0)  # (n K, d)
        items, positions = slates.ravel(), np.tile(np.arange(slate_size), n)
        dimension = x.shape[1]
        outer = (x[:, :, None] * x[:, None, :]).reshape(len(x), dimension**2)
        shown, sums = sum_by_key(items, outer)
        self.A[shown] += sums.reshape(-1, dimension, dimension)
        cell, sums = sum_by_key(items * slate_size + positions, clicked.ravel()[:, None] * x)
        self.b[cell // slate_size, cell % slate_size] += sums
        self._refresh()

    def state_arrays(self) -> dict[str, NDArray]:
        return {"A": self.A, "b": self.b}

    def restore(self, arrays: dict[str, NDArray]) -> None:
        self.A, self.b = arrays["A"], arrays["b"]
        self._refresh()

    def save(self, path: str | Path) -> None:
        save_bandit(self, path, KIND)

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> LinUCBAgent:
        return load_bandit(cls, path, KIND, env_config)
