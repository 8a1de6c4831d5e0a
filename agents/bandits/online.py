"""What the three bandits share: the online loop, the position model, slates, checkpoints.

``learn_online`` steps a NEXT_STEP-autoreset vector env with the agent's exploring policy
and hands every shown slate and its clicks to ``agent.update``: one Bernoulli trial per
impression. A batch of shoppers is one update (delayed feedback of one vector step).

Positions. Under a position-based click model, ``P(click | item i at k) = kappa_k theta_i``
with the examination ``kappa_0 = 1``; counting a lower-position impression as a whole trial
would understate the items the agent shows low. With ``position_debias`` the loop shuffles
the order of each training slate (the item *set* is the agent's choice, the positions are
then independent of the items), so the pooled click rate per position estimates
``kappa_k`` (``PositionModel``), and the agents weigh an impression at position k as
``kappa_k`` trials (counts) or its click as ``1 / kappa_k`` (regression). Evaluation
(``deterministic``) shows the best item at the top. OBD's ``obd`` world has no position
effect (the fitted position spread is 0), so there the estimate stays near 1.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.base import (
    Callback,
    Logger,
    ProgressReport,
    load_agent,
    save_agent_files,
    top_items,
)
from recenv.sim.config import EnvConfig

LOG_INTERVAL = 10_000  # shopper-steps between training reports
PRIOR_CLICKS = 10.0  # pseudo-clicks pulling each position's click rate to the pooled one
TIE_BREAK = 1e-12  # jitter that only breaks exact ties (all-equal scores before any data)


class PositionModel:
    """Clicks and impressions per slate position, pooled over items and contexts."""

    def __init__(self, slate_size: int, enabled: bool) -> None:
        self.enabled = enabled
        self.clicks = np.zeros(slate_size)
        self.impressions = np.zeros(slate_size)

    def update(self, clicked: NDArray[np.bool_]) -> None:
        """Add one step's ``(n, slate_size)`` clicks."""
        self.clicks += clicked.sum(axis=0)
        self.impressions += len(clicked)

    def examination(self) -> NDArray[np.float64]:
        """``kappa_k``: each position's smoothed click rate over position 0's (ones if off).

        ``rate_k = (c_k + P) / (n_k + P / pooled)`` with ``pooled = (C + 1) / (N + 2)``, so
        a position with no data is assumed to click at the pooled rate."""
        if not self.enabled:
            return np.ones_like(self.clicks)
        pooled = (self.clicks.sum() + 1.0) / (self.impressions.sum() + 2.0)
        rate = (self.clicks + PRIOR_CLICKS) / (self.impressions + PRIOR_CLICKS / pooled)
        return rate / rate[0]

    def ctr(self) -> float:
        """Clicks per impression over all training so far."""
        return float(self.clicks.sum() / max(self.impressions.sum(), 1.0))


def ranked_slates(
    scores: NDArray[np.floating], slate_size: int, rng: np.random.Generator | None = None
) -> NDArray[np.int64]:
    """``(n, slate_size)`` the top-scored items, best first; ``rng`` breaks exact ties."""
    if rng is not None:
        scores = scores + TIE_BREAK * rng.random(scores.shape)
    return top_items(scores, slate_size).reshape(len(scores), slate_size)


def as_action(slates: NDArray[np.int64]) -> NDArray[np.int64]:
    """The env's action: ``(n,)`` item ids for one-item slates, else the ``(n, K)`` slates."""
    return slates[:, 0] if slates.shape[1] == 1 else slates


def learn_online(
    agent: Any,
    env: Any,
    total_steps: int,
    logger: Logger | None = None,
    callback: Callback | None = None,
) -> Any:
    """The bandits' ``learn``: ``total_steps`` more shopper-steps of exploring and updating.

    ``agent.act(obs)`` explores, the slate order is shuffled under ``position_debias``, and
    ``agent.update(obs, slates, clicked)`` sees the shoppers that really stepped (a slot's
    autoreset step is no interaction). A continued run meets fresh shoppers of its seed.
    """
    mode = getattr(env, "autoreset_mode", None)
    if mode is not None and mode.name != "NEXT_STEP":
        raise ValueError(f"{type(agent).__name__}.learn needs a NEXT_STEP-autoreset vector env")
    report = ProgressReport(logger, LOG_INTERVAL, agent.steps_done)
    options = {"session_index": agent.steps_done} if agent.steps_done else None
    observation, _ = env.reset(seed=agent.seed, options=options)
    n_slots, end = env.num_envs, agent.steps_done + total_steps
    restarting, session_return = np.zeros(n_slots, dtype=bool), np.zeros(n_slots)
    while agent.steps_done < end:
        slates = np.asarray(agent.act(observation)).reshape(n_slots, -1)
        if agent.positions.enabled:
            order = np.argsort(agent.rng.random(slates.shape), axis=1)
            slates = np.take_along_axis(slates, order, axis=1)
        next_observation, reward, terminated, truncated, info = env.step(as_action(slates))
        clicked = (slates == info["clicked_item"][:, None]) & info["click"][:, None]
        live = np.flatnonzero(~restarting)
        if len(live):  # all slots restart together when sessions share a fixed length
            live_observation = {key: value[live] for key, value in observation.items()}
            agent.update(live_observation, slates[live], clicked[live].astype(bool))
        session_return = np.where(restarting, 0.0, session_return + reward)
        restarting, observation = terminated | truncated, next_observation
        report.returns.extend(session_return[restarting].tolist())
        agent.steps_done += n_slots
        report(agent.steps_done, agent.steps_done >= end, {"train/ctr": agent.positions.ctr()})
        if callback is not None and callback(agent) is False:
            break
    return agent


def save_bandit(agent: Any, path: str | Path, kind: str) -> None:
    """A folder: ``agent.json`` (config, seed, steps, generator state) and ``arrays.npz``
    (the agent's ``state_arrays()`` and the position counts)."""
    positions = agent.positions
    save_agent_files(
        path,
        kind,
        agent.env_config,
        asdict(agent.config),
        arrays={
            **agent.state_arrays(),
            "position_clicks": positions.clicks,
            "position_impressions": positions.impressions,
        },
        extra={
            "seed": agent.seed,
            "steps_done": agent.steps_done,
            "rng_state": agent.rng.bit_generator.state,
        },
    )


def load_bandit(cls: type, path: str | Path, kind: str, env_config: EnvConfig | None) -> Any:
    """Rebuild what ``save_bandit`` wrote; each array must have the shape this env config
    gives it (``agent.restore(arrays)`` then takes them)."""
    agent, meta, arrays = load_agent(cls, path, kind, env_config)
    expected = {**agent.state_arrays(), "position_clicks": agent.positions.clicks}
    expected["position_impressions"] = agent.positions.impressions
    for name, template in expected.items():
        if name not in arrays:
            raise ValueError(f"checkpoint {path}: arrays.npz lacks {name!r}")
        if arrays[name].shape != template.shape:
            raise ValueError(
                f"checkpoint {path}: {name!r} has shape {arrays[name].shape}, "
                f"expected {template.shape} for this env config"
            )
    agent.positions.clicks = arrays["position_clicks"].astype(float)
    agent.positions.impressions = arrays["position_impressions"].astype(float)
    agent.steps_done = int(meta.get("steps_done", 0))
    agent.rng.bit_generator.state = meta["rng_state"]
    agent.restore({name: arrays[name].astype(float) for name in agent.state_arrays()})
    return agent
