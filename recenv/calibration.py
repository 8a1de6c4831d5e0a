"""A click model fitted on logged data, and the simulator world it calibrates.

The model (a logistic *position-based* click model with user effects)::

    logit P(click | user x, item i, position k) = b + a_i + g_k + sum_f w_f[x_f]

``a_i`` is the item's attractiveness, ``g_k`` the position effect (``g_0 = 0``), ``w_f`` the
effect of each level of user feature f. It is fitted by scikit-learn's
``LogisticRegressionCV`` (L2, the penalty chosen by 5-fold cross-validated log-loss) on
one-hot codes: with a uniform-random logging policy (as in the Open Bandit Dataset's Random
logs) the fit is unbiased without propensity weighting.

The calibrated world maps it onto the simulator exactly: item appeal ``b + a_i``, position
utilities ``g_k``, no-click utility 0, and one shopper segment per distinct user profile
(shares as in the log) whose one-dimensional "taste" is its offset ``sum_f w_f[x_f]``
against item embeddings equal to 1. An item shown alone at position k is then clicked by
profile x with probability ``sigmoid(b + a_i + g_k + offset_x)``, the fitted model; with
several items the multinomial logit shares the click among them.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from recenv.catalog import Catalog
from recenv.config import EnvConfig
from recenv.data.logs import LoggedImpressions
from recenv.shoppers import _FAVOURITES, Population

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibrations"
DEFAULT_CS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


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
    regularisation: float  # the chosen inverse L2 strength C
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
            "regularisation": self.regularisation,
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
            regularisation=float(data["regularisation"]),
            source=data.get("source", ""),
            n_rows=int(data.get("n_rows", 0)),
            n_clicks=int(data.get("n_clicks", 0)),
        )


def fit_click_model(
    log: LoggedImpressions,
    category_feature: str | None = "item_feature_1",
    cs: tuple[float, ...] = DEFAULT_CS,
    seed: int = 0,
) -> ClickModel:
    """Fit the logistic position-based model on ``log`` (see the module docstring)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import OneHotEncoder

    frame = log.frame
    clicks = frame["click"].to_numpy()
    if clicks.sum() < 2 or clicks.sum() == len(clicks):
        raise ValueError(f"{log.name}: a click model needs clicks and non-clicks in the log")
    user_features = tuple(log.user_columns)
    user_levels = tuple(tuple(sorted(frame[name].astype(str).unique())) for name in user_features)
    codes = (
        np.stack(
            [
                frame[name].astype(str).map({v: i for i, v in enumerate(levels)}).to_numpy()
                for name, levels in zip(user_features, user_levels, strict=True)
            ],
            axis=1,
        ).astype(np.int64)
        if user_features
        else np.zeros((len(frame), 0), dtype=np.int64)
    )
    levels = [np.arange(log.n_items), np.arange(log.n_positions)]
    columns = [frame["item"].to_numpy()[:, None], frame["position"].to_numpy()[:, None]]
    for index in range(len(user_features)):
        levels.append(np.arange(len(user_levels[index])))
        columns.append(codes[:, index][:, None])
    encoder = OneHotEncoder(categories=levels, handle_unknown="ignore")
    design = sparse.csr_matrix(encoder.fit_transform(np.hstack(columns)))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # scikit-learn 1.8 announces renamed attributes
        warnings.simplefilter("ignore", FutureWarning)
        model = LogisticRegressionCV(
            Cs=list(cs), cv=folds, scoring="neg_log_loss", max_iter=2000, random_state=seed
        ).fit(design, clicks)
    coefficients = model.coef_[0]
    blocks = np.split(coefficients, np.cumsum([len(level) for level in levels])[:-1])
    item, position = blocks[0], blocks[1]
    intercept = float(model.intercept_[0]) + float(position[0])
    position = position - position[0]
    user_weights = tuple(blocks[2:])
    if user_features:
        profiles, counts = np.unique(codes, axis=0, return_counts=True)
    else:
        profiles, counts = np.zeros((1, 0), dtype=np.int64), np.array([len(frame)])
    if category_feature and category_feature in log.items.columns:
        item_category = log.items[category_feature].to_numpy(dtype=np.int64)
        item_category = np.unique(item_category, return_inverse=True)[1]
    else:
        item_category = np.zeros(log.n_items, dtype=np.int64)
    return ClickModel(
        intercept=intercept,
        item=item,
        position=position,
        user_features=user_features,
        user_levels=user_levels,
        user_weights=user_weights,
        profiles=profiles.astype(np.int64),
        profile_share=counts / counts.sum(),
        item_category=item_category.astype(np.int64),
        regularisation=float(model.C_[0]),
        source=log.name,
        n_rows=len(frame),
        n_clicks=int(clicks.sum()),
    )


def calibration_path(name: str) -> Path:
    """A bare name means ``recenv/calibrations/<name>.json``; anything else is a path."""
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
    favourites = np.argsort(-appeal)[: min(_FAVOURITES, n_items)]
    population = Population(
        segment_centres=offsets[:, None].astype(np.float32),
        favourites=np.tile(favourites, (len(offsets), 1)).astype(np.int64),
        segment_cumulative=np.cumsum(model.profile_share),
        raw_tastes=True,
    )
    return catalog, population


def replay_click_probability(
    config: EnvConfig,
    model: ClickModel,
    frame,
    items_match: bool = True,
) -> NDArray[np.float64]:
    """P(click) the calibrated *simulator* assigns to each logged (user, item, position) row.

    Reads the simulator's own tables (item utilities, position utilities, the no-click
    option) for an item shown alone, with the row's user offset as the shopper's taste.
    With ``items_match=False`` (a log of another catalog) every item gets the mean item
    utility: only positions and users carry over.
    """
    from recenv.core import build_world
    from recenv.params import item_table

    world = build_world(config)
    table = item_table(config, world.catalog)
    item = frame["item"].to_numpy()
    position = frame["position"].to_numpy()
    if np.any(position >= len(table.position_utility)):
        raise ValueError(
            f"replayed positions reach {position.max()}; the calibrated world has "
            f"{len(table.position_utility)} positions"
        )
    static = table.static_utility.astype(np.float64)
    if items_match:
        if np.any(item >= len(static)):
            raise ValueError(f"replayed item ids reach {item.max()}; the world has {len(static)}")
        item_utility = static[item]
    else:
        item_utility = np.full(len(frame), static.mean())
    taste = model.user_offset(model.encode_users(frame))  # the 1-d taste of each row's user
    embedding = table.embedding[item, 0] if items_match else 1.0  # all ones in the world
    utility = item_utility + embedding * taste + table.position_utility[position]
    return 1.0 / (1.0 + np.exp(config.choice.no_click_utility - utility))
