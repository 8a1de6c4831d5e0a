"""Preallocated replay buffer of (n-step) transitions on the training device, and the
collector that fills it from a vector env."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray

from agents.networks import ObservationTensors, load_weights, save_atomically

OBSERVATION_KEYS = ObservationTensors._fields


class TransitionBatch(NamedTuple):
    """Sampled transitions; ``discount`` is gamma**k for the k steps the return spans."""

    observation: ObservationTensors
    action: torch.Tensor  # (b,) long
    reward: torch.Tensor  # (b,) float: the (n-step) discounted return
    next_observation: ObservationTensors
    discount: torch.Tensor  # (b,) float: gamma**k
    terminated: torch.Tensor  # (b,) float: 1 when the session terminated within the span


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
        action_shape: tuple[int, ...] = (),
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
        self.actions = block(action_shape, torch.long)  # an item, or a slate and its click
        self.rewards = block((), torch.float32)
        self.discounts = block((), torch.float32)
        self.terminated = block((), torch.float32)

    @classmethod
    def for_agent(
        cls,
        capacity: int,
        observation_space: Any,
        device: torch.device,
        seed: int,
        action_shape: tuple[int, ...] = (),
    ) -> ReplayBuffer:
        """A buffer shaped like a vector env's single observations, sampled by ``seed``;
        each stored action has ``action_shape`` (``()``: one item id)."""
        shapes = {key: value.shape for key, value in observation_space.items()}
        generator = torch.Generator(device=device).manual_seed(seed)
        return cls(capacity, shapes, device, generator, action_shape)

    def add(
        self,
        observation: Mapping[str, NDArray],
        action: NDArray[np.int64],
        reward: NDArray[np.floating],
        next_observation: Mapping[str, NDArray],
        discount: NDArray[np.floating],
        terminated: NDArray[np.bool_] | None = None,
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
        ended = np.zeros(count, dtype=bool) if terminated is None else terminated
        self.terminated[index] = torch.as_tensor(ended, dtype=torch.float32, device=self.device)
        self.position = int((self.position + count) % self.capacity)
        self.size = min(self.size + count, self.capacity)

    def sample(self, batch_size: int) -> TransitionBatch:
        """Uniformly sample stored transitions (with replacement)."""
        index = torch.randint(
            0, self.size, (batch_size,), generator=self.generator, device=self.generator.device
        ).to(self.device)
        return self._gather(index)

    def _gather(self, index: torch.Tensor) -> TransitionBatch:
        """The transitions stored at ``index``."""

        def gather(fields: dict[str, torch.Tensor]) -> ObservationTensors:
            return ObservationTensors(*(fields[key][index] for key in OBSERVATION_KEYS))

        return TransitionBatch(
            observation=gather(self.observations),
            action=self.actions[index],
            reward=self.rewards[index],
            next_observation=gather(self.next_observations),
            discount=self.discounts[index],
            terminated=self.terminated[index],
        )

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        """Everything needed to resume: the stored transitions and the write position."""
        state: dict[str, torch.Tensor | int] = {"position": self.position, "size": self.size}
        for key in OBSERVATION_KEYS:
            state[f"observation.{key}"] = self.observations[key][: self.size].cpu()
            state[f"next_observation.{key}"] = self.next_observations[key][: self.size].cpu()
        for name in ("actions", "rewards", "discounts", "terminated"):
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
        # buffers saved before the flag was stored hold discount 0 after a termination
        self.terminated[:size] = state["terminated"].to(self.device) if "terminated" in state else 0
        self.position, self.size = int(state["position"]), size

    def save(self, path: str | Path) -> None:
        """Write ``replay_buffer.pt`` (plain tensors and the sampling generator) atomically."""
        state = {"buffer": self.state_dict(), "generator": self.generator.get_state()}
        save_atomically(Path(path) / "replay_buffer.pt", state)

    @classmethod
    def load(
        cls,
        path: str | Path,
        capacity: int,
        observation_space: Any,
        device: torch.device,
        seed: int,
        action_shape: tuple[int, ...] = (),
    ) -> ReplayBuffer | None:
        """The buffer ``save`` wrote into ``path``, or None when there is none."""
        source = Path(path) / "replay_buffer.pt"
        if not source.is_file():
            return None
        state = load_weights(source, torch.device("cpu"))
        buffer = cls.for_agent(capacity, observation_space, device, seed, action_shape)
        buffer.load_state_dict(state["buffer"])
        buffer.generator.set_state(state["generator"])
        return buffer


class NStepWindow:
    """Turns vector-env steps into n-step transitions, per shopper slot.

    Keeps the last ``n`` steps; once full, emits for every slot whose oldest step is a
    real transition: ``G = sum_k gamma^k r_k`` up to the first end of the session within
    the window (m steps), the observation after it, ``discount = gamma^m`` and whether the
    session terminated there (the learner does not bootstrap then; truncation still does).
    ``n = 1`` is ordinary TD(0).
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
        """Record one vector step; returns ``(obs, action, G, next_obs, discount, terminated)``
        or None."""
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
        terminated = np.zeros(n_slots, dtype=bool)
        open_ = np.ones(n_slots, dtype=bool)  # the session is still going within the window
        last = np.zeros(n_slots, dtype=np.int64)  # index of the step whose next obs we use
        for k, step in enumerate(self.window):
            returns += open_ * discount * step["reward"]
            discount = np.where(open_, discount * self.gamma, discount)
            last = np.where(open_, k, last)
            terminated |= open_ & step["terminated"]
            open_ &= ~(step["terminated"] | step["truncated"])
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
            terminated[rows],
        )


class NStepCollector:
    """Steps a NEXT_STEP-autoreset vector env with a policy; its n-step transitions go to
    the replay buffer, each finished session's (environment) return to ``returns``.

    A slot's autoreset step is no transition and is left out; the stored action is
    ``stored_action(action, info)`` (default: the item, or a slate's first item; SlateQ keeps
    the slate and the clicked position). A continued run (``session_index = steps done``)
    meets fresh shoppers of its seed: no slot has reached that session yet (a session lasts
    >= 1 step).
    """

    def __init__(
        self,
        env: Any,
        buffer: ReplayBuffer,
        window: NStepWindow,
        seed: int,
        session_index: int = 0,
    ) -> None:
        mode = getattr(env, "autoreset_mode", None)
        if mode is not None and mode.name != "NEXT_STEP":
            raise ValueError("NStepCollector needs a vector env with NEXT_STEP autoreset")
        self.env, self.buffer, self.window = env, buffer, window
        options = {"session_index": session_index} if session_index else None
        self.observation, _ = env.reset(seed=seed, options=options)
        self.restarting = np.zeros(env.num_envs, dtype=bool)  # the slot's last step ended
        self.session_return = np.zeros(env.num_envs)
        self.returns: list[float] = []
        self.stored_action: Callable[[NDArray[np.int64], Any], NDArray[np.int64]] = first_item

    def step(
        self,
        policy: Callable[[Mapping[str, NDArray]], NDArray[np.int64]],
        learning_reward: Callable[..., NDArray[np.floating]],
    ) -> None:
        """One vector step; ``learning_reward(reward, obs, next_obs, terminated)`` is stored."""
        observation = self.observation
        action = policy(observation)
        next_observation, reward, terminated, truncated, info = self.env.step(action)
        transitions = self.window.push(
            observation,
            self.stored_action(action, info),
            learning_reward(reward, observation, next_observation, terminated),
            terminated,
            truncated,
            next_observation,
            valid=~self.restarting,
        )
        if transitions is not None:
            self.buffer.add(*transitions)
        self.session_return = np.where(self.restarting, 0.0, self.session_return + reward)
        self.restarting, self.observation = terminated | truncated, next_observation
        self.returns.extend(self.session_return[self.restarting].tolist())


def first_item(action: NDArray[np.int64], info: Any = None) -> NDArray[np.int64]:
    """The item of each step, or the first item of each slate: what DQN learns from."""
    return action if action.ndim == 1 else action[:, 0]
