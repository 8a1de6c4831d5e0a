"""Golden trajectories: the same seeds and actions give bit-identical steps, release after
release. A change to the dynamics that is meant to alter behaviour updates these digests in
its own commit (say so in the message); any other change must leave them as they are."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import recenv

GOLDEN = {  # preset -> sha256 prefix of 120 random steps of 64 shoppers (see digest())
    "small": "a5a5777cd947fc09",
    "default": "f8145d7be4b8cdf5",
    "search": "326ffd87b646bf30",
    "cold_start": "e3cec0297fce17d1",
    "long_term": "6a07306e6fec3c78",
    "sparse": "e6cdd902d34e82fe",
    "cross_category": "6990675dc7f30f32",
    "shops": "ee7ef1a00bcae7aa",
}


def digest(preset: str, n_shoppers: int = 64, steps: int = 120) -> str:
    """Observations, rewards, flags and hidden traits of a seeded run under random slates."""
    env = recenv.ShoppingVectorEnv(n_shoppers, preset=preset, expose_hidden_state=True)
    env.reset(seed=5)
    rng = np.random.default_rng(1)
    size, n_items = env.config.slate_size, env.config.catalog.n_items
    hasher = hashlib.sha256()
    for _ in range(steps):
        if size > 1:
            action = np.argsort(rng.random((n_shoppers, n_items)), axis=1)[:, :size]
        else:
            action = rng.integers(0, n_items, n_shoppers)
        observation, reward, terminated, truncated, info = env.step(action)
        for key in ("history", "history_events", "cart", "query"):
            hasher.update(np.ascontiguousarray(observation[key]).tobytes())
        hasher.update(np.ascontiguousarray(observation["session"][:, :8]).tobytes())
        for values in (reward, terminated, truncated):
            hasher.update(values.tobytes())
        for key in ("taste", "patience", "budget", "fatigue"):
            hasher.update(info["hidden"][key].tobytes())
    return hasher.hexdigest()[:16]


@pytest.mark.parametrize("preset", list(GOLDEN))
def test_trajectories_are_bit_identical_to_the_golden_ones(preset: str) -> None:
    assert digest(preset) == GOLDEN[preset]
