"""The history ring buffer is observed exactly as the shifted history it replaced: the shown
slate first (its first item most recent), then the older entries, padded with n_items."""

from __future__ import annotations

import numpy as np
import pytest

from recenv import ShoppingVectorEnv
from recenv.sim.state import EVENT_CARTED, EVENT_CLICKED, EVENT_VIEWED


@pytest.mark.parametrize(
    ("slate_size", "history_length"),
    [(1, 10), (3, 7), (4, 4), (6, 4)],  # a slate that divides the ring, one that does not,
)  # one as long as it, one longer (only its first history_length items are kept)
def test_the_observed_history_is_the_shifted_history(slate_size: int, history_length: int) -> None:
    n = 16
    env = ShoppingVectorEnv(
        n,
        preset="small",
        slate_size=slate_size,
        history_length=history_length,
        shoppers={"initial_history": min(5, history_length)},
    )
    observation, _ = env.reset(seed=2)
    reference = observation["history"].copy()  # returning shoppers arrive with a history
    rng = np.random.default_rng(0)
    restarting = np.zeros(n, dtype=bool)
    restarts = 0
    kept = min(slate_size, history_length)
    for _ in range(60):
        slates = np.argsort(rng.random((n, env.config.catalog.n_items)), axis=1)[:, :slate_size]
        action = slates if slate_size > 1 else slates[:, 0]
        observation, _, terminated, truncated, info = env.step(action)
        for row in range(n):
            if restarting[row]:  # NEXT_STEP: a new shopper, its own starting history
                reference[row] = observation["history"][row]
                continue
            reference[row] = np.concatenate([slates[row, :kept], reference[row]])[:history_length]
            events = observation["history_events"][row, :kept]
            clicked = info["clicked_item"][row]
            expected = np.full(kept, EVENT_VIEWED)
            if clicked >= 0 and clicked in slates[row, :kept]:
                position = int(np.flatnonzero(slates[row, :kept] == clicked)[0])
                expected[position] = EVENT_CARTED if info["cart"][row] else EVENT_CLICKED
            if not info["purchase"][row]:  # a purchase may mark entries bought
                np.testing.assert_array_equal(events, expected)
        np.testing.assert_array_equal(observation["history"], reference)
        restarting = terminated | truncated
        restarts += int(restarting.sum())
    assert restarts > n  # small's sessions end within 20 steps: new shoppers were covered
