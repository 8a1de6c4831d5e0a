"""What the shop shows about its items, for agents that hold a config but no env.

Agents read item features (category, price, popularity rank, release session) to score
candidates; they never need the latent model (embeddings, quality, clickbait), so they get
these read-only arrays instead of building a world. ``ShoppingEnv.item_features`` returns
the same arrays for the env's own world (one rule: ``Catalog.item_features``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from recenv.sim.config import EnvConfig
from recenv.sim.core import build_world


@functools.lru_cache(maxsize=8)
def item_features(config: EnvConfig) -> Mapping[str, NDArray[np.generic]]:
    """Observable item features of ``config``'s world (cached, read-only)."""
    features = build_world(config).catalog.item_features(config.catalog.observable_embeddings)
    for values in features.values():
        values.flags.writeable = False
    return MappingProxyType(features)
