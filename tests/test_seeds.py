"""Independent seeds: runs, and the training / validation / evaluation splits, share no shopper."""

from __future__ import annotations

import numpy as np
import pytest

from recenv import ShoppingEnv, ShoppingVectorEnv, make_config
from recenv.sim import streams
from recenv.sim.core import Simulator

N_SLOTS, SESSIONS_PER_RUN = 64, 10_000


def shopper_fingerprints(seed: int, split: str, n_sessions: int) -> np.ndarray:
    """One row per shopper met by a run of ``N_SLOTS`` slots over ``n_sessions`` sessions:
    the hidden traits drawn at arrival (taste, budget, patience, price sensitivity)."""
    simulator = Simulator(make_config("small"), N_SLOTS)
    simulator.seed(seed, split)
    rows = np.arange(N_SLOTS)
    simulator.start_sessions(rows)
    fingerprints = []
    for _ in range(-(-n_sessions // N_SLOTS)):
        state = simulator.state
        fingerprints.append(
            np.column_stack(
                [state.taste, state.budget, state.patience, state.price_sensitivity]
            ).copy()
        )
        simulator.next_sessions(rows)
    return np.concatenate(fingerprints)[:n_sessions]


def test_runs_with_seeds_0_to_9_share_no_shopper() -> None:
    """10 runs x 64 slots x 10,000 sessions each: 100,000 distinct shoppers.

    With the old rule (slot i of seed s = stream s + i) seeds 0 and 1 shared 63 of 64 slots.
    """
    everyone = np.concatenate(
        [shopper_fingerprints(seed, "train", SESSIONS_PER_RUN) for seed in range(10)]
    )
    assert len(everyone) == 10 * SESSIONS_PER_RUN
    assert len(np.unique(everyone, axis=0)) == len(everyone)


def test_splits_of_one_seed_share_no_shopper() -> None:
    shoppers = np.concatenate([shopper_fingerprints(7, split, 2_000) for split in streams.SPLITS])
    assert len(np.unique(shoppers, axis=0)) == len(shoppers)


def test_slot_keys_are_distinct_within_a_run_and_across_runs() -> None:
    keys = np.concatenate(
        [
            streams.slot_keys(streams.run_key(seed, split), 0, 4096)
            for seed in range(10)
            for split in streams.SPLITS
        ]
    )
    assert len(np.unique(keys)) == len(keys)


def test_a_seed_reproduces_itself_bit_for_bit() -> None:
    first = shopper_fingerprints(3, "evaluation", 500)
    again = shopper_fingerprints(3, "evaluation", 500)
    np.testing.assert_array_equal(first, again)


def test_single_env_at_a_slot_is_that_slot_of_the_vector_env() -> None:
    vector = ShoppingVectorEnv(5, preset="small", split="validation", expose_hidden_state=True)
    _, vector_info = vector.reset(seed=11)
    single = ShoppingEnv(preset="small", split="validation", expose_hidden_state=True)
    for slot in range(5):
        _, info = single.reset(seed=11, options={"slot": slot})
        np.testing.assert_array_equal(info["hidden"]["taste"], vector_info["hidden"]["taste"][slot])
        assert info["hidden"]["budget"] == vector_info["hidden"]["budget"][slot]


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_bad_seeds_name_the_allowed_range(seed: object) -> None:
    with pytest.raises(ValueError, match=r"seed = .* allowed: integers >= 0"):
        ShoppingVectorEnv(2, preset="small").reset(seed=seed)
    with pytest.raises(ValueError, match=r"seed = .* allowed: integers >= 0"):
        ShoppingEnv(preset="small").reset(seed=seed)


def test_large_seeds_do_not_wrap_around() -> None:
    assert streams.run_key(2**64) != streams.run_key(0)


def test_unknown_splits_and_reset_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="split = 'test' is not allowed"):
        ShoppingEnv(preset="small", split="test")
    with pytest.raises(ValueError, match="unknown reset options \\['sesion_index'\\]"):
        ShoppingEnv(preset="small").reset(seed=0, options={"sesion_index": 1})
    with pytest.raises(ValueError, match="options\\['slot'\\] = -2 is out of range"):
        ShoppingEnv(preset="small").reset(seed=0, options={"slot": -2})
