"""Counter-based random streams, one per shopper slot.

Every random number a shopper sees is a pure function of ``(slot key, session, step,
purpose, index)``, hashed with the SplitMix64 finaliser. Three properties follow that a
generator shared by all shoppers cannot give:

* a vector env of N shoppers seeded ``s`` reproduces N single envs seeded ``s, s+1, ...``;
* the k-th shopper of a slot is the same whatever the agent did before (common random
  numbers for paired evaluation);
* the compiled kernels draw for any subset of shoppers, in any order or in parallel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_STEP_STRIDE = np.uint64(0xD1B54A32D192ED03)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 2.0**-53
_HALF_ULP = 2.0**-54

# Purposes: distinct tags keep the draws made for different jobs independent.
SHOPPER_DRAW = np.uint64(1)
HISTORY_DRAW = np.uint64(2)
RESPONSE_DRAW = np.uint64(3)


@njit(cache=True, inline="always")
def mix64(value: np.uint64) -> np.uint64:
    """SplitMix64 finaliser: a bijective avalanche hash of a 64-bit integer."""
    value = (value ^ (value >> _S30)) * _MIX_1
    value = (value ^ (value >> _S27)) * _MIX_2
    return value ^ (value >> _S31)


@njit(cache=True, inline="always")
def stream_base(key: np.uint64, session: np.uint64, step: int, purpose: np.uint64) -> np.uint64:
    """The hash from which all draws of one (slot, session, step, purpose) are indexed."""
    counter = (session * _STEP_STRIDE + np.uint64(step)) * _GOLDEN + purpose
    return mix64(key ^ counter)


@njit(cache=True, inline="always")
def uniform(base: np.uint64, index: int) -> float:
    """The ``index``-th Uniform(0, 1) draw of a stream; never exactly 0 or 1."""
    bits = mix64(base + np.uint64(index + 1) * _GOLDEN) >> _S11
    return float(bits) * _TO_UNIT + _HALF_ULP


@njit(cache=True, inline="always")
def normal(base: np.uint64, index: int) -> float:
    """A standard normal from draws ``index`` and ``index + 1`` (Box-Muller)."""
    radius = math.sqrt(-2.0 * math.log(uniform(base, index)))
    return radius * math.cos(2.0 * math.pi * uniform(base, index + 1))


@njit(cache=True, inline="always")
def gumbel(base: np.uint64, index: int) -> float:
    """A standard Gumbel draw: the noise of a sampled multinomial-logit choice."""
    return -math.log(-math.log(uniform(base, index)))


@njit(cache=True, inline="always")
def slot_keys(seed: np.uint64, n_slots: int) -> NDArray[np.uint64]:
    """Stream keys of slots ``0..n_slots-1`` for seed ``seed``: slot i = single env ``seed + i``."""
    keys = np.empty(n_slots, dtype=np.uint64)
    for slot in range(n_slots):
        keys[slot] = mix64((seed + np.uint64(slot)) * _GOLDEN)
    return keys
