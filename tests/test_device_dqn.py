"""DQN with the env on the device (``agents.device_collection``) against the CPU path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.buffers import NStepWindow, ReplayBuffer
from agents.device_collection import DeviceNStepWindow, DeviceReplayBuffer
from tests.test_cuda import run_simulated

SHAPES = {"history": (3,), "history_events": (3,), "cart": (2,), "session": (4,), "query": ()}


def random_observation(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        key: rng.random((n, *shape)).astype(np.float32) * 10
        if key == "session"
        else rng.integers(0, 50, (n, *shape))
        for key, shape in SHAPES.items()
    }


def test_device_buffer_stores_the_cpu_buffers_transitions_in_order() -> None:
    """Batches with dropped rows, wrapping past the capacity: the device buffer (scratch row,
    device-side counts) holds what the CPU buffer holds after compacting the rows."""
    rng = np.random.default_rng(0)
    cpu = ReplayBuffer(50, SHAPES, torch.device("cpu"), torch.Generator().manual_seed(0))
    device = DeviceReplayBuffer(50, SHAPES, torch.device("cpu"), torch.Generator().manual_seed(0))
    for _ in range(9):
        n = 13
        observation, next_observation = random_observation(rng, n), random_observation(rng, n)
        action, reward = rng.integers(0, 50, n), rng.random(n)
        discount, terminated = rng.random(n), rng.random(n) < 0.3
        valid = rng.random(n) < 0.7
        rows = np.flatnonzero(valid)
        cpu.add(
            {key: value[rows] for key, value in observation.items()},
            action[rows],
            reward[rows],
            {key: value[rows] for key, value in next_observation.items()},
            discount[rows],
            terminated[rows],
        )
        tensors = lambda d: {key: torch.as_tensor(value) for key, value in d.items()}  # noqa: E731
        device.add_rows(
            tensors(observation),
            torch.as_tensor(action),
            torch.as_tensor(reward),
            tensors(next_observation),
            torch.as_tensor(discount),
            torch.as_tensor(terminated),
            torch.as_tensor(valid),
        )
    assert int(device.size) == cpu.size == 50 and int(device.position) == cpu.position
    for key in SHAPES:
        assert torch.equal(device.observations[key][:50], cpu.observations[key])
        assert torch.equal(device.next_observations[key][:50], cpu.next_observations[key])
    for name in ("actions", "rewards", "discounts", "terminated"):
        assert torch.equal(getattr(device, name)[:50], getattr(cpu, name)), name
    restored = DeviceReplayBuffer(50, SHAPES, torch.device("cpu"), torch.Generator())
    restored.load_state_dict(cpu.state_dict())  # a CPU checkpoint resumed on the device
    assert int(restored.size) == 50 and int(restored.position) == cpu.position
    assert torch.equal(restored.actions[:50], cpu.actions)
    sample = device.sample(1000)  # never the scratch row
    stored = set(device.actions[:50].tolist())
    assert set(sample.action.tolist()) <= stored


def test_device_window_emits_the_cpu_windows_transitions() -> None:
    rng = np.random.default_rng(1)
    n, steps = 6, 30
    cpu, device = NStepWindow(3, 0.9), DeviceNStepWindow(3, 0.9)
    for _ in range(steps):
        observation, next_observation = random_observation(rng, n), random_observation(rng, n)
        action, reward = rng.integers(0, 50, n), rng.random(n)
        terminated, truncated = rng.random(n) < 0.2, rng.random(n) < 0.1
        valid = rng.random(n) < 0.8
        expected = cpu.push(
            observation, action, reward, terminated, truncated, next_observation, valid
        )
        tensors = lambda d: {key: torch.as_tensor(value) for key, value in d.items()}  # noqa: E731
        got = device.push(
            observation=tensors(observation),
            action=torch.as_tensor(action),
            reward=torch.as_tensor(reward, dtype=torch.float32),
            terminated=torch.as_tensor(terminated),
            truncated=torch.as_tensor(truncated),
            next_observation=tensors(next_observation),
            valid=torch.as_tensor(valid),
        )
        if expected is None:
            assert got is None
            continue
        rows = got[-1].numpy()
        for index, (want, have) in enumerate(zip(expected, got[:-1], strict=True)):
            if isinstance(want, dict):
                for key in want:
                    np.testing.assert_array_equal(have[key].numpy()[rows], want[key])
            else:
                np.testing.assert_allclose(have.numpy()[rows], want, rtol=1e-6, err_msg=str(index))


@pytest.mark.skipif(
    importlib.util.find_spec("numba_cuda") is None, reason="needs numba-cuda (the gpu extra)"
)
def test_dqn_trained_with_the_env_on_the_device_beats_random(tmp_path: Path) -> None:
    """Under numba-cuda's simulator: 20,000 shopper-steps on small, 32 shoppers per step."""
    script = Path(__file__).parent / "cuda_dqn_training.py"
    run_simulated(script.read_text(), ["20000"], tmp_path)


@pytest.mark.parametrize(
    ("env_device", "message"),
    [("gpu", "device = 'gpu' is out of range"), ("cuda", "needs numba-cuda")],
)
def test_train_env_device_errors_name_the_value(env_device: str, message: str) -> None:
    from experiments.factory import compose_config, env_config_from, training_env
    from recenv.sim import cuda as recenv_cuda

    cfg = compose_config(["agent=dqn", "env=small", f"train.env_device={env_device}"])
    if env_device == "cuda" and recenv_cuda.available():
        pytest.skip("a CUDA device (or its simulator) is present")
    with pytest.raises(ValueError, match=message):
        training_env(cfg, env_config_from(cfg))


def test_train_env_device_auto_falls_back_to_the_cpu_without_a_device() -> None:
    from experiments.factory import compose_config, env_config_from, training_env
    from recenv.sim import cuda as recenv_cuda

    cfg = compose_config(["agent=dqn", "env=small", "train.env_device=auto"])
    env = training_env(cfg, env_config_from(cfg))
    assert env.device == ("cuda" if recenv_cuda.available() else "cpu")


@pytest.mark.skipif(
    importlib.util.find_spec("numba_cuda") is None, reason="needs numba-cuda (the gpu extra)"
)
def test_the_evaluation_on_the_device_records_what_the_cpu_evaluation_records(
    tmp_path: Path,
) -> None:
    """Single items, slates and returning shoppers: every per-session record equal."""
    script = Path(__file__).parent / "cuda_evaluation.py"
    run_simulated(script.read_text(), [], tmp_path)
