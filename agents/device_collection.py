"""DQN's collection when the env steps on the GPU (``ShoppingVectorEnv(device="cuda")``):
the n-step window, the replay writes and the session returns as torch tensors on the
env's device, with no host synchronisation per step.

The CPU versions (``agents.buffers``) emit a variable number of transitions per step (only
slots whose oldest step is a real transition), which needs the count on the host. Here
every slot writes each step: real transitions go to consecutive slots after the buffer's
position (a cumulative sum of the valid flags), the others to one scratch row past the
end that is never sampled; position and size are device scalars. Sampling draws uniform
indices below the device-side size. The stored transitions and their order are those of
the CPU path (``tests/test_device_dqn.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from agents.buffers import ReplayBuffer, TransitionBatch
from recenv.sim.core import OBSERVATION_KEYS

Tensors = Mapping[str, torch.Tensor]


class DeviceReplayBuffer(ReplayBuffer):
    """``ReplayBuffer`` whose writes and samples never read a count back to the host."""

    def __init__(self, capacity: int, *shapes_device_generator: Any) -> None:
        """As ``ReplayBuffer(capacity, observation_shapes, device, generator)``."""
        super().__init__(capacity + 1, *shapes_device_generator)  # + the scratch row
        self.capacity = capacity
        self.position = torch.zeros((), dtype=torch.long, device=self.device)
        self.size = torch.zeros((), dtype=torch.long, device=self.device)

    def add_rows(
        self,
        observation: Tensors,
        action: torch.Tensor,
        reward: torch.Tensor,
        next_observation: Tensors,
        discount: torch.Tensor,
        terminated: torch.Tensor,
        valid: torch.Tensor,
    ) -> None:
        """Store the ``valid`` rows after the position, in row order; drop the others."""
        order = torch.cumsum(valid.to(torch.long), dim=0) - 1
        slots = torch.where(valid, (self.position + order) % self.capacity, self.capacity)
        for key in OBSERVATION_KEYS:
            store, next_store = self.observations[key], self.next_observations[key]
            store[slots] = observation[key].to(store.dtype)
            next_store[slots] = next_observation[key].to(next_store.dtype)
        self.actions[slots] = action.to(torch.long)
        self.rewards[slots] = reward.to(torch.float32)
        self.discounts[slots] = discount.to(torch.float32)
        self.terminated[slots] = terminated.to(torch.float32)
        count = valid.sum()
        self.position = (self.position + count) % self.capacity
        self.size = torch.clamp(self.size + count, max=self.capacity)

    def load_state_dict(self, state: Mapping[str, torch.Tensor | int]) -> None:
        """``ReplayBuffer.load_state_dict`` (either kind's state), counts back on the device."""
        super().load_state_dict(state)
        self.position = torch.tensor(int(self.position), dtype=torch.long, device=self.device)
        self.size = torch.tensor(int(self.size), dtype=torch.long, device=self.device)

    def sample(self, batch_size: int) -> TransitionBatch:
        """Uniform indices below the device-side size (with replacement)."""
        draws = torch.rand(batch_size, generator=self.generator, device=self.generator.device)
        index = (draws.to(self.device) * self.size).long().clamp(max=self.capacity - 1)
        return self._gather(index)


class DeviceNStepWindow:
    """``buffers.NStepWindow`` on tensors: every slot's n-step transition each step, with
    the flag of whether it is real (the oldest step was not an autoreset step)."""

    def __init__(self, n_steps: int, gamma: float) -> None:
        self.n_steps, self.gamma = n_steps, gamma
        self.window: list[dict[str, Any]] = []

    def push(self, **step: Any) -> tuple | None:
        self.window.append(step)
        if len(self.window) < self.n_steps:
            return None
        first = self.window[0]
        reward = first["reward"]
        returns = torch.zeros_like(reward, dtype=torch.float32)
        discount = torch.ones_like(returns)
        terminated = torch.zeros_like(first["terminated"])
        open_ = torch.ones_like(first["terminated"])
        last = torch.zeros(len(reward), dtype=torch.long, device=reward.device)
        for k, entry in enumerate(self.window):
            returns = returns + open_ * discount * entry["reward"]
            discount = torch.where(open_, discount * self.gamma, discount)
            last = torch.where(open_, k, last)
            terminated = terminated | (open_ & entry["terminated"])
            open_ = open_ & ~(entry["terminated"] | entry["truncated"])
        rows = torch.arange(len(reward), device=reward.device)
        next_observation = {
            key: torch.stack([entry["next_observation"][key] for entry in self.window])[last, rows]
            for key in first["next_observation"]
        }
        self.window.pop(0)
        return (
            first["observation"],
            first["action"],
            returns,
            next_observation,
            discount,
            terminated,
            first["valid"],
        )


class DeviceNStepCollector:
    """``buffers.NStepCollector`` for a device env: tensors in, tensors stored; finished
    sessions' returns are kept on the device until ``drain_returns`` reads them back."""

    def __init__(
        self,
        env: Any,
        buffer: DeviceReplayBuffer,
        window: DeviceNStepWindow,
        seed: int,
        session_index: int = 0,
    ) -> None:
        if env.autoreset_mode.name != "NEXT_STEP":
            raise ValueError("DeviceNStepCollector needs a vector env with NEXT_STEP autoreset")
        self.env, self.buffer, self.window = env, buffer, window
        options = {"session_index": session_index} if session_index else None
        observation, _ = env.reset(seed=seed, options=options)
        self.observation = {key: value.clone() for key, value in observation.items()}
        device = observation["query"].device
        self.restarting = torch.zeros(env.num_envs, dtype=torch.bool, device=device)
        self.session_return = torch.zeros(env.num_envs, dtype=torch.float32, device=device)
        self.finished: list[tuple[torch.Tensor, torch.Tensor]] = []

    def step(
        self,
        policy: Callable[[Tensors], torch.Tensor],
        learning_reward: Callable[..., torch.Tensor],
    ) -> None:
        observation = self.observation
        action = policy(observation)
        next_raw, reward, terminated, truncated, _ = self.env.step(action)
        # the env's buffers are reused next step: keep copies for the window
        next_observation = {key: value.clone() for key, value in next_raw.items()}
        reward, terminated, truncated = reward.float(), terminated.clone(), truncated.clone()
        transitions = self.window.push(
            observation=observation,
            action=action if action.ndim == 1 else action[:, 0],
            reward=learning_reward(reward, observation, next_observation, terminated),
            terminated=terminated,
            truncated=truncated,
            next_observation=next_observation,
            valid=~self.restarting,
        )
        if transitions is not None:
            self.buffer.add_rows(*transitions)
        self.session_return = torch.where(
            self.restarting, torch.zeros_like(reward), self.session_return + reward
        )
        self.restarting = terminated | truncated
        self.finished.append((self.session_return.clone(), self.restarting.clone()))
        self.observation = next_observation

    def drain_returns(self) -> list[float]:
        """The finished sessions' returns since the last call (one read back)."""
        if not self.finished:
            return []
        values = torch.stack([value for value, _ in self.finished])
        ended = torch.stack([done for _, done in self.finished])
        self.finished.clear()
        return values[ended].tolist()
