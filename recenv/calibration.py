"""A click model fitted on logged data, and the simulator world it calibrates.

The model (a logistic *position-based* click model with user effects)::

    logit P(click | user x, item i, position k) = b + a_i + g_k + sum_f w_f[x_f]

with item, position and user-feature effects as crossed random effects,
``a ~ N(0, s_item^2)``, ``g ~ N(0, s_position^2)``, ``w_f ~ N(0, s_f^2)``, whose spreads
are estimated from the log by empirical Bayes (``recenv.random_effects``: the Laplace
marginal likelihood, maximised). The effects are the posterior modes at those spreads, so
each is shrunk by as much as the log's evidence about its factor implies: on a 10,000-row
sample of ~40 clicks the items are barely told apart and ``a`` stays near 0, on millions of
rows it follows the data. With a uniform-random logging policy (as in the Open Bandit
Dataset's Random logs) the fit is unbiased without propensity weighting.

The calibrated world maps it onto the simulator exactly: item appeal ``b + a_i`` (``b``
here includes ``g_0``), position utilities ``g_k - g_0``, no-click utility 0, and one
shopper segment per distinct user profile (shares as in the log) whose one-dimensional
"taste" is its offset ``sum_f w_f[x_f]`` against item embeddings equal to 1. An item shown
alone at position k is then clicked by profile x with probability
``sigmoid(b + a_i + g_k + offset_x)``, the fitted model; with several items the
multinomial logit shares the click among them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from recenv.catalog import Catalog
from recenv.config import EnvConfig
from recenv.data.logs import LoggedImpressions
from recenv.random_effects import BinomialCells, fit_random_effects
from recenv.shoppers import _FAVOURITES, Population

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibrations"
N_FOLDS = 5


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


@dataclass(frozen=True)
class EncodedLog:
    """A log's rows as factor level codes: item, position, then each user feature."""

    codes: NDArray[np.int64]  # (n_rows, n_factors)
    clicks: NDArray[np.int8]  # (n_rows,)
    sessions: NDArray  # (n_rows,) session ids: folds and bootstraps resample these
    sizes: tuple[int, ...]  # levels per factor
    user_features: tuple[str, ...]
    user_levels: tuple[tuple[str, ...], ...]

    def cells(self, rows: NDArray[np.bool_] | None = None) -> BinomialCells:
        """The rows (all, or a mask of them) summed into binomial cells."""
        if rows is None:
            return BinomialCells.from_rows(self.codes, self.clicks, self.sizes)
        return BinomialCells.from_rows(self.codes[rows], self.clicks[rows], self.sizes)


def encode_log(log: LoggedImpressions) -> EncodedLog:
    """Level codes of every row (user-feature levels sorted as strings)."""
    frame = log.frame
    user_features = tuple(log.user_columns)
    user_levels = tuple(tuple(sorted(frame[name].astype(str).unique())) for name in user_features)
    columns = [frame["item"].to_numpy(), frame["position"].to_numpy()]
    for name, levels in zip(user_features, user_levels, strict=True):
        lookup = {level: code for code, level in enumerate(levels)}
        columns.append(frame[name].astype(str).map(lookup).to_numpy())
    sizes = (log.n_items, log.n_positions, *(len(levels) for levels in user_levels))
    return EncodedLog(
        codes=np.stack(columns, axis=1).astype(np.int64),
        clicks=frame["click"].to_numpy().astype(np.int8),
        sessions=frame["session"].to_numpy(),
        sizes=sizes,
        user_features=user_features,
        user_levels=user_levels,
    )


def fit_click_model(
    log: LoggedImpressions,
    category_feature: str | None = "item_feature_1",
    cs: tuple[float, ...] | None = None,
    seed: int = 0,
) -> ClickModel:
    """Fit the click model on ``log`` (see the module docstring); spreads by empirical Bayes.

    ``cs`` replaces the estimate by a fixed L2 penalty: one inverse strength C (scikit-learn's
    convention, a prior SD of ``sqrt(C)`` for every effect), or several, of which the one
    with the best 5-fold held-out log-likelihood (folds of sessions drawn with ``seed``).
    """
    encoded = encode_log(log)
    clicks = int(encoded.clicks.sum())
    if clicks < 2 or clicks == len(encoded.clicks):
        raise ValueError(f"{log.name}: a click model needs clicks and non-clicks in the log")
    if cs is None:
        fit, estimation = fit_random_effects(encoded.cells()), "empirical_bayes"
    else:
        spread = _cross_validated_spread(encoded, cs, seed)
        fit = fit_random_effects(encoded.cells(), spreads=np.full(len(encoded.sizes), spread))
        estimation = "fixed" if len(cs) == 1 else "cross_validated"
    item, position = fit.effects[0], fit.effects[1]
    if encoded.user_features:
        profiles, counts = np.unique(encoded.codes[:, 2:], axis=0, return_counts=True)
    else:
        profiles, counts = np.zeros((1, 0), dtype=np.int64), np.array([len(encoded.codes)])
    if category_feature and category_feature in log.items.columns:
        item_category = log.items[category_feature].to_numpy(dtype=np.int64)
        item_category = np.unique(item_category, return_inverse=True)[1]
    else:
        item_category = np.zeros(log.n_items, dtype=np.int64)
    return ClickModel(
        intercept=fit.intercept + float(position[0]),
        item=item,
        position=position - position[0],
        user_features=encoded.user_features,
        user_levels=encoded.user_levels,
        user_weights=tuple(fit.effects[2:]),
        profiles=profiles.astype(np.int64),
        profile_share=counts / counts.sum(),
        item_category=item_category.astype(np.int64),
        spreads=tuple(float(s) for s in fit.spreads),
        estimation=estimation,
        source=log.name,
        n_rows=len(encoded.codes),
        n_clicks=clicks,
    )


def _cross_validated_spread(encoded: EncodedLog, cs: tuple[float, ...], seed: int) -> float:
    """``sqrt(C)`` of the ``C`` in ``cs`` with the best held-out log-likelihood."""
    if not cs or min(cs) <= 0:
        raise ValueError(f"cs = {cs}; allowed: None, or inverse L2 strengths > 0")
    if len(cs) == 1:
        return float(np.sqrt(cs[0]))
    n_factors = len(encoded.sizes)
    scores = [
        held_out_log_likelihood(encoded, seed, np.full(n_factors, np.sqrt(c)))[0].mean() for c in cs
    ]
    return float(np.sqrt(cs[int(np.argmax(scores))]))


def held_out_log_likelihood(
    encoded: EncodedLog, seed: int = 0, spreads: NDArray | None = None, n_folds: int = N_FOLDS
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Out-of-fold log-likelihood of every row: the click model and the constant CTR.

    Sessions are cut into ``n_folds`` folds (drawn with ``seed``); each fold is predicted by
    the model fitted on the others (spreads re-estimated, unless ``spreads`` fixes them)
    and by the others' CTR. Returns two ``(n_rows,)`` arrays of ``log P(observed click)``.
    """
    sessions, session_of_row = np.unique(encoded.sessions, return_inverse=True)
    fold = np.random.default_rng(seed).permutation(len(sessions)) % n_folds
    fold_of_row = fold[session_of_row.ravel()]
    model, constant = np.zeros(len(fold_of_row)), np.zeros(len(fold_of_row))
    clicked = encoded.clicks.astype(bool)
    for held_out in range(n_folds):
        test, train = fold_of_row == held_out, fold_of_row != held_out
        fit = fit_random_effects(encoded.cells(train), spreads=spreads)
        logit = fit.logit(encoded.codes[test])
        model[test] = -np.logaddexp(0.0, np.where(clicked[test], -logit, logit))
        rate = encoded.clicks[train].mean()
        constant[test] = np.log(np.where(clicked[test], rate, 1.0 - rate))
    return model, constant


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
