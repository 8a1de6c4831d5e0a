"""Memory a scenario would need, estimated from its config before anything is allocated.

Sizes a user can type (``history_length = 10**8``, ``num_envs = 10**8`` ...) would
otherwise end in a ``MemoryError`` after a minute of allocating; ``check_memory`` turns
them into an immediate ``ValueError`` naming the field and the bytes it would take.
The estimate follows the arrays of ``catalog``, ``shoppers``, ``state`` and the spaces,
with temporaries, so it is an upper bound within a small factor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

# Bytes per unit of each size, read off the arrays that size allocates.
# (measured peaks of construct + reset + step, rounded up)
_PER_SHOPPER_FIXED = 512  # scalar traits, session features, step outcome, observation
_PER_HISTORY_ENTRY = 88  # ids + events: int32 + int8 ring in state, int64 in observations
# (fresh and final) and in the batched spaces (nvec and start)
_PER_CART_SLOT = 64  # id: int32 in state, int64 in observations and spaces
_PER_SLATE_POSITION = 40  # utility, affinity (float64), the action, its validated copies
_PER_CATEGORY = 8  # fatigue and need (float32)
_PER_EMBEDDING_DIM = 8  # taste and cart embedding sum (float32)
_PER_ITEM = 160  # category, price, quality, popularity, appeal ... and their item table
_PER_ITEM_DIM = 28  # an embedding: float64 draws, centroid, normalised, float32 copy
_PER_SEGMENT_ITEM = 24  # the segment x item score matrix (float64) and its argsort (int64)
_PER_SEGMENT = 640  # centre (float64 + float32) and 64 favourite ids


class MemoryTerm(NamedTuple):
    """The bytes one config field accounts for."""

    field: str  # e.g. "EnvConfig.history_length"
    value: int
    bytes: int
    per_shopper: bool  # multiplied by the number of shoppers


def memory_terms(config: Any) -> list[MemoryTerm]:
    """The memory terms of an ``EnvConfig``: world terms once, shopper terms per shopper."""
    catalog, shoppers = config.catalog, config.shoppers
    n_items, dim = catalog.n_items, catalog.embedding_dim
    return [
        MemoryTerm(
            "CatalogConfig.n_items", n_items, n_items * (_PER_ITEM + _PER_ITEM_DIM * dim), False
        ),
        MemoryTerm(
            "ShopperConfig.n_segments",
            shoppers.n_segments,
            shoppers.n_segments * (_PER_SEGMENT_ITEM * n_items + _PER_SEGMENT),
            False,
        ),
        MemoryTerm(
            "EnvConfig.history_length",
            config.history_length,
            config.history_length * _PER_HISTORY_ENTRY,
            True,
        ),
        MemoryTerm(
            "EnvConfig.cart_capacity",
            config.cart_capacity,
            config.cart_capacity * _PER_CART_SLOT,
            True,
        ),
        MemoryTerm(
            "EnvConfig.slate_size", config.slate_size, config.slate_size * _PER_SLATE_POSITION, True
        ),
        MemoryTerm(
            "CatalogConfig.n_categories",
            catalog.n_categories,
            catalog.n_categories * _PER_CATEGORY,
            True,
        ),
        MemoryTerm("CatalogConfig.embedding_dim", dim, dim * _PER_EMBEDDING_DIM, True),
    ]


def memory_needed(config: Any, n_shoppers: int = 1) -> int:
    """Estimated bytes a simulator of ``n_shoppers`` shoppers of ``config`` allocates."""
    terms = memory_terms(config)
    world = sum(term.bytes for term in terms if not term.per_shopper)
    per_shopper = _PER_SHOPPER_FIXED + sum(term.bytes for term in terms if term.per_shopper)
    return world + n_shoppers * per_shopper


def memory_limit() -> int:
    """Bytes this process can allocate now: available memory (Linux ``MemAvailable``, else
    physical memory), or a lower cgroup limit."""
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path, parse in ((_MEMINFO, _mem_available), (_CGROUP_LIMIT, _cgroup_limit)):
        try:
            found = parse(path.read_text())
        except (OSError, ValueError):
            continue
        limit = min(limit, found) if found is not None else limit
    return limit


_MEMINFO = Path("/proc/meminfo")
_CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


def _mem_available(meminfo: str) -> int | None:
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024  # reported in kB
    return None


def _cgroup_limit(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None  # "max" = no limit


def check_memory(config: Any, n_shoppers: int = 1, count_name: str = "num_envs") -> None:
    """Raise ``ValueError`` naming the field that makes the scenario exceed ``memory_limit``.

    The field is ``count_name`` when one shopper would fit but ``n_shoppers`` do not, else
    the config field with the largest term.
    """
    needed, limit = memory_needed(config, n_shoppers), memory_limit()
    if needed <= limit:
        return
    if n_shoppers > 1 and memory_needed(config, 1) <= limit:
        name, value = count_name, n_shoppers
    else:
        terms = memory_terms(config)
        worst = max(terms, key=lambda term: term.bytes * (n_shoppers if term.per_shopper else 1))
        name, value = worst.field, worst.value
    raise ValueError(
        f"{name} = {value} would need about {_gib(needed)} of memory ({needed} bytes for "
        f"{n_shoppers} shopper(s)); this machine allows {_gib(limit)} ({limit} bytes)"
    )


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"
