"""Unit tests of the pieces the agents are made of: replay buffer, n-step window, schedule,
and the masking / ranking helpers. Tiny hand-made inputs, so every expectation is exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

import recenv
from agents.base import top_items, unseen_mask
from agents.buffers import NStepWindow, ReplayBuffer
from agents.schedules import LinearSchedule

pytestmark = pytest.mark.usefixtures("single_torch_thread")

SHAPES = {"history": (2,), "history_events": (2,), "cart": (1,), "session": (3,), "query": ()}


def observations(ids: list[int]) -> dict[str, NDArray]:
    """One observation per id, every field filled with the id, so stored rows can be traced."""
    ids_array = np.asarray(ids)
    return {
        key: np.broadcast_to(ids_array.reshape(-1, *[1] * len(shape)), (len(ids), *shape)).copy()
        for key, shape in SHAPES.items()
    }


def add_rows(buffer: ReplayBuffer, ids: list[int]) -> None:
    """Transitions whose action, reward, discount and observations all carry the row id."""
    values = np.asarray(ids)
    buffer.add(
        observations(ids), values, values * 1.0, observations([i + 100 for i in ids]), values / 10
    )


def make_buffer(capacity: int, seed: int = 0) -> ReplayBuffer:
    return ReplayBuffer(capacity, SHAPES, torch.device("cpu"), torch.Generator().manual_seed(seed))


# -- ReplayBuffer -------------------------------------------------------------------------


def test_replay_buffer_wraps_around_and_caps_its_size() -> None:
    buffer = make_buffer(capacity=5)
    add_rows(buffer, [0, 1, 2])
    assert (buffer.position, buffer.size) == (3, 3)
    add_rows(buffer, [3, 4, 5, 6])  # 5 and 6 overwrite the oldest slots 0 and 1
    assert (buffer.position, buffer.size) == (2, 5)
    assert buffer.actions.tolist() == [5, 6, 2, 3, 4]
    add_rows(buffer, [7])
    assert (buffer.position, buffer.size) == (3, 5)
    assert buffer.actions.tolist() == [5, 6, 7, 3, 4]
    assert buffer.observations["history"][:, 0].tolist() == [5, 6, 7, 3, 4]
    assert buffer.next_observations["query"].tolist() == [105, 106, 107, 103, 104]


def test_replay_buffer_samples_only_stored_rows() -> None:
    """Rows past ``size`` are zeros (action 0); a sample must never reach them."""
    buffer = make_buffer(capacity=8)
    add_rows(buffer, [5, 6, 7])
    batch = buffer.sample(256)
    assert set(batch.action.tolist()) == {5, 6, 7}
    # every field of a sampled transition comes from the same stored row
    np.testing.assert_array_equal(batch.observation.history[:, 0], batch.action)
    np.testing.assert_array_equal(batch.next_observation.session[:, 2], batch.action + 100)
    np.testing.assert_allclose(batch.reward, batch.action.float())
    np.testing.assert_allclose(batch.discount, batch.action.float() / 10)


def test_replay_buffer_state_dict_round_trips(tmp_path: Path) -> None:
    buffer = make_buffer(capacity=5)
    add_rows(buffer, [0, 1, 2, 3, 4, 5, 6])  # wrapped: position 2
    torch.save(buffer.state_dict(), tmp_path / "buffer.pt")
    restored = make_buffer(capacity=5)
    restored.load_state_dict(torch.load(tmp_path / "buffer.pt", weights_only=True))
    assert (restored.position, restored.size) == (buffer.position, buffer.size) == (2, 5)
    for name in ("actions", "rewards", "discounts"):
        assert torch.equal(getattr(restored, name), getattr(buffer, name)), name
    for key in SHAPES:
        assert torch.equal(restored.observations[key], buffer.observations[key]), key
        assert torch.equal(restored.next_observations[key], buffer.next_observations[key]), key
    # same generator seed, same stored rows: the same samples
    buffer.generator.manual_seed(3)
    restored.generator.manual_seed(3)
    assert torch.equal(buffer.sample(16).action, restored.sample(16).action)
    # and it keeps writing where the original would
    add_rows(restored, [7])
    assert restored.actions.tolist() == [5, 6, 7, 3, 4]


def test_replay_buffer_refuses_a_state_larger_than_its_capacity() -> None:
    buffer = make_buffer(capacity=5)
    add_rows(buffer, [0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="capacity"):
        make_buffer(capacity=3).load_state_dict(buffer.state_dict())


# -- NStepWindow --------------------------------------------------------------------------


def test_n_step_window_returns_by_hand() -> None:
    """n = 3, gamma = 0.5, two shopper slots of a NEXT_STEP vector env.

    step  reward (s0, s1)  event                                   valid (s0, s1)
    t0    1, 1
    t1    2, 2            s0 terminates                             T, T
    t2    0, 4            s0 restarts (reward 0); s1 is truncated   F, T
    t3    8, 0            s1 restarts (reward 0)                    T, F
    t4    16, 32                                                    T, T
    t5    64, 64                                                    T, T
    Observation ids: obs at t = 10 t + slot, next obs at t = 10 (t + 1) + slot.
    """
    gamma, slots = 0.5, np.arange(2)
    rewards = [[1, 1], [2, 2], [0, 4], [8, 0], [16, 32], [64, 64]]
    terminated = [[0, 0], [1, 0], [0, 0], [0, 0], [0, 0], [0, 0]]
    truncated = [[0, 0], [0, 0], [0, 1], [0, 0], [0, 0], [0, 0]]
    valid = [[1, 1], [1, 1], [0, 1], [1, 0], [1, 1], [1, 1]]
    window = NStepWindow(n_steps=3, gamma=gamma)
    emitted = []
    for t in range(6):
        emitted.append(
            window.push(
                {"id": 10 * t + slots},
                100 + 10 * t + slots,  # action ids
                np.asarray(rewards[t], dtype=float),
                np.asarray(terminated[t], dtype=bool),
                np.asarray(truncated[t], dtype=bool),
                {"id": 10 * (t + 1) + slots},
                np.asarray(valid[t], dtype=bool),
            )
        )
    assert emitted[0] is None and emitted[1] is None  # fewer than n steps so far

    def check(
        out: tuple | None,
        obs: list[int],
        action: list[int],
        ret: list[float],
        next_obs: list[int],
        discount: list[float],
        terminated: list[bool],
    ) -> None:
        """Compare one emitted batch of n-step transitions with the hand computation."""
        assert out is not None
        observation, actions, returns, next_observation, discounts, ended = out
        assert observation["id"].tolist() == obs
        assert actions.tolist() == action
        np.testing.assert_allclose(returns, ret)
        assert next_observation["id"].tolist() == next_obs
        np.testing.assert_allclose(discounts, discount)
        assert ended.tolist() == terminated

    # window t0..t2.
    # s0: G = 1 + 0.5*2 = 2, terminated at t1 (m = 2 steps: discount 0.25, no bootstrap),
    #     next obs of t1 (20).
    # s1: G = 1 + 0.5*2 + 0.25*4 = 3, truncated at t2 still bootstraps:
    #     discount 0.5^3 = 0.125, next obs of t2 (31).
    check(emitted[2], [0, 1], [100, 101], [2, 3], [20, 31], [0.25, 0.125], [True, False])
    # window t1..t3.
    # s0: G = 2, terminated at its first step: discount 0.5, no bootstrap, next obs of t1 (20).
    # s1: G = 2 + 0.5*4 = 4, truncated at t2: discount 0.5^2 = 0.25, next obs of t2 (31).
    check(emitted[3], [10, 11], [110, 111], [2, 4], [20, 31], [0.5, 0.25], [True, False])
    # window t2..t4: s0's t2 is a restart step (invalid), so only s1 is emitted.
    # s1: G = 4, truncated at once: discount 0.5, next obs of t2 (31).
    check(emitted[4], [21], [121], [4], [31], [0.5], [False])
    # window t3..t5: s1's t3 is a restart step, only s0 is emitted, no end in the window.
    # s0: G = 8 + 0.5*16 + 0.25*64 = 32, discount 0.5^3 = 0.125, next obs of t5 (60).
    check(emitted[5], [30], [130], [32], [60], [0.125], [False])
    # what the TD target bootstraps with, (1 - terminated) * gamma^m, per emitted batch
    bootstrap = [(1 - out[5]) * out[4] for out in emitted[2:]]
    expected = [[0, 0.125], [0, 0.25], [0.5], [0.125]]
    for weights, by_hand in zip(bootstrap, expected, strict=True):
        np.testing.assert_allclose(weights, by_hand)


# -- LinearSchedule, unseen_mask, top_items -----------------------------------------------


@pytest.mark.parametrize(
    ("progress", "expected"),
    [(0.0, 1.0), (0.15, 0.525), (0.3, 0.05), (0.6, 0.05), (1.0, 0.05)],
)
def test_linear_schedule_goes_from_start_to_end_then_stays(
    progress: float, expected: float
) -> None:
    assert LinearSchedule(1.0, 0.05, 0.3)(progress) == pytest.approx(expected)


def test_linear_schedule_with_zero_fraction_is_the_end_value() -> None:
    assert LinearSchedule(1.0, 0.1, 0.0)(0.0) == 0.1


def test_unseen_mask_hides_history_and_cart_but_not_padding() -> None:
    n_items = 4  # id 4 is the padding of histories and carts
    observation = {
        "history": np.array([[0, 4, 4], [3, 1, 4]]),
        "cart": np.array([[2, 4], [4, 4]]),
        "session": np.zeros((2, 8), dtype=np.float32),
    }
    mask = unseen_mask(observation, n_items)
    assert mask.tolist() == [[False, True, False, True], [True, False, True, False]]


@pytest.mark.parametrize(
    ("slate_size", "expected"),
    [(1, [1, 0]), (2, [[1, 2], [0, 3]]), (3, [[1, 2, 3], [0, 3, 2]])],
)
def test_top_items_ranks_the_best_scores_first(slate_size: int, expected: list) -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [0.8, -1.0, 0.2, 0.4]])
    assert top_items(scores, slate_size).tolist() == expected


def test_catalog_scores_match_pair_scores_with_and_without_gradients() -> None:
    """The fast whole-catalog path (cached item table, sparse candidate terms) scores each
    item exactly as the per-pair path does, including repeated history and cart entries."""
    from agents.networks import ItemScoreHead, StateEncoder, to_tensors

    config = recenv.make_config("small")
    category = np.arange(config.catalog.n_items) % config.catalog.n_categories
    torch.manual_seed(0)
    encoder = StateEncoder(config, category, 8, 16)
    head = ItemScoreHead(encoder.items, encoder.candidates, 16, 8)
    env = recenv.ShoppingVectorEnv(4, config=config)
    observation, _ = env.reset(seed=3)
    for _ in range(6):
        observation, *_ = env.step(np.array([1, 1, 2, 3]))
    observation["cart"][0, :3] = [5, 5, 7]  # a repeated cart entry counts once
    tensors = to_tensors(observation, torch.device("cpu"))
    n_items = config.catalog.n_items
    items = torch.arange(n_items).repeat(4)
    rows = torch.arange(4).repeat_interleave(n_items)
    with torch.no_grad():
        state = encoder(tensors)
        fast = head(state, tensors).clone()  # small batches reuse an output buffer
        again = head(state, tensors).clone()  # served from the cached item table
        expanded = tensors._replace(**{k: v[rows] for k, v in tensors._asdict().items()})
        slow = head.pair_scores(state[rows], expanded, items).reshape(4, n_items)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, fast)
    with torch.no_grad():
        head.items.item.weight.add_(1.0)  # an in-place update invalidates the cache
        moved = head(state, tensors).clone()
    assert not torch.allclose(moved, fast)
    gradient = head(state, tensors)  # with gradients: no cache, same scores
    torch.testing.assert_close(gradient.detach(), moved, rtol=1e-5, atol=1e-5)
