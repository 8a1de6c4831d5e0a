"""The paired evaluation with the env on the GPU (``evaluate(..., device="cuda")``): the same
shoppers and the same per-session records as ``agents.evaluation.run_sessions``, stepped on
the device by an agent that acts on device tensors (DQN); read back once, at the end."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from agents.scenario_records import ScenarioRecorder, records_scenarios
from recenv.sim import cuda as recenv_cuda
from recenv.sim.config import EnvConfig
from recenv.sim.env import episode_horizon
from recenv.sim.state import ShopperState
from recenv.sim.vector import ShoppingVectorEnv

RECORDED = ("return", "steps", "clicks", "new_clicks", "carts", "revenue", "purchases")


def run_sessions_on_device(
    agent: Any, config: EnvConfig, n_shoppers: int, seed: int, split: str = "evaluation"
) -> dict[str, NDArray]:
    """``run_sessions`` on the device: one session per slot, acting deterministically."""
    env = ShoppingVectorEnv(n_shoppers, config=config, split=split, device="cuda")
    start = {"session_index": config.evaluation_session} if config.evaluation_session else None
    observation, info = env.reset(seed=seed, options=start)
    device = observation["query"].device
    released_late = env.item_features["release_session"] > 0
    is_new = torch.as_tensor(np.append(released_late, False), device=device)  # -1: no click
    totals = {
        name: torch.zeros(n_shoppers, dtype=torch.float64, device=device)
        for name in (*RECORDED, "terminated")
    }
    active = torch.ones(n_shoppers, dtype=torch.bool, device=device)
    shown, alive = [], []
    recorder = None
    if records_scenarios(config):
        recorder = ScenarioRecorder(config, env.simulator.catalog, n_shoppers, device)
    for _ in range(episode_horizon(config)):
        action = agent.act(observation, deterministic=True)
        if recorder is not None:
            recorder.before_step(device_state(env, "cart_items"))
        observation, reward, terminated, truncated, info = env.step(action)
        if recorder is not None:
            recorder.after_step(info["clicked_item"], info["cart"], info["purchase"], active)
        slates = recorded_slate(env, config.slate_size)
        shown.append(torch.where(active[:, None], slates, torch.full_like(slates, -1)))
        for name, value in (
            ("return", reward),
            ("steps", torch.ones_like(reward)),
            ("clicks", info["click"]),
            ("new_clicks", is_new[info["clicked_item"]]),
            ("carts", info["cart"]),
            ("revenue", info["revenue"]),
            ("purchases", info["purchase"]),
            ("terminated", terminated),
        ):
            totals[name] += value.to(torch.float64) * active
        alive.append(active.any())
        active = active & ~(terminated | truncated)
    steps_taken = int(torch.stack(alive).sum())  # the one read back: how many steps ran
    record = {name: value.cpu().numpy() for name, value in totals.items()}
    width = config.slate_size
    record["items"] = torch.cat(shown, dim=1)[:, : steps_taken * width].cpu().numpy()
    if recorder is not None:
        record.update(recorder.records())
    return record


def device_state(env: ShoppingVectorEnv, name: str) -> torch.Tensor:
    """The device state's array ``name`` as an int64 torch tensor (a copy: ids are int32)."""
    state = env._on_device.simulator.state
    return recenv_cuda.as_torch(state[ShopperState._fields.index(name)]).long()


def recorded_slate(env: ShoppingVectorEnv, slate_size: int) -> torch.Tensor:
    """``recenv.sim.masks.recorded_slate`` on the device state; -1 beyond a short history."""
    items, head = device_state(env, "history_items"), device_state(env, "history_head")
    length = items.shape[1]
    width = min(slate_size, length)
    offsets = torch.arange(width, device=items.device)
    slots = (head[:, None] - 1 - offsets[None, :]) % length
    slate = torch.gather(items, 1, slots)
    if width < slate_size:
        padding = torch.full((slate.shape[0], slate_size - width), -1, device=slate.device)
        slate = torch.cat([slate, padding], dim=1)
    return slate
