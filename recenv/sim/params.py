"""The compiled kernels' view of a scenario: one tuple of scalars, one of item arrays.

The parameters the kernels read are derived from the config here, and nowhere else:

* ``ModelParams`` has one field per scalar (int, float, bool) config field of the parts
  the step reads — ``shoppers``, ``choice``, ``funnel``, ``dynamics`` and the env's own
  fields — under the field's own name: a new config field is ``params.<name>`` in every
  kernel without another edit;
* ``DERIVED`` adds what the kernels need in another form: a string choice as a flag, the
  drawn catalog's sizes and cheapest price;
* ``OUTSIDE_KERNEL`` lists the config fields no kernel reads, each with the module where it
  acts instead (the whole ``catalog`` section: the drawn world, read through ``ItemTable``).

``tests/test_params.py`` checks the three are complete: every config field reaches a kernel
(copied or as a source of a derived field) or is listed outside, never both; every kernel
field is read by a kernel; every field outside is read where it says.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from recenv.sim import choice
from recenv.sim.catalog import Catalog
from recenv.sim.config import EnvConfig

KERNEL_SECTIONS = ("", "shoppers", "choice", "funnel", "dynamics")  # "": EnvConfig's own

OUTSIDE_KERNEL: dict[str, tuple[str, str]] = {  # config field (or section) -> (module, why)
    "catalog": ("recenv.sim.catalog", "drawn into the Catalog, read through ItemTable"),
    "catalog.complements": ("recenv.sim.complements", "the complement table, in ItemTable"),
    "catalog.n_complements": ("recenv.sim.complements", "the complement table, in ItemTable"),
    "catalog.n_shops": ("recenv.sim.shops", "draw_shops; reputation terms in ItemTable"),
    "catalog.shop_size_exponent": ("recenv.sim.shops", "draw_shops"),
    "catalog.reputation_std": ("recenv.sim.shops", "draw_shops"),
    "catalog.reputation_click_weight": ("recenv.sim.choice", "static_utility, in ItemTable"),
    "catalog.reputation_cart_weight": ("recenv.sim.params", "cart_utility, in ItemTable"),
    "catalog.observable_embeddings": ("recenv.sim.env", "whether item_features show embeddings"),
    "slate_size": ("recenv.sim.spaces", "the action space; kernels read the slates' shape"),
    "history_length": ("recenv.sim.state", "the length of the history ring"),
    "interface": ("recenv.sim.interface", "the spaces, slates, encoding and masks an agent uses"),
    "interface.slate_repeats": ("recenv.sim.spaces", "validate_slates replaces or rejects"),
    "interface.observation_positions": ("recenv.sim.encoding", "entries kept by position"),
    "interface.mask_cart": ("recenv.sim.masks", "the cart's items are masked"),
    "interface.mask_shown": ("recenv.sim.masks", "last step's slate is masked"),
    "catalog_seed": ("recenv.sim.core", "build_world draws the world from it"),
    "expose_hidden_state": ("recenv.sim.env", "whether info carries the hidden state"),
    "calibration": ("recenv.sim.core", "build_world reads the calibrated world"),
    "evaluation_session": ("agents.evaluation", "the session evaluations start at"),
    "shoppers.n_segments": ("recenv.sim.shoppers", "build_population draws the segments"),
    "shoppers.return_gap_hours": ("recenv.offline.data.simulated_sessions", "log time stamps"),
    "shoppers.return_gap_log_std": ("recenv.offline.data.simulated_sessions", "log time stamps"),
    "choice.position_bias": ("recenv.sim.choice", "position_utility, in ItemTable"),
    "choice.quality_weight": ("recenv.sim.choice", "static_utility, in ItemTable"),
}


def _catalog_value(name: str) -> Callable[[EnvConfig, Catalog], Any]:
    return lambda config, catalog: getattr(catalog, name)


DERIVED: dict[str, tuple[Callable[[EnvConfig, Catalog], Any], tuple[str, ...]]] = {
    # kernel field: (how it is computed, the config fields it comes from)
    "n_items": (_catalog_value("n_items"), ("catalog.n_items",)),
    "n_categories": (_catalog_value("n_categories"), ("catalog.n_categories",)),
    "min_price": (lambda config, catalog: float(catalog.price.min()), ()),
    "episode_is_shopper": (lambda config, catalog: config.episode == "shopper", ("episode",)),
    "purchase_is_revenue": (
        lambda config, catalog: config.funnel.purchase_reward == "revenue",
        ("funnel.purchase_reward",),
    ),
    "fatigue_per_category": (  # a slate adds fatigue once per category, not per item
        lambda config, catalog: config.dynamics.fatigue_unit == "category",
        ("dynamics.fatigue_unit",),
    ),
    "needs_active": (  # satiation or complements on: needs move (else they stay 1)
        lambda config, catalog: (
            config.dynamics.satiation > 0 or config.dynamics.complement_boost > 0
        ),
        ("dynamics.satiation", "dynamics.complement_boost"),
    ),
}


def config_fields(schema: type = EnvConfig, section: str = "") -> list[tuple[str, str, str]]:
    """Every leaf field of the config as ``(section, name, type name)``; ``""`` = EnvConfig."""
    fields = []
    for spec in dataclasses.fields(schema):
        factory = spec.default_factory
        if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
            fields += config_fields(factory, spec.name)  # type: ignore[arg-type]
        else:
            kind = spec.type if isinstance(spec.type, str) else spec.type.__name__
            fields.append((section, spec.name, kind))
    return fields


def dotted(section: str, name: str) -> str:
    """``"dynamics.boredom"``, or ``"max_steps"`` for EnvConfig's own fields."""
    return f"{section}.{name}" if section else name


def _copied_fields() -> list[tuple[str, str]]:
    """The scalar config fields the kernels read as they are, as ``(section, name)``."""
    return [
        (section, name)
        for section, name, kind in config_fields()
        if section in KERNEL_SECTIONS
        and kind in ("int", "float", "bool")
        and dotted(section, name) not in OUTSIDE_KERNEL
    ]


COPIED = _copied_fields()
ModelParams = collections.namedtuple(  # type: ignore[misc]  # generated: see the docstring
    "ModelParams", [name for _, name in COPIED] + list(DERIVED), module=__name__
)


def model_params(config: EnvConfig, catalog: Catalog) -> ModelParams:
    """The kernels' scalars of a validated config and its drawn catalog."""
    copied = {
        name: getattr(getattr(config, section) if section else config, name)
        for section, name in COPIED
    }
    derived = {name: compute(config, catalog) for name, (compute, _) in DERIVED.items()}
    return ModelParams(**copied, **derived)


class ItemTable(NamedTuple):
    """Per-item arrays the kernels read, indexed by item id."""

    embedding: NDArray[np.float32]  # (n_items, dim)
    static_utility: NDArray[np.float32]  # appeal + quality_weight * quality (+ reputation)
    log_price: NDArray[np.float32]  # log(price / median price)
    price: NDArray[np.float32]
    quality: NDArray[np.float32]
    appeal: NDArray[np.float32]
    category: NDArray[np.int32]
    release_session: NDArray[np.int64]
    position_utility: NDArray[np.float32]  # (slate_size,), -position_bias * log(1 + k)
    complement: NDArray[np.int32]  # (n_categories, width) complements, -1 padded
    cart_utility: NDArray[np.float32]  # add-to-cart logit of the item's shop reputation


def item_table(config: EnvConfig, catalog: Catalog) -> ItemTable:
    """The catalog's arrays with the choice model's per-item terms, computed once per env."""
    return ItemTable(
        embedding=catalog.embedding,
        static_utility=choice.static_utility(config, catalog),
        log_price=choice.log_relative_price(catalog),
        price=catalog.price,
        quality=catalog.quality,
        appeal=catalog.appeal,
        category=catalog.category.astype(np.int32),
        release_session=catalog.release_session,
        position_utility=choice.position_utility(config, catalog),
        complement=_complements(catalog),
        cart_utility=(config.catalog.reputation_cart_weight * catalog.item_reputation()).astype(
            np.float32
        ),
    )


def _complements(catalog: Catalog) -> NDArray[np.int32]:
    if catalog.complements is None:
        raise ValueError("the catalog has no complement map: build worlds with core.build_world")
    return np.ascontiguousarray(catalog.complements, dtype=np.int32)
