"""Counter-based random streams, one per shopper slot.

Every random number a shopper sees is a pure function of ``(slot key, session, step,
purpose, index)``, hashed with the SplitMix64 finaliser. Three properties follow that a
generator shared by all shoppers cannot give:

* slot ``i`` of a vector env seeded ``s`` reproduces a single env seeded ``s`` at slot ``i``;
* runs never share shoppers: a seed's slot keys come from ``numpy.random.SeedSequence``
  (seed, split), so seeds 0 and 1 (or a training and an evaluation run of one seed) draw
  unrelated 64-bit keys, and the keys of one run are distinct by construction (a bijective
  hash of the slot);
* the k-th shopper of a slot is the same whatever the agent did before (common random
  numbers for paired evaluation);
* the compiled kernels draw for any subset of shoppers, in any order or in parallel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from recenv.sim.config import out_of_range

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
RETURN_DRAW = np.uint64(4)  # a visit's end: does the shopper come back, with what patience
VISIT_STRIDE = 1 << 16  # step index of a stream = visit * VISIT_STRIDE + step in the visit


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


# Population splits: the shoppers of each are disjoint from the others' for every seed.
SPLITS = ("train", "validation", "evaluation")


def check_split(split: str) -> str:
    """The split name, or a ValueError listing the allowed ones."""
    if split not in SPLITS:
        raise ValueError(f"split = {split!r} is not allowed; choose one of {list(SPLITS)}")
    return split


def check_seed(seed: object) -> int:
    """A reset seed as an int, or a ValueError naming the allowed range."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise out_of_range("seed", seed, "integers >= 0")
    return int(seed)


def run_key(seed: int, split: str = "train") -> np.uint64:
    """The 64-bit key of one run's shoppers: ``SeedSequence(seed)`` spawned for ``split``.

    Any two (seed, split) pairs get unrelated keys, so their slot streams never coincide
    (the chance that two of a million runs share one key is below 1e-7).
    """
    sequence = np.random.SeedSequence(
        check_seed(seed), spawn_key=(SPLITS.index(check_split(split)),)
    )
    return sequence.generate_state(1, dtype=np.uint64)[0]


@njit(cache=True)
def slot_keys(key: np.uint64, first_slot: int, n_slots: int) -> NDArray[np.uint64]:
    """Stream keys of slots ``first_slot .. first_slot + n_slots - 1`` of run key ``key``.

    ``mix64`` is a bijection, so the slots of one run always get distinct keys.
    """
    keys = np.empty(n_slots, dtype=np.uint64)
    for slot in range(n_slots):
        keys[slot] = mix64(key + np.uint64(first_slot + slot + 1) * _GOLDEN)
    return keys
