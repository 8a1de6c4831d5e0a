"""Preallocated replay buffer of (n-step) transitions, on the training device."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray

from agents.networks import ObservationTensors

OBSERVATION_KEYS = ObservationTensors._fields


class TransitionBatch(NamedTuple):
    """Sampled transitions; ``discount`` is gamma**k for the k steps the return spans."""

    observation: ObservationTensors
    action: torch.Tensor  # (b,) long
    reward: torch.Tensor  # (b,) float: the (n-step) discounted return
    next_observation: ObservationTensors
    discount: torch.Tensor  # (b,) float: 0 when the session terminated within the span


class ReplayBuffer:
    """A circular buffer of transitions, written in batches, sampled with the agent's generator.

    Observation fields are stored as tensors of their own dtype (long ids, float features)
    in one preallocated block per field.
    """

    def __init__(
        self,
        capacity: int,
        observation_shapes: Mapping[str, tuple[int, ...]],
        device: torch.device,
        generator: torch.Generator,
    ) -> None:
        self.capacity, self.device, self.generator = capacity, device, generator
        self.position, self.size = 0, 0

        def block(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
            return torch.zeros((capacity, *shape), dtype=dtype, device=device)

        def observation_block() -> dict[str, torch.Tensor]:
            return {
                key: block(
                    observation_shapes[key], torch.float32 if key == "session" else torch.long
                )
                for key in OBSERVATION_KEYS
            }

        self.observations = observation_block()
        self.next_observations = observation_block()
        self.actions = block((), torch.long)
        self.rewards = block((), torch.float32)
        self.discounts = block((), torch.float32)

    def add(
        self,
        observation: Mapping[str, NDArray],
        action: NDArray[np.int64],
        reward: NDArray[np.floating],
        next_observation: Mapping[str, NDArray],
        discount: NDArray[np.floating],
    ) -> None:
        """Append a batch of transitions, overwriting the oldest once full."""
        count = len(action)
        if count == 0:
            return
        slots = (self.position + np.arange(count)) % self.capacity
        index = torch.as_tensor(slots, device=self.device)
        for key in OBSERVATION_KEYS:
            self.observations[key][index] = torch.as_tensor(
                observation[key], device=self.device
            ).to(self.observations[key].dtype)
            self.next_observations[key][index] = torch.as_tensor(
                next_observation[key], device=self.device
            ).to(self.next_observations[key].dtype)
        self.actions[index] = torch.as_tensor(action, device=self.device)
        self.rewards[index] = torch.as_tensor(reward, dtype=torch.float32, device=self.device)
        self.discounts[index] = torch.as_tensor(discount, dtype=torch.float32, device=self.device)
        self.position = int((self.position + count) % self.capacity)
        self.size = min(self.size + count, self.capacity)

    def sample(self, batch_size: int) -> TransitionBatch:
        """Uniformly sample stored transitions (with replacement)."""
        index = torch.randint(
            0, self.size, (batch_size,), generator=self.generator, device=self.generator.device
        ).to(self.device)

        def gather(fields: dict[str, torch.Tensor]) -> ObservationTensors:
            return ObservationTensors(*(fields[key][index] for key in OBSERVATION_KEYS))

        return TransitionBatch(
            observation=gather(self.observations),
            action=self.actions[index],
            reward=self.rewards[index],
            next_observation=gather(self.next_observations),
            discount=self.discounts[index],
        )

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        """Everything needed to resume: the stored transitions and the write position."""
        state: dict[str, torch.Tensor | int] = {"position": self.position, "size": self.size}
        for key in OBSERVATION_KEYS:
            state[f"observation.{key}"] = self.observations[key][: self.size].cpu()
            state[f"next_observation.{key}"] = self.next_observations[key][: self.size].cpu()
        for name in ("actions", "rewards", "discounts"):
            state[name] = getattr(self, name)[: self.size].cpu()
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor | int]) -> None:
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(
                f"buffer checkpoint holds {size} transitions > capacity {self.capacity}"
            )
        for key in OBSERVATION_KEYS:
            self.observations[key][:size] = state[f"observation.{key}"].to(self.device)
            self.next_observations[key][:size] = state[f"next_observation.{key}"].to(self.device)
        for name in ("actions", "rewards", "discounts"):
            getattr(self, name)[:size] = state[name].to(self.device)
        self.position, self.size = int(state["position"]), size


class NStepWindow:
    """Turns vector-env steps into n-step transitions, per shopper slot.

    Keeps the last ``n`` steps; once full, emits for every slot whose oldest step is a
    real transition: ``G = sum_k gamma^k r_k`` up to the first end of the session within
    the window (m steps), the observation after it, and ``discount = gamma^m`` (0 if the
    session terminated: truncation still bootstraps). ``n = 1`` is ordinary TD(0).
    """

    def __init__(self, n_steps: int, gamma: float) -> None:
        self.n_steps, self.gamma = n_steps, gamma
        self.window: list[dict] = []

    def push(
        self,
        observation: Mapping[str, NDArray],
        action: NDArray[np.int64],
        reward: NDArray[np.floating],
        terminated: NDArray[np.bool_],
        truncated: NDArray[np.bool_],
        next_observation: Mapping[str, NDArray],
        valid: NDArray[np.bool_],
    ) -> tuple | None:
        """Record one vector step; returns ``(obs, action, G, next_obs, discount)`` or None."""
        self.window.append(
            dict(
                observation=observation,
                action=action,
                reward=reward,
                terminated=terminated,
                truncated=truncated,
                next_observation=next_observation,
                valid=valid,
            )
        )
        if len(self.window) < self.n_steps:
            return None
        first = self.window[0]
        emit = first["valid"]
        n_slots = len(emit)
        returns = np.zeros(n_slots)
        discount = np.ones(n_slots)
        open_ = np.ones(n_slots, dtype=bool)  # the session is still going within the window
        last = np.zeros(n_slots, dtype=np.int64)  # index of the step whose next obs we use
        for k, step in enumerate(self.window):
            returns += open_ * discount * step["reward"]
            discount = np.where(open_, discount * self.gamma, discount)
            last = np.where(open_, k, last)
            ended = step["terminated"] | step["truncated"]
            discount = np.where(open_ & step["terminated"], 0.0, discount)
            open_ &= ~ended
        rows = np.flatnonzero(emit)
        next_observation = {
            key: np.stack([step["next_observation"][key] for step in self.window])[last[rows], rows]
            for key in first["next_observation"]
        }
        self.window.pop(0)
        return (
            {key: value[rows] for key, value in first["observation"].items()},
            first["action"][rows],
            returns[rows],
            next_observation,
            discount[rows],
        )
