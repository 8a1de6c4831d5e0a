"""The shop-page policy: what a shopper browsing a shop sees, for simulating organic sessions.

A real session log (Taobao's) holds what shoppers *opened*, on pages the shop composed:
recently viewed items, more of the categories they browse, and other items. To compare the
simulator with such a log (``experiments.calibrate kind=sessions``, ``experiments.fidelity
kind=sessions``) a session needs pages like those, so this behaviour policy shows, each step,
a slate of ``slate_size`` distinct items:

* ``recent`` items the shopper viewed (clicked) lately, most recent first,
* ``similar`` random items from the categories of their recent views,
* the rest uniformly random from the catalog,

falling back to random items when the history is short. It reads only the observation
(``role = "baseline"``): a stated, observation-only behaviour policy, not a learner. The
proportions are fixed, documented constants of a calibration, not fitted.
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
    Observation,
    learn_nothing,
    load_agent,
    predict_with_act,
    save_agent_files,
)
from recenv.sim.config import EnvConfig, out_of_range
from recenv.sim.items import item_features
from recenv.sim.state import EVENT_CLICKED

KIND = "shop_page"


@dataclass(frozen=True)
class ShopPageConfig(hp.Hyperparameters):
    """How a page is composed; both counts are at most the slate size, together too."""

    recent: int = 1  # recently viewed items, most recent first
    similar: int = 3  # random items of the recently viewed categories

    agent: ClassVar[str] = KIND
    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges({hp.NON_NEGATIVE: "recent similar"})


class ShopPagePolicy:
    """Recently viewed + similar + random items per page (see the module docstring)."""

    role = "baseline"

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, ShopPageConfig, settings)
        recent, similar = self.config.recent, self.config.similar
        size = self.env_config.slate_size
        for name, value in (
            ("recent", recent),
            ("similar", similar),
            ("recent + similar", recent + similar),
        ):
            if value > size:
                raise out_of_range(f"shop_page.{name}", value, f"[0, slate_size = {size}]")
        self.recent, self.similar, self.seed = int(recent), int(similar), int(seed)
        self.category = item_features(self.env_config)["category"]
        self.sorted_items = np.argsort(self.category, kind="stable")  # items grouped by category
        self.count = np.bincount(self.category)
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])
        self.rng = np.random.default_rng(seed)

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        """One page per shopper (vectorised: a slate is drawn for every shopper at once)."""
        history, events = np.asarray(observation["history"]), observation["history_events"]
        n_shoppers, size = len(history), self.env_config.slate_size
        n_items = len(self.category)
        rows = np.arange(n_shoppers)
        viewed = np.asarray(events) >= EVENT_CLICKED  # (n, H), most recent first
        has_view = viewed.any(axis=1)
        slates = self.rng.integers(0, n_items, size=(n_shoppers, size))
        column = 0
        if self.recent:  # the most recently viewed item (recent > 1: the next ones too)
            order = np.argsort(~viewed, axis=1, kind="stable")
            for k in range(self.recent):
                take = viewed[rows, order[:, k]]
                slates[:, column] = np.where(take, history[rows, order[:, k]], slates[:, column])
                column += 1
        if self.similar:  # random items of the categories of random recent views
            weights = viewed / np.maximum(viewed.sum(axis=1, keepdims=True), 1)
            cumulative = np.cumsum(weights, axis=1)
            for _ in range(self.similar):
                pick = (cumulative < self.rng.random((n_shoppers, 1))).sum(axis=1)
                pick = np.minimum(pick, history.shape[1] - 1)
                category = self.category[np.minimum(history[rows, pick], n_items - 1)]
                offset = self.start[category] + (
                    self.rng.random(n_shoppers) * self.count[category]
                ).astype(np.int64)
                slates[:, column] = np.where(has_view, self.sorted_items[offset], slates[:, column])
                column += 1
        return self._distinct(slates)[:, 0] if size == 1 else self._distinct(slates)

    def _distinct(self, slates: NDArray[np.int64]) -> NDArray[np.int64]:
        """Redraw repeated items at random until every slate holds distinct items."""
        n_items = len(self.category)
        for _ in range(100):
            ordered = np.sort(slates, axis=1)
            repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
            if not repeated.any():
                return slates
            for position in range(1, slates.shape[1]):
                clash = (slates[:, position : position + 1] == slates[:, :position]).any(axis=1)
                slates[clash, position] = self.rng.integers(0, n_items, int(clash.sum()))
        raise RuntimeError("could not draw distinct slates")

    predict = predict_with_act

    learn = learn_nothing  # a stated behaviour policy

    def save(self, path: str | Path) -> None:
        extra = {"seed": self.seed}
        save_agent_files(path, KIND, self.env_config, asdict(self.config), extra=extra)

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> ShopPagePolicy:
        return load_agent(cls, path, KIND, env_config)[0]
