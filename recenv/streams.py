"""Counter-based random streams, one per shopper slot, drawn in batches.

Every random number a shopper sees is a pure function of ``(slot key, session, step,
purpose)`` hashed with the SplitMix64 finaliser. Three properties follow that a
generator shared by all shoppers cannot give:

* a vector env of N shoppers seeded ``s`` reproduces N single envs seeded ``s, s+1, ...``;
* the k-th shopper of a slot is the same whatever the agent did before (common random
  numbers for paired evaluation);
* draws stay batched numpy: no Python loop over shoppers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_SHIFT_30, _SHIFT_27, _SHIFT_31 = np.uint64(30), np.uint64(27), np.uint64(31)
_STEP_STRIDE = np.uint64(0xD1B54A32D192ED03)
_TO_UNIT = 2.0**-53
_HALF_ULP = 2.0**-54
_SHIFT_11 = np.uint64(11)

# Purposes: distinct tags keep the draws made for different jobs independent.
SHOPPER_DRAW = np.uint64(1)
HISTORY_DRAW = np.uint64(2)
RESPONSE_DRAW = np.uint64(3)


def mix64(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64 finaliser: a bijective avalanche hash of 64-bit integers (in place)."""
    values ^= values >> _SHIFT_30
    values *= _MIX_1
    values ^= values >> _SHIFT_27
    values *= _MIX_2
    values ^= values >> _SHIFT_31
    return values


def slot_keys(seed: int, n_slots: int) -> NDArray[np.uint64]:
    """Stream keys of slots ``0..n_slots-1`` for a vector env seeded ``seed``.

    Slot ``i`` gets the key of a single env seeded ``seed + i``.
    """
    seeds = (np.arange(n_slots, dtype=np.uint64) + np.uint64(seed % 2**64)) * _GOLDEN
    return mix64(seeds)


def uniforms(
    keys: NDArray[np.uint64],
    sessions: NDArray[np.uint64],
    step: NDArray[np.uint64] | np.uint64,
    purpose: np.uint64,
    n_draws: int,
) -> NDArray[np.float64]:
    """Uniform(0, 1) draws, shape ``(len(keys), n_draws)``, for one (session, step, purpose).

    Values lie strictly inside (0, 1) so logs and inverse CDFs stay finite.
    """
    counter = sessions * _STEP_STRIDE
    counter += step
    counter *= _GOLDEN
    counter += purpose
    counter ^= keys
    base = mix64(counter)
    bits = base[:, None] + np.arange(1, n_draws + 1, dtype=np.uint64) * _GOLDEN
    bits = mix64(bits)
    bits >>= _SHIFT_11
    draws = bits.astype(np.float64)
    draws *= _TO_UNIT
    draws += _HALF_ULP
    return draws


def standard_normals(unit: NDArray[np.float64]) -> NDArray[np.float64]:
    """Map uniforms of shape ``(n, 2m)`` to ``(n, 2m)`` standard normals (Box-Muller)."""
    half = unit.shape[1] // 2
    radius = np.sqrt(-2.0 * np.log(unit[:, :half]))
    angle = 2.0 * np.pi * unit[:, half : 2 * half]
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
