"""A calibrated scenario's world: the fitted click model mapped onto the simulator exactly.

The click model (fitted offline by ``recenv.offline.calibration``) is

    logit P(click | user x, item i, position k) = b + a_i + g_k + sum_f w_f[x_f]

Its world: item appeal ``b + a_i`` (``b`` here includes ``g_0``), position utilities
``g_k - g_0``, no-click utility 0, and one shopper segment per distinct user profile (shares
as in the log) whose one-dimensional "taste" is its offset ``sum_f w_f[x_f]`` against item
embeddings equal to 1. An item shown alone at position k is then clicked by profile x with
probability ``sigmoid(b + a_i + g_k + offset_x)``, the fitted model; with several items the
multinomial logit shares the click among them. The simulator reads the model from its JSON
file only: building a world never imports the fitting code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from recenv.sim.catalog import Catalog
from recenv.sim.config import EnvConfig
from recenv.sim.shoppers import FAVOURITES, Population

CALIBRATION_DIR = Path(__file__).resolve().parent.parent / "presets" / "calibrations"


@dataclass(frozen=True)
class ClickModel:
    """The fitted coefficients and what the world needs besides (profiles, categories)."""

    intercept: float
    item: NDArray[np.float64]  # (n_items,)
    position: NDArray[np.float64]  # (n_positions,), position[0] == 0
    user_features: tuple[str, ...]
    user_levels: tuple[tuple[str, ...], ...]  # per feature, its values (codes index them)
    user_weights: tuple[NDArray[np.float64], ...]  # per feature, one weight per level code
    profiles: NDArray[np.int64]  # (n_profiles, n_features) distinct user-feature codes
    profile_share: NDArray[np.float64]  # (n_profiles,), sums to 1
    item_category: NDArray[np.int64]  # (n_items,)
    spreads: tuple[float, ...]  # prior SD of each factor's effects (item, position, users...)
    estimation: str  # "empirical_bayes", "fixed" or "cross_validated" (how spreads were set)
    item_spread_ci: tuple[float, float] | None = None  # 95% profile-likelihood interval
    source: str = ""
    n_rows: int = 0
    n_clicks: int = 0

    @property
    def n_items(self) -> int:
        return len(self.item)

    @property
    def n_positions(self) -> int:
        return len(self.position)

    @property
    def factors(self) -> tuple[str, ...]:
        """Names of the random-effect factors, in the order of ``spreads``."""
        return ("item", "position", *self.user_features)

    @property
    def item_spread(self) -> float:
        """The estimated SD of item effects in logit: how far the log tells items apart."""
        return self.spreads[0]

    @property
    def n_categories(self) -> int:
        return int(self.item_category.max()) + 1

    def encode_users(self, frame) -> NDArray[np.int64]:
        """User-feature codes ``(n, n_features)`` of a log's rows; unseen values are -1."""
        codes = np.full((len(frame), len(self.user_features)), -1, dtype=np.int64)
        pairs = zip(self.user_features, self.user_levels, strict=True)
        for column, (name, levels) in enumerate(pairs):
            if name in frame.columns:
                lookup = {level: code for code, level in enumerate(levels)}
                values = frame[name].astype(str).map(lookup)
                codes[:, column] = values.fillna(-1).to_numpy(dtype=np.int64)
        return codes

    def user_offset(self, codes: NDArray[np.int64]) -> NDArray[np.float64]:
        """``sum_f w_f[x_f]`` per row of user-feature codes (unseen levels count 0)."""
        offset = np.zeros(len(codes))
        for column, weights in enumerate(self.user_weights):
            level = codes[:, column]
            known = (level >= 0) & (level < len(weights))
            offset[known] += weights[level[known]]
        return offset

    def probability(
        self, codes: NDArray[np.int64], item: NDArray[np.int64], position: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """P(click) of each (user codes, item, position) row."""
        logit = self.intercept + self.item[item] + self.position[position] + self.user_offset(codes)
        return 1.0 / (1.0 + np.exp(-logit))

    def save(self, path: str | Path) -> None:
        payload = {
            "kind": "click_model",
            "form": "logit P = intercept + item[i] + position[k] + sum_f user[f][x_f]",
            "intercept": self.intercept,
            "item": self.item.tolist(),
            "position": self.position.tolist(),
            "user_features": list(self.user_features),
            "user_levels": [list(levels) for levels in self.user_levels],
            "user_weights": [weights.tolist() for weights in self.user_weights],
            "profiles": self.profiles.tolist(),
            "profile_share": self.profile_share.tolist(),
            "item_category": self.item_category.tolist(),
            "spreads": dict(zip(self.factors, self.spreads, strict=True)),
            "estimation": self.estimation,
            "item_spread_ci": list(self.item_spread_ci) if self.item_spread_ci else None,
            "source": self.source,
            "n_rows": self.n_rows,
            "n_clicks": self.n_clicks,
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> ClickModel:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or data.get("kind") != "click_model":
            raise ValueError(f"{path} is not a click-model calibration file")
        if "spreads" not in data:
            raise ValueError(
                f"{path} has no 'spreads' (written before the empirical-Bayes fit); "
                "write it again with python -m experiments.calibrate"
            )
        ci = data.get("item_spread_ci")
        n_features = len(data["user_features"])
        return cls(
            intercept=float(data["intercept"]),
            item=np.asarray(data["item"], dtype=np.float64),
            position=np.asarray(data["position"], dtype=np.float64),
            user_features=tuple(data["user_features"]),
            user_levels=tuple(tuple(levels) for levels in data["user_levels"]),
            user_weights=tuple(np.asarray(w, dtype=np.float64) for w in data["user_weights"]),
            profiles=np.asarray(data["profiles"], dtype=np.int64).reshape(-1, n_features),
            profile_share=np.asarray(data["profile_share"], dtype=np.float64),
            item_category=np.asarray(data["item_category"], dtype=np.int64),
            spreads=tuple(float(value) for value in data["spreads"].values()),
            estimation=str(data["estimation"]),
            item_spread_ci=(float(ci[0]), float(ci[1])) if ci else None,
            source=data.get("source", ""),
            n_rows=int(data.get("n_rows", 0)),
            n_clicks=int(data.get("n_clicks", 0)),
        )


def calibration_path(name: str) -> Path:
    """A bare name means ``recenv/presets/calibrations/<name>.json``; anything else is a path."""
    if "/" not in name and not name.endswith(".json"):
        return CALIBRATION_DIR / f"{name}.json"
    return Path(name)


def load_calibration(config: EnvConfig) -> ClickModel:
    path = calibration_path(config.calibration)
    if not path.is_file():
        raise FileNotFoundError(f"calibration = {config.calibration!r}: no file at {path}")
    return ClickModel.load(path)


def check_config_matches(config: EnvConfig, model: ClickModel) -> None:
    """The env config must describe the calibrated world (sizes are fixed by the fit)."""
    expected = {
        "catalog.n_items": (config.catalog.n_items, model.n_items),
        "catalog.n_categories": (config.catalog.n_categories, model.n_categories),
        "catalog.embedding_dim": (config.catalog.embedding_dim, 1),
        "shoppers.n_segments": (config.shoppers.n_segments, len(model.profiles)),
        "slate_size": (config.slate_size, model.n_positions),
        "choice.no_click_utility": (config.choice.no_click_utility, 0.0),
    }
    for name, (value, wanted) in expected.items():
        if value != wanted:
            raise ValueError(
                f"{name} = {value} does not match calibration {config.calibration!r}; "
                f"allowed: {wanted} (write the preset with experiments.calibrate)"
            )


def calibrated_world(config: EnvConfig) -> tuple[Catalog, Population]:
    """Catalog and population of a calibrated scenario (see the module docstring)."""
    model = load_calibration(config)
    check_config_matches(config, model)
    n_items = model.n_items
    appeal = (model.intercept + model.item).astype(np.float32)
    popularity = np.exp(model.item - model.item.max())
    popularity /= popularity.sum()
    catalog = Catalog(
        category=model.item_category,
        embedding=np.ones((n_items, 1), dtype=np.float32),
        price=np.ones(n_items, dtype=np.float32),
        quality=np.zeros(n_items, dtype=np.float32),
        popularity=popularity,
        popularity_rank=np.argsort(np.argsort(-popularity)).astype(np.int64),
        is_clickbait=np.zeros(n_items, dtype=bool),
        appeal=appeal,
        release_session=np.zeros(n_items, dtype=np.int64),
        n_categories=model.n_categories,
        median_price=1.0,
        position_utility=model.position.astype(np.float32),
    )
    offsets = model.user_offset(model.profiles)
    favourites = np.argsort(-appeal)[: min(FAVOURITES, n_items)]
    population = Population(
        segment_centres=offsets[:, None].astype(np.float32),
        favourites=np.tile(favourites, (len(offsets), 1)).astype(np.int64),
        segment_cumulative=np.cumsum(model.profile_share),
        raw_tastes=True,
    )
    return catalog, population
