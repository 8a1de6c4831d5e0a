"""Observation and action spaces, built once from the config, and action validation."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from recenv.sim.config import EnvConfig
from recenv.sim.state import EVENT_NAMES, SESSION_FEATURES


def observation_space(config: EnvConfig) -> spaces.Dict:
    """The flat ``Dict`` a single shopper is observed through (no hidden state in it)."""
    n_items, n_categories = config.catalog.n_items, config.catalog.n_categories
    return spaces.Dict(
        {
            "history": spaces.MultiDiscrete(np.full(config.history_length, n_items + 1)),
            "history_events": spaces.MultiDiscrete(
                np.full(config.history_length, len(EVENT_NAMES))
            ),
            "cart": spaces.MultiDiscrete(np.full(config.cart_capacity, n_items + 1)),
            "session": spaces.Box(
                low=0.0, high=1e9, shape=(len(SESSION_FEATURES),), dtype=np.float32
            ),
            "query": spaces.Discrete(n_categories + 1),
        }
    )


class SlateSpace(spaces.MultiDiscrete):
    """``MultiDiscrete`` of slates (last axis) whose samples never repeat an item in a slate.

    Still a ``MultiDiscrete`` for every library that checks the type; only ``sample``
    changes, so random agents and environment checkers draw valid slates. Works for one
    slate ``(K,)`` and for a batch ``(n, K)``. ``mask`` (int8 or bool, 1 = allowed) is
    Gymnasium's tuple of one mask per position, or one array: ``(M,)`` for every position,
    ``(K, M)`` by position, and for a batch ``(n, M)`` (per slot) or ``(n, K, M)``; ``probability``
    takes the same shapes. Masked and weighted samples never repeat either: each position
    draws among the allowed items not yet in the slate, and a mask that allows too few
    distinct items raises ``ValueError``.
    """

    def sample(self, mask: Any = None, probability: Any = None) -> NDArray[np.int64]:
        n_items = int(self.nvec.flat[0])
        n_slates, slate_size = int(np.prod(self.nvec.shape[:-1])), self.nvec.shape[-1]
        if mask is None and probability is None:
            slates = distinct_slates(self.np_random, n_items, n_slates, slate_size)
            return slates.reshape(self.nvec.shape).astype(self.dtype)
        if mask is not None and probability is not None:
            raise ValueError("SlateSpace.sample: pass a mask or a probability, not both")
        weights = self._position_weights(mask if mask is not None else probability, n_items)
        slates = np.empty((n_slates, slate_size), dtype=np.int64)
        for row in range(n_slates):
            slates[row] = self._weighted_slate(weights[row], mask is not None)
        return slates.reshape(self.nvec.shape).astype(self.dtype)

    def _position_weights(self, given: Any, n_items: int) -> NDArray[np.float64]:
        """The mask or probability as ``(n_slates, K, M)`` nonnegative weights."""
        batch, slate_size = self.nvec.shape[:-1], self.nvec.shape[-1]
        n_slates = int(np.prod(batch))
        array = np.asarray(np.stack(given) if isinstance(given, tuple) else given, dtype=float)
        full = (n_slates, slate_size, n_items)
        if batch and array.shape == (*batch, n_items):  # a batch: 2-D masks are per slot
            array = np.broadcast_to(array.reshape(n_slates, 1, n_items), full)
        elif batch and array.shape == (*batch, slate_size, n_items):
            array = array.reshape(full)
        elif array.shape in ((n_items,), (slate_size, n_items)):  # the same for every slate
            array = np.broadcast_to(array, full)
        else:
            raise ValueError(
                f"SlateSpace.sample: mask or probability of shape {array.shape}; expected "
                f"{(*batch, n_items)} or {(*batch, slate_size, n_items)} (or a tuple of "
                f"{slate_size} arrays of {n_items})"
            )
        if not np.isfinite(array).all() or (array < 0).any():
            raise ValueError("SlateSpace.sample: mask or probability must be finite and >= 0")
        return array

    def _weighted_slate(self, weights: NDArray[np.float64], uniform: bool) -> NDArray[np.int64]:
        slate_size = weights.shape[0]
        slate = np.empty(slate_size, dtype=np.int64)
        for position in range(slate_size):
            allowed = (weights[position] > 0).astype(float) if uniform else weights[position]
            allowed = allowed.copy()
            allowed[slate[:position]] = 0.0
            total = allowed.sum()
            if total <= 0:
                raise ValueError(
                    f"SlateSpace.sample: the mask or probability leaves no item for slate "
                    f"position {position} that is not already in the slate"
                )
            slate[position] = self.np_random.choice(len(allowed), p=allowed / total)
        return slate


def distinct_slates(
    rng: np.random.Generator, n_items: int, n_slates: int, slate_size: int
) -> NDArray[np.int64]:
    """``(n_slates, slate_size)`` uniformly random ordered slates of distinct items.

    Floyd's algorithm draws each slate's item set in ``slate_size`` draws (for ``j`` in
    ``n_items - K .. n_items - 1``: take ``t ~ U{0..j}``, or ``j`` if ``t`` is taken), and
    a random permutation orders it: O(K) draws, never a redraw, whatever K.
    """
    slates = np.empty((n_slates, slate_size), dtype=np.int64)
    rows = np.arange(n_slates)
    for position, top in enumerate(range(n_items - slate_size, n_items)):
        pick = rng.integers(0, top + 1, size=n_slates)
        taken = (slates[:, :position] == pick[:, None]).any(axis=1)
        slates[rows, position] = np.where(taken, top, pick)
    order = np.argsort(rng.random((n_slates, slate_size)), axis=1)
    return np.take_along_axis(slates, order, axis=1)


def action_space(config: EnvConfig) -> spaces.Discrete | SlateSpace:
    """``Discrete(n_items)`` for one item, ``MultiDiscrete([n_items] * slate_size)`` for slates."""
    n_items = config.catalog.n_items
    if config.slate_size == 1:
        return spaces.Discrete(n_items)
    return SlateSpace(np.full(config.slate_size, n_items))


def batched_action_space(config: EnvConfig, n_shoppers: int) -> spaces.MultiDiscrete:
    """Actions of a vector env: ``(n,)`` item ids or ``(n, slate_size)`` distinct slates."""
    n_items = config.catalog.n_items
    if config.slate_size == 1:
        return spaces.MultiDiscrete(np.full(n_shoppers, n_items))
    return SlateSpace(np.full((n_shoppers, config.slate_size), n_items))


def validate_slates(
    actions: object, n_shoppers: int, config: EnvConfig, batched: bool
) -> tuple[NDArray[np.int64], NDArray[np.int64] | None]:
    """Turn item-id actions into ``(n_shoppers, slate_size)`` slates or raise ``ValueError``.

    ``batched`` actions carry a leading shopper axis. Checks: integer type, shape and range
    ``[0, n_items)``. A slate repeating an item raises under ``interface.slate_repeats =
    "strict"``; under ``"replace"`` each repeat is replaced (``replace_repeats``) and the
    second value counts the replaced positions of each slate (None for single items).
    """
    n_items, slate_size = config.catalog.n_items, config.slate_size
    if not batched and slate_size == 1 and isinstance(actions, (int, np.integer)):
        if isinstance(actions, bool) or not 0 <= actions < n_items:
            shown = actions if isinstance(actions, bool) else int(actions)
            raise ValueError(f"action {shown!r} is out of range; allowed: item ids [0, {n_items})")
        return np.array([[actions]], dtype=np.int64), None
    array = np.asarray(actions)
    expected = ((n_shoppers,) if batched else ()) + ((slate_size,) if slate_size > 1 else ())
    if array.shape != expected:
        raise ValueError(
            f"action has shape {array.shape}; expected {expected} "
            f"({'one action per shopper, ' if batched else ''}"
            f"{'a slate of ' + str(slate_size) + ' item ids' if slate_size > 1 else 'one item id'})"
        )
    if array.dtype.kind not in "iu":
        raise ValueError(f"action must hold integer item ids, got dtype {array.dtype}")
    # range-check before casting: a uint64 id beyond int64 must be reported as itself
    outside = (array < 0) | (array >= n_items)
    if outside.any():
        bad = array[outside].flat[0].item()
        raise ValueError(f"action contains item id {bad}; allowed: item ids [0, {n_items})")
    slates = array.astype(np.int64, copy=False).reshape(n_shoppers, slate_size)
    if slate_size == 1:
        return slates, None
    ordered = np.sort(slates, axis=1)
    repeated = ordered[:, 1:] == ordered[:, :-1]
    counts = np.zeros(n_shoppers, dtype=np.int64)
    if not repeated.any():
        return slates, counts
    if config.interface.slate_repeats == "strict":
        shopper = int(np.flatnonzero(repeated.any(axis=1))[0])
        item = int(ordered[shopper, 1:][repeated[shopper]][0])
        where = f" for shopper {shopper}" if batched else ""
        raise ValueError(
            f"slate repeats item {item}{where}; items in a slate must be distinct "
            "(interface.slate_repeats = 'strict'; 'replace' replaces repeats)"
        )
    slates = slates.copy()  # never write into the caller's array
    for row in np.flatnonzero(repeated.any(axis=1)):
        slates[row], counts[row] = replace_repeats(slates[row], n_items)
    return slates, counts


def replace_repeats(slate: NDArray[np.int64], n_items: int) -> tuple[NDArray[np.int64], int]:
    """The documented repeat rule: scanning the slate from its first position, each later
    occurrence of an item is replaced by the next item id (``item + 1``, ``item + 2``, ...
    modulo ``n_items``) that appears nowhere in the slate yet. Returns the slate and the
    number of replaced positions."""
    taken = set(slate.tolist())
    seen: set[int] = set()
    fixed = slate.copy()
    replaced = 0
    for position, item in enumerate(slate.tolist()):
        if item not in seen:
            seen.add(item)
            continue
        candidate = (item + 1) % n_items
        while candidate in taken:
            candidate = (candidate + 1) % n_items
        taken.add(candidate)
        seen.add(candidate)
        fixed[position] = candidate
        replaced += 1
    return fixed, replaced
