"""Complementary categories: which categories a purchase makes the shopper need next.

Buying an item of category ``a`` satiates ``a`` and adds ``dynamics.complement_boost`` to
the need of every complement of ``a`` (``dynamics.satiate``). The map is part of the world
(``catalog.complements``):

* ``"next"``: the ring ``a -> (a + 1) mod C``, one complement each (the original model);
* ``"random"``: ``n_complements`` distinct other categories per category, drawn from the
  world's own stream of ``catalog_seed`` (the same map for every run of the scenario);
* an explicit map ``"0:1,2;3:0"``: category 0 -> 1 and 2, category 3 -> 0; categories not
  listed have no complement, and no category complements itself.

``recenv.sim.config`` validates the setting (``parse_complement_map``). The kernels read
it as a ``(C, width)`` int32 table, each row padded with -1 (``ItemTable.complement``);
analysis reads it as a ``(C, C)`` boolean matrix.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recenv.sim.config import CatalogConfig, parse_complement_map


def complement_table(config: CatalogConfig, rng: np.random.Generator) -> NDArray[np.int32]:
    """``(C, width)`` complements of each category, -1 padded; draws from ``rng`` only for
    ``"random"`` (each row a uniform sample of distinct other categories)."""
    n_categories = config.n_categories
    if config.complements == "next":
        return ((np.arange(n_categories) + 1) % n_categories).astype(np.int32)[:, None]
    if config.complements == "random":
        table = np.empty((n_categories, config.n_complements), dtype=np.int32)
        for category in range(n_categories):
            others = rng.choice(n_categories - 1, config.n_complements, replace=False)
            table[category] = others + (others >= category)  # skip the category itself
        return table
    mapping = parse_complement_map(config.complements, n_categories)
    table = np.full((n_categories, max(map(len, mapping.values()))), -1, dtype=np.int32)
    for category, complements in mapping.items():
        table[category, : len(complements)] = complements
    return table


def complement_matrix(table: NDArray[np.integer]) -> NDArray[np.bool_]:
    """``(C, C)`` with ``[a, b]`` True when ``b`` is a complement of ``a``."""
    n_categories = len(table)
    matrix = np.zeros((n_categories, n_categories), dtype=bool)
    rows, slots = np.nonzero(table >= 0)
    matrix[rows, table[rows, slots]] = True
    return matrix
