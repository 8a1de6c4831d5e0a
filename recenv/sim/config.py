"""Typed, validated configuration of the shopper simulator.

The dataclasses here are the single source of truth for every knob of the simulator: Hydra
uses them as structured-config schemas (so a typo fails at composition) and plain Python
users build them directly or through :func:`make_config`. Every field is range-checked in
``__post_init__``; a bad value raises :class:`ValueError` naming the field, the value and
the allowed range.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from recenv.sim.memory import check_memory

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets" / "env"


class Bound(NamedTuple):
    """Allowed closed interval ``[low, high]`` of a numeric field (None = unbounded)."""

    low: float | None = None
    high: float | None = None

    def describe(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"[{low}, {high}]"

    def contains(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


POSITIVE_INT = Bound(1, None)
NON_NEGATIVE = Bound(0, None)
PROBABILITY = Bound(0, 1)
# Largest |z| of the simulator's normal draws (Box-Muller of uniforms >= 2**-54), and the
# largest log of a finite float32: log-normal traits beyond exp(LOG_FLOAT32_MAX) overflow.
MAX_NORMAL_DRAW = math.sqrt(2 * 54 * math.log(2))
LOG_FLOAT32_MAX = math.log(float(np.finfo(np.float32).max))


def out_of_range(name: str, value: Any, allowed: str) -> ValueError:
    """The one phrasing of a range error: ``name = value is out of range; allowed: ...``."""
    value = value.item() if isinstance(value, np.generic) else value
    return ValueError(f"{name} = {value!r} is out of range; allowed: {allowed}")


class Validated:
    """Mixin: type-check and range-check every field listed in ``bounds``."""

    bounds: ClassVar[dict[str, Bound]] = {}
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __post_init__(self) -> None:
        section = type(self).__name__
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, spec.name)
            expected = spec.type if isinstance(spec.type, str) else spec.type.__name__
            nested = _nested_schema(spec)
            if nested is not None:
                object.__setattr__(
                    self, spec.name, _nested_config(section, spec.name, value, nested)
                )
            elif expected in ("int", "float"):
                bound = self.bounds.get(spec.name)
                _check_number(section, spec.name, value, expected, bound)
                # numpy scalars are welcome; store plain Python numbers
                object.__setattr__(
                    self, spec.name, float(value) if expected == "float" else int(value)
                )
            elif expected == "bool":
                if not isinstance(value, (bool, np.bool_)):
                    raise ValueError(f"{section}.{spec.name}: expected true/false, got {value!r}")
                object.__setattr__(self, spec.name, bool(value))
            elif expected == "str" and not isinstance(value, str):
                raise ValueError(f"{section}.{spec.name}: expected a string, got {value!r}")
        for name, bound in self.bounds.items():
            value = getattr(self, name)
            if not bound.contains(value):
                raise out_of_range(f"{section}.{name}", value, bound.describe())
        for name, allowed in self.choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{section}.{name} = {getattr(self, name)!r} is not allowed; "
                    f"choose one of {allowed}"
                )


def _check_number(
    section: str, name: str, value: Any, expected: str, bound: Bound | None = None
) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{section}.{name}: expected a number ({expected}), got {value!r}")
    if expected == "int" and not isinstance(value, numbers.Integral):
        raise ValueError(f"{section}.{name}: expected an integer, got {value!r}")
    if isinstance(value, numbers.Integral):  # finite, but maybe beyond any float
        if expected == "float" and abs(value) > 2**1023:
            raise out_of_range(f"{section}.{name}", value, "finite floats")
        return
    if not math.isfinite(value):
        allowed = (bound or Bound()).describe()
        raise ValueError(f"{section}.{name} = {value!r} must be finite; allowed: {allowed}")


def _check_log_normal(what: str, mean_field: str, log_mean: float, log_std: float) -> None:
    """Reject log-normal traits whose largest draw ``exp(log_mean + z_max * log_std)``
    overflows float32, naming the field that pushes it there."""
    largest = log_mean + MAX_NORMAL_DRAW * log_std
    if largest <= LOG_FLOAT32_MAX:
        return
    std_field = mean_field.replace("_mean", "_std")
    name = mean_field if abs(log_mean) >= MAX_NORMAL_DRAW * log_std else std_field
    value = {mean_field: log_mean, std_field: log_std}[name]
    if name == "price_sensitivity_mean":  # given as the mean itself, not its log
        value = math.exp(log_mean)
    raise ValueError(
        f"ShopperConfig.{name} = {value!r} gives non-finite {what}: their log reaches "
        f"{largest:.4g} > {LOG_FLOAT32_MAX:.4g} (float32); allowed: "
        f"log mean + {MAX_NORMAL_DRAW:.3g} * {std_field} <= {LOG_FLOAT32_MAX:.4g}"
    )


def parse_complement_map(spec: str, n_categories: int) -> dict[int, list[int]]:
    """``"0:1,2;3:0"`` as ``{0: [1, 2], 3: [0]}``, or a ValueError naming the bad part."""
    name = "CatalogConfig.complements"
    allowed = f"'next', 'random' or 'a:b,c;d:e' with categories in [0, {n_categories - 1}]"
    mapping: dict[int, list[int]] = {}
    for part in filter(None, (piece.strip() for piece in spec.split(";"))):
        source, _, targets = part.partition(":")
        try:
            category = int(source)
            complements = [int(target) for target in targets.split(",") if target.strip()]
        except ValueError:
            raise out_of_range(name, spec, allowed) from None
        if not complements or category in mapping:
            raise out_of_range(name, spec, f"{allowed}, each category listed once")
        for value in (category, *complements):
            if not 0 <= value < n_categories:
                raise out_of_range(f"{name} category", value, f"[0, {n_categories - 1}]")
        if category in complements or len(set(complements)) < len(complements):
            raise out_of_range(
                name, spec, f"{allowed}; a category's complements are distinct others"
            )
        mapping[category] = complements
    if not mapping:
        raise out_of_range(name, spec, allowed)
    return mapping


@dataclass(frozen=True)
class CatalogConfig(Validated):
    """The item model: categories, prices, latent embeddings, quality, popularity, arrivals.

    Item embeddings are unit vectors scattered around a per-category centroid; price is
    log-normal around a per-category level; popularity follows a Zipf law over a random
    ranking; a fraction of items is clickbait (appealing but of low quality). The last
    ``n_new_items`` item ids are not on sale at first and are released one every
    ``new_item_interval`` sessions (cold-start items).

    Complements (``recenv.sim.complements``): buying an item of category ``a`` raises the
    need of each complement of ``a`` by ``dynamics.complement_boost``. ``complements`` is
    ``"next"`` (the ring ``a -> a + 1 mod n_categories``), ``"random"`` (``n_complements``
    other categories per category, drawn from ``catalog_seed``) or an explicit map
    ``"0:1,2;3:0"`` (category 0 -> 1 and 2, 3 -> 0; unlisted categories have none).

    Shops (``recenv.sim.shops``): with ``n_shops > 0`` every item belongs to one shop (shop
    ``s`` drawn with probability ``~ (s + 1) ** -shop_size_exponent``, each shop at least one
    item), and shop ``s`` has a reputation ``r_s ~ N(0, reputation_std**2)`` that adds
    ``reputation_click_weight * r_s`` to its items' click utility and
    ``reputation_cart_weight * r_s`` to their add-to-cart logit.
    """

    n_items: int = 1000  # catalog size M (ids 0..M-1)
    n_categories: int = 20  # categories C
    embedding_dim: int = 16  # latent dimension of tastes and items
    category_spread: float = 0.6  # std of an item's embedding around its category centroid
    price_log_mean: float = 0.0  # log median price: prices are in units of the median
    category_price_std: float = 0.5  # spread of category price levels (log scale)
    price_log_std: float = 0.4  # spread of prices inside a category (log scale)
    popularity_exponent: float = 1.0  # Zipf exponent of the popularity prior
    popularity_weight: float = 0.3  # click utility per unit of log-popularity
    quality_std: float = 1.0  # spread of item quality (standard normal scaled)
    clickbait_fraction: float = 0.1  # share of clickbait items
    clickbait_appeal: float = 3.5  # extra click utility of a clickbait item
    clickbait_quality: float = -2.5  # quality of a clickbait item
    n_new_items: int = 0  # the last ids, released during the run
    new_item_interval: int = 1  # sessions between two releases
    observable_embeddings: bool = False  # expose latent embeddings in item_features
    complements: str = "next"  # "next" (ring), "random" or an explicit map "0:1,2;3:0"
    n_complements: int = 1  # complements per category ("random")
    n_shops: int = 0  # shops the items belong to (0: no shops)
    shop_size_exponent: float = 1.0  # Zipf exponent of shop sizes
    reputation_std: float = 1.0  # spread of shop reputations (standard normal scaled)
    reputation_click_weight: float = 0.5  # click utility per unit of shop reputation
    reputation_cart_weight: float = 0.5  # add-to-cart logit per unit of shop reputation

    bounds: ClassVar[dict[str, Bound]] = {
        "n_items": Bound(2, 10_000_000),
        "n_categories": POSITIVE_INT,
        "embedding_dim": Bound(1, 1024),
        "category_spread": NON_NEGATIVE,
        "category_price_std": NON_NEGATIVE,
        "price_log_std": NON_NEGATIVE,
        "popularity_exponent": NON_NEGATIVE,
        "quality_std": NON_NEGATIVE,
        "clickbait_fraction": PROBABILITY,
        "n_new_items": NON_NEGATIVE,
        "new_item_interval": POSITIVE_INT,
        "n_complements": POSITIVE_INT,
        "n_shops": NON_NEGATIVE,
        "shop_size_exponent": NON_NEGATIVE,
        "reputation_std": NON_NEGATIVE,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.complements == "random" and self.n_complements > self.n_categories - 1:
            raise out_of_range(
                "CatalogConfig.n_complements",
                self.n_complements,
                f"[1, n_categories - 1 = {self.n_categories - 1}] with complements = 'random'",
            )
        if self.complements not in ("next", "random"):
            parse_complement_map(self.complements, self.n_categories)
        if self.n_shops > self.n_items:
            raise out_of_range(
                "CatalogConfig.n_shops", self.n_shops, f"[0, n_items={self.n_items}]"
            )
        if self.n_categories > self.n_items:
            raise out_of_range(
                "CatalogConfig.n_categories", self.n_categories, f"[1, n_items={self.n_items}]"
            )
        if self.n_new_items >= self.n_items:
            raise out_of_range(
                "CatalogConfig.n_new_items",
                self.n_new_items,
                f"[0, n_items - 1 = {self.n_items - 1}]",
            )


@dataclass(frozen=True)
class ShopperConfig(Validated):
    """The user model: taste segments, price sensitivity, budget, patience, history, intent.

    A shopper's taste is ``taste_scale * normalise(segment_centre + taste_noise * z)``;
    price sensitivity and budget are log-normal; patience starts near ``patience_mean``.
    A returning shopper arrives with ``initial_history`` past interactions; with
    probability ``intent_probability`` a shopper searches for one category (the query).
    """

    n_segments: int = 6  # taste segments in the population
    taste_noise: float = 0.5  # individual taste spread around the segment centre
    taste_scale: float = 1.5  # norm of a taste vector: how much taste drives clicks
    price_sensitivity_mean: float = 0.8  # utility lost per unit of log(price / median price)
    price_sensitivity_std: float = 0.3  # log-normal sigma
    budget_log_mean: float = 3.0  # median budget exp(3) ~ 20 median-priced items
    budget_log_std: float = 0.5  # log-normal sigma of budgets
    patience_mean: float = 1.0  # patience at arrival
    patience_std: float = 0.15  # spread of patience at arrival
    returning_fraction: float = 0.5  # share of shoppers arriving with a history
    initial_history: int = 5  # past picks a returning shopper arrives with
    history_candidates: int = 4  # favourites a returning shopper chose among per past pick
    intent_probability: float = 0.0  # share of shoppers with a search query
    intent_bonus: float = 2.0  # utility bonus of items of the searched category
    off_intent_penalty: float = 1.0  # utility penalty of other categories when searching
    # returning for later visits (episode: shopper): P(return) = sigmoid(return_bias
    # + return_satisfaction * patience left / patience_mean + return_purchase * bought)
    return_bias: float = -1.0  # logit of coming back after a visit that left no patience
    return_satisfaction: float = 2.0  # return logit per unit of patience left (relative)
    return_purchase: float = 1.0  # return logit of a visit that bought something
    budget_refill: float = 1.0  # share of the base budget restored per visit (1: all; <1: carried)
    return_gap_hours: float = 24.0  # median hours between visits (time-stamps simulated logs)
    return_gap_log_std: float = 1.0  # log-normal sigma of those gaps

    bounds: ClassVar[dict[str, Bound]] = {
        "n_segments": POSITIVE_INT,
        "taste_noise": NON_NEGATIVE,
        "taste_scale": NON_NEGATIVE,
        "price_sensitivity_mean": NON_NEGATIVE,
        "price_sensitivity_std": NON_NEGATIVE,
        "budget_log_std": NON_NEGATIVE,
        "patience_mean": Bound(0.01, None),
        "patience_std": NON_NEGATIVE,
        "returning_fraction": PROBABILITY,
        "initial_history": NON_NEGATIVE,
        "history_candidates": POSITIVE_INT,
        "intent_probability": PROBABILITY,
        "intent_bonus": NON_NEGATIVE,
        "off_intent_penalty": NON_NEGATIVE,
        "budget_refill": PROBABILITY,
        "return_gap_hours": Bound(1e-3, None),
        "return_gap_log_std": NON_NEGATIVE,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        # mean * exp(std * z): the exp alone must stay finite, even when the mean is small
        sensitivity = math.log(max(self.price_sensitivity_mean, 1.0))
        _check_log_normal("budgets", "budget_log_mean", self.budget_log_mean, self.budget_log_std)
        _check_log_normal(
            "price sensitivities", "price_sensitivity_mean", sensitivity, self.price_sensitivity_std
        )


@dataclass(frozen=True)
class ChoiceConfig(Validated):
    """The multinomial-logit choice among the slate and a no-click option.

    ``u = taste . embedding + appeal + quality_weight * quality
    - price_sensitivity * log(price / median) - fatigue_weight * fatigue[category]
    - position_bias * log(1 + position)``, ``u_none = no_click_utility``;
    ``P(item k) = exp(u_k) / (exp(u_none) + sum_j exp(u_j))``.
    """

    no_click_utility: float = 2.0  # utility of clicking nothing
    position_bias: float = 1.0  # utility lost per log(1 + position)
    quality_weight: float = 0.3  # how much quality shows before the click
    fatigue_weight: float = 1.0  # utility lost per unit of category fatigue

    bounds: ClassVar[dict[str, Bound]] = {
        "position_bias": NON_NEGATIVE,
        "fatigue_weight": NON_NEGATIVE,
    }


@dataclass(frozen=True)
class FunnelConfig(Validated):
    """Click -> add-to-cart -> checkout, and the reward weights on each event.

    ``P(cart | click) = sigmoid(cart_bias + cart_quality_weight * quality
    + cart_taste_weight * taste . embedding)`` if the price fits the remaining budget;
    each step a non-empty cart is bought with ``P = sigmoid(checkout_bias +
    checkout_quality_weight * mean cart quality)``. Reward = ``reward_click * click +
    reward_cart * cart + reward_purchase * (revenue | items bought)``.
    """

    cart_bias: float = -0.5  # logit of adding a clicked item to the cart
    cart_quality_weight: float = 1.2  # cart logit per unit of quality
    cart_taste_weight: float = 0.3  # cart logit per unit of affinity
    checkout_bias: float = -1.5  # logit of buying the cart at a step
    checkout_quality_weight: float = 1.0  # checkout logit per unit of mean cart quality
    reward_click: float = 0.3  # reward per click
    reward_cart: float = 0.0  # reward per add-to-cart
    reward_purchase: float = 1.0  # reward per unit of revenue (or per item bought)
    purchase_reward: str = "revenue"  # what a purchase is worth: its revenue or its item count
    checkout_ends_session: bool = False  # a purchase ends the visit (one checkout per visit)

    choices: ClassVar[dict[str, tuple[str, ...]]] = {"purchase_reward": ("revenue", "count")}


@dataclass(frozen=True)
class DynamicsConfig(Validated):
    """What changes between steps: taste drift, category fatigue and patience.

    Taste drifts toward consumed items: ``taste += rate * (taste_scale * embedding - taste)``.
    Fatigue: ``fatigue = fatigue_decay * fatigue + fatigue_per_exposure * shown[category]``.
    Patience: ``patience += -patience_decay - boredom * fatigue[shown]
    + clicked * patience_per_quality * quality + bought * purchase_patience``, capped at
    ``max_patience``: good clicks restore it, clickbait and monotony drain it.
    Promotion: each session the shop promotes category ``session mod n_categories``, whose
    items gain ``promotion_boost`` of click utility.
    """

    taste_drift_click: float = 0.05  # step toward a clicked item's embedding
    taste_drift_purchase: float = 0.2  # step toward the mean embedding of a bought cart
    fatigue_per_exposure: float = 0.35  # fatigue added to a category per shown item
    fatigue_decay: float = 0.85  # fatigue kept from one step to the next
    patience_decay: float = 0.06  # patience lost every step
    patience_per_quality: float = 0.08  # patience gained per unit of a clicked item's quality
    purchase_patience: float = 0.1  # patience gained by a purchase
    boredom: float = 0.08  # patience lost per unit of fatigue of the shown category
    max_patience: float = 1.5  # patience cap
    fatigue_unit: str = "item"  # "item": each shown item adds fatigue; "category": once a step
    query_fatigue: float = 1.0  # share of fatigue the searched category gets (0: exempt)
    # needs: utility + need_weight * log(need[category]); a purchase satiates its category
    satiation: float = 0.0  # share of a category's need one bought item removes (0: off)
    complement_boost: float = 0.0  # need added to each complement of c per item of c bought
    need_weight: float = 1.0  # utility per unit of log(need)
    need_recovery: float = 0.05  # share of the gap to need 1 closed each step
    need_recovery_per_visit: float = 0.5  # share of that gap closed between two visits
    max_need: float = 2.0  # cap of a category's need (complements raise it above 1)
    promotion_boost: float = 0.0  # click utility of the promoted category (0: no promotion)

    bounds: ClassVar[dict[str, Bound]] = {
        "taste_drift_click": PROBABILITY,
        "taste_drift_purchase": PROBABILITY,
        "fatigue_per_exposure": NON_NEGATIVE,
        "fatigue_decay": PROBABILITY,
        "patience_decay": NON_NEGATIVE,
        "patience_per_quality": NON_NEGATIVE,
        "purchase_patience": NON_NEGATIVE,
        "boredom": NON_NEGATIVE,
        "max_patience": Bound(0.01, None),
        "satiation": Bound(0, 0.99),
        "complement_boost": NON_NEGATIVE,
        "need_weight": NON_NEGATIVE,
        "need_recovery": PROBABILITY,
        "need_recovery_per_visit": PROBABILITY,
        "max_need": Bound(1, None),
        "query_fatigue": NON_NEGATIVE,
        "promotion_boost": NON_NEGATIVE,
    }
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"fatigue_unit": ("item", "category")}


@dataclass(frozen=True)
class InterfaceConfig(Validated):
    """How an agent acts on and sees the shop: what standard RL libraries can emit and eat.

    Nothing here changes the shoppers; it changes the spaces (``recenv.sim.interface``).

    * ``action``: ``"items"`` (item ids: ``Discrete`` or ``MultiDiscrete`` slates),
      ``"scores"`` (a ``Box`` of one score per item in [-1, 1]) or ``"feature_weights"``
      (a ``Box`` of weights over the observable item features, Virtual-Taobao's ranking
      action): the env shows the ``slate_size`` highest-scored items the mask allows;
      ``"shops"`` (``Discrete(n_shops)``, a shop id): the env shows that shop's slate,
      its ``slate_size`` most popular items the mask allows (``recenv.sim.shops``).
    * ``slate_repeats``: ``"replace"`` swaps an item repeated in a slate for the next id
      (cyclically) not in the slate, counted in ``info["slate_repeats"]``; ``"strict"``
      raises ``ValueError``.
    * ``observation``: ``"ids"`` (the ``Dict`` of item ids) or ``"features"`` (a compact
      float32 ``Box`` from observable item features: ``recenv.sim.encoding``);
      ``observation_positions`` recent history entries are kept by position there.
    * Masks: unreleased items are always masked; ``mask_cart`` and ``mask_shown`` also mask
      items in the cart and items shown last step; ``mask_in_info`` puts the mask in
      ``info["action_mask"]`` every step (``action_masks()`` works regardless).
    """

    action: str = "items"  # item ids, or a Box of item scores / feature weights (top K shown)
    slate_repeats: str = "replace"  # a repeated slate item: replaced by the next free id, or raise
    observation: str = "ids"  # the Dict of item ids, or the compact float32 Box of features
    observation_positions: int = 2  # features: recent history entries kept by position
    mask_in_info: bool = False  # put the (n_items,) action mask in every info
    mask_cart: bool = False  # the mask also excludes the items in the cart
    mask_shown: bool = False  # the mask also excludes the items shown last step

    bounds: ClassVar[dict[str, Bound]] = {"observation_positions": NON_NEGATIVE}
    choices: ClassVar[dict[str, tuple[str, ...]]] = {
        "action": ("items", "scores", "feature_weights", "shops"),
        "slate_repeats": ("replace", "strict"),
        "observation": ("ids", "features"),
    }


@dataclass(frozen=True)
class EnvConfig(Validated):
    """Everything that defines a shopping scenario (the ``env`` Hydra group)."""

    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    shoppers: ShopperConfig = field(default_factory=ShopperConfig)
    choice: ChoiceConfig = field(default_factory=ChoiceConfig)
    funnel: FunnelConfig = field(default_factory=FunnelConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    interface: InterfaceConfig = field(default_factory=InterfaceConfig)
    slate_size: int = 1  # 1 -> Discrete(n_items) actions; >1 -> MultiDiscrete slates
    history_length: int = 20  # entries of the observed history (a slate adds slate_size)
    cart_capacity: int = 10  # items a cart holds
    max_steps: int = 50  # steps before a session is truncated
    catalog_seed: int = 0  # the world (catalog, segments) is fixed by this, not by reset seeds
    expose_hidden_state: bool = False  # put taste, patience, budget ... in info["hidden"]
    calibration: str = ""  # fitted click model (name in presets/calibrations or a .json path)
    episode: str = "session"  # "session": one visit; "shopper": visits until the shopper leaves
    max_visits: int = 10  # episode: shopper: visits before the episode is truncated
    evaluation_session: int = 0  # session index evaluations start at (cold start: after releases)

    bounds: ClassVar[dict[str, Bound]] = {
        "slate_size": POSITIVE_INT,
        "history_length": POSITIVE_INT,
        "cart_capacity": POSITIVE_INT,
        "max_steps": Bound(1, 65_535),  # a visit's steps index its random streams (16 bits)
        "catalog_seed": NON_NEGATIVE,
        "max_visits": POSITIVE_INT,
        "evaluation_session": NON_NEGATIVE,
    }
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"episode": ("session", "shopper")}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.slate_size > self.catalog.n_items:
            raise out_of_range(
                "EnvConfig.slate_size",
                self.slate_size,
                f"[1, catalog.n_items={self.catalog.n_items}]",
            )
        if self.shoppers.initial_history > self.history_length:
            raise out_of_range(
                "ShopperConfig.initial_history",
                self.shoppers.initial_history,
                f"[0, history_length={self.history_length}]",
            )
        if self.interface.observation_positions > self.history_length:
            raise out_of_range(
                "InterfaceConfig.observation_positions",
                self.interface.observation_positions,
                f"[0, history_length={self.history_length}]",
            )
        if self.interface.action == "shops" and self.catalog.n_shops == 0:
            raise out_of_range(
                "CatalogConfig.n_shops", 0, "[1, n_items] with interface.action = 'shops'"
            )
        check_memory(self)  # one shopper; vector envs check again with num_envs


def config_from_dict(data: Mapping[str, Any], schema: type = EnvConfig, path: str = "") -> Any:
    """Build a config dataclass from nested mappings, rejecting unknown fields by name
    (``path`` prefixes them: ``catalog.`` for a section of ``EnvConfig``)."""
    if isinstance(data, schema):
        return data
    if hasattr(data, "_metadata"):  # an OmegaConf DictConfig
        from omegaconf import OmegaConf

        data = OmegaConf.to_container(data, resolve=True)  # type: ignore[assignment]
    if not isinstance(data, Mapping):
        raise ValueError(f"{schema.__name__}: expected a mapping of its fields, got {data!r}")
    fields = {spec.name: spec for spec in dataclasses.fields(schema)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("defaults", "_target_"):
            continue
        if key not in fields:
            raise ValueError(
                f"unknown config field '{path}{key}'; valid fields of {schema.__name__}: "
                f"{', '.join(sorted(fields))}"
            )
        values[key] = value  # nested sections are built (and checked) by the schema itself
    return schema(**values)


def _nested_config(section: str, name: str, value: Any, schema: type) -> Any:
    """A nested section given as its dataclass or as a mapping of its fields."""
    if isinstance(value, schema):
        return value
    if isinstance(value, Mapping) or hasattr(value, "_metadata"):
        return config_from_dict(value, schema, f"{name}.")
    raise ValueError(
        f"{section}.{name}: expected a {schema.__name__} or a mapping of its fields, got {value!r}"
    )


def _nested_schema(spec: dataclasses.Field) -> type | None:
    default = spec.default_factory if spec.default_factory is not dataclasses.MISSING else None
    return default if isinstance(default, type) and dataclasses.is_dataclass(default) else None


def available_presets() -> list[str]:
    """Names of the scenario presets shipped in ``recenv/presets/env``."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """Read a preset's overrides (its yaml minus Hydra's ``defaults`` list)."""
    import yaml

    presets = available_presets()
    if name not in presets:  # a name, never a path: presets cannot leave recenv/presets/env
        raise ValueError(f"unknown env preset {name!r}; choose one of {presets}")
    return yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text()) or {}


def make_config(preset: str | None = "default", **overrides: Any) -> EnvConfig:
    """Compose a preset and nested overrides into a validated :class:`EnvConfig`.

    ``make_config("small", slate_size=3, catalog={"n_items": 200})``.
    """
    merged = load_preset(preset) if preset else {}
    deep_update(merged, overrides)
    return config_from_dict(merged)


def deep_update(target: dict[str, Any], updates: Mapping[str, Any]) -> None:
    """Merge nested ``updates`` into ``target`` in place, section by section."""
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            deep_update(target[key], value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value
