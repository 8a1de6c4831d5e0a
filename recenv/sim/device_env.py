"""``ShoppingVectorEnv(..., device="cuda")``: the batched env with simulation on the GPU.

The contract (README, "On a GPU"): ``step`` takes actions as a torch CUDA tensor, any
``__cuda_array_interface__`` array or a numpy array of item ids (``(n,)`` or ``(n, K)``);
observations (``observation: ids``), rewards, ``terminated``, ``truncated`` and the info
fields ``click``, ``clicked_item``, ``cart``, ``purchase``, ``revenue``, ``items_bought``,
``session_index`` come back as torch tensors that share the env's device buffers: valid
until the next ``step`` (clone what you keep). Autoreset (``NEXT_STEP`` or ``SAME_STEP``,
whose ``info["final_obs"]`` is a dict of cloned tensors with every row, ``_final_obs`` the
rows that ended) happens on the device with no host round trip; action ids are checked
on the device too (one flag read back per step; ``check_actions=False`` skips it). Not on
the device yet: the compact ``features`` observation, score actions, masks in ``info``,
hidden state and rendering, which raise. The CPU env's API is unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode

from recenv.sim import cuda as recenv_cuda
from recenv.sim.config import out_of_range
from recenv.sim.env import check_reset
from recenv.sim.state import ShopperState

INFO_FIELDS = {
    "click": "clicked",
    "clicked_item": "clicked_item",
    "cart": "carted",
    "purchase": "purchased",
    "revenue": "revenue",
    "items_bought": "items_bought",
}


def check_device_config(env: Any) -> None:
    """What the device path does not do yet fails here, naming the field."""
    interface = env.config.interface
    unsupported = {
        "interface.observation": (interface.observation, "ids"),
        "interface.action": (interface.action, "items"),
        "interface.mask_in_info": (interface.mask_in_info, False),
        "expose_hidden_state": (env.config.expose_hidden_state, False),
        "render_mode": (env.render_mode, None),
    }
    for field, (value, allowed) in unsupported.items():
        if value != allowed:
            raise out_of_range(field, value, f"{allowed!r} with device='cuda' (not on the GPU yet)")


class DeviceStepper:
    """The device half of a ``ShoppingVectorEnv``: reset and step on ``CudaSimulator``."""

    def __init__(self, env: Any, check_actions: bool = True) -> None:
        import torch

        self.torch, self.env, self.check_actions = torch, env, check_actions
        check_device_config(env)
        self.simulator = recenv_cuda.CudaSimulator.from_host(env.simulator)
        self.n_items = env.config.catalog.n_items
        self.slate_size = env.config.slate_size
        self.needs_reset = self._tensor(np.zeros(env.num_envs, dtype=np.bool_))

    def _tensor(self, array: Any) -> Any:
        return recenv_cuda.as_torch(recenv_cuda.to_device(array))

    def observation(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {key: recenv_cuda.as_torch(value) for key, value in raw.items()}

    def reset(self, seed: int | None, options: dict[str, Any] | None):
        env = self.env
        seed, options = check_reset(seed, options, ("session_index",))
        if seed is not None or not env._seeded:
            if seed is not None:
                env._np_random, env._np_random_seed = seeding.np_random(seed)
            stream_seed = seed if seed is not None else int(env.np_random.integers(2**63))
            self.simulator.seed(stream_seed, env.split)
            env._seeded = True
            if "session_index" in options:
                sessions = np.full(env.num_envs, options["session_index"], dtype=np.uint64)
                self.simulator.upload_sessions(sessions)
            self.simulator.start_sessions(np.arange(env.num_envs))
            observation = self.simulator.observe()
        else:  # every slot moves on to its next session
            if "session_index" in options:
                raise ValueError("options['session_index'] on the device needs a seed")
            observation = self.simulator.restart_and_observe(np.ones(env.num_envs, dtype=np.bool_))
        self.needs_reset.zero_()
        return self.observation(observation), self._info(None)

    def slates(self, actions: Any) -> Any:
        torch = self.torch
        slates = actions if torch.is_tensor(actions) else torch.as_tensor(np.asarray(actions))
        slates = slates.to(device=self.needs_reset.device, dtype=torch.int64)
        if slates.ndim == 1:
            slates = slates[:, None]
        if tuple(slates.shape) != (self.env.num_envs, self.slate_size):
            raise ValueError(
                f"actions of shape {tuple(slates.shape)}; allowed: ({self.env.num_envs},) or "
                f"({self.env.num_envs}, {self.slate_size}) item ids"
            )
        if self.check_actions and bool(((slates < 0) | (slates >= self.n_items)).any()):
            bad = slates[(slates < 0) | (slates >= self.n_items)][0].item()
            raise out_of_range("action item id", bad, f"0 <= id < {self.n_items}")
        if self.slate_size == 1:
            return slates.contiguous(), None
        if self.env.config.interface.slate_repeats == "strict":
            _, repeats = replace_repeats(slates, self.n_items)
            if self.check_actions and bool((repeats > 0).any()):
                raise ValueError("a slate repeats an item (interface.slate_repeats = 'strict')")
            return slates.contiguous(), repeats
        return replace_repeats(slates, self.n_items)

    def step(self, actions: Any):
        env = self.env
        slates, repeats = self.slates(actions)
        if env.autoreset_mode == AutoresetMode.NEXT_STEP:
            outcome, raw = self.simulator.step_and_observe(slates, self.needs_reset)
            tensors = self._outcome(outcome)
            if repeats is not None:
                tensors["slate_repeats"] = repeats.masked_fill(self.needs_reset, 0)
            self.needs_reset = tensors["terminated"] | tensors["truncated"]
            return self._result(raw, tensors, {})
        outcome, raw = self.simulator.step_and_observe(slates)
        tensors = {name: value.clone() for name, value in self._outcome(outcome).items()}
        if repeats is not None:
            tensors["slate_repeats"] = repeats
        ended = tensors["terminated"] | tensors["truncated"]
        final_obs = {key: value.clone() for key, value in self.observation(raw).items()}
        final = {"final_obs": final_obs, "_final_obs": ended}
        raw = self.simulator.restart_and_observe(ended)
        return self._result(raw, tensors, final)

    def _outcome(self, outcome: Any) -> dict[str, Any]:
        pairs = zip(outcome._fields, outcome, strict=True)
        return {name: recenv_cuda.as_torch(value) for name, value in pairs}

    def _result(self, raw: dict[str, Any], tensors: dict[str, Any], final: dict[str, Any]):
        info = self._info(tensors)
        info.update(final)
        return (
            self.observation(raw),
            tensors["reward"],
            tensors["terminated"],
            tensors["truncated"],
            info,
        )

    def _info(self, tensors: dict[str, Any] | None) -> dict[str, Any]:
        session = recenv_cuda.as_torch(self.simulator.state[_SESSION]).to(self.torch.int64)
        info: dict[str, Any] = {"session_index": session}
        if tensors is not None:
            info.update({key: tensors[name] for key, name in INFO_FIELDS.items()})
            if "slate_repeats" in tensors:
                info["slate_repeats"] = tensors["slate_repeats"]
        return info


def replace_repeats(slates: Any, n_items: int) -> tuple[Any, Any]:
    """``recenv.sim.spaces.replace_repeats`` for a batch of slates on the device: scanning
    positions left to right, a repeated item becomes the next id (mod ``n_items``) that is
    nowhere in the slate yet. The walk passes at most the 2K ids of the slate and its
    replacements, so 2K masked increments replace the CPU rule's while loop."""
    fixed = slates.clone()
    width = slates.shape[1]
    replaced = slates.new_zeros(slates.shape[0])
    for position in range(1, width):
        item = slates[:, position]
        repeat = (fixed[:, :position] == item[:, None]).any(dim=1)
        candidate = (item + 1) % n_items
        for _ in range(2 * width):
            taken = (slates == candidate[:, None]).any(dim=1) | (
                fixed[:, :position] == candidate[:, None]
            ).any(dim=1)
            candidate = (candidate + taken.to(candidate.dtype)) % n_items
        fixed[:, position] = candidate.where(repeat, item)
        replaced += repeat.to(replaced.dtype)
    return fixed.contiguous(), replaced


_SESSION = ShopperState._fields.index("session")
