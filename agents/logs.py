"""Interaction logs collected from a behaviour policy: the training data of the supervised
and clustering recommenders (and of popularity counts).

One row per impression (a shown item at a position): the shopper's observation before
the step, the item, whether it was clicked, and whether it was bought (carted, then the
cart was checked out later in the same session).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Policy = Callable[[dict[str, NDArray]], NDArray[np.int64]]


@dataclass
class InteractionLog:
    """Impression rows; ``observation[key][i]`` is what the shopper of row i showed before."""

    observation: dict[str, NDArray]
    item: NDArray[np.int64]
    position: NDArray[np.int64]
    clicked: NDArray[np.bool_]
    purchased: NDArray[np.bool_]
    session: NDArray[np.int64]  # a unique id per (slot, session): for splits by shopper

    def __len__(self) -> int:
        return len(self.item)

    def subset(self, rows: NDArray) -> InteractionLog:
        return InteractionLog(
            {key: value[rows] for key, value in self.observation.items()},
            self.item[rows],
            self.position[rows],
            self.clicked[rows],
            self.purchased[rows],
            self.session[rows],
        )

    def split_by_session(self, validation_share: float, seed: int) -> tuple[InteractionLog, ...]:
        """Train / validation logs with no session on both sides (no leakage between them)."""
        sessions = np.unique(self.session)
        rng = np.random.default_rng(seed)
        held_out = rng.choice(sessions, round(validation_share * len(sessions)), replace=False)
        validation = np.isin(self.session, held_out)
        return self.subset(np.flatnonzero(~validation)), self.subset(np.flatnonzero(validation))


def uniform_policy(n_items: int, slate_size: int, seed: int) -> Policy:
    """The uniform-random behaviour policy (distinct items within a slate)."""
    rng = np.random.default_rng(seed)

    def act(observation: dict[str, NDArray]) -> NDArray[np.int64]:
        n = len(observation["session"])
        if slate_size == 1:
            return rng.integers(0, n_items, n)
        return np.argsort(rng.random((n, n_items)), axis=1)[:, :slate_size]

    return act


def collect_logs(env, total_steps: int, policy: Policy, seed: int) -> InteractionLog:
    """Run ``policy`` on a NEXT_STEP vector env for ``total_steps`` shopper-steps and log it."""
    observation, _ = env.reset(seed=seed)
    n_slots = env.num_envs
    slots = np.arange(n_slots)
    restarting = np.zeros(n_slots, dtype=bool)
    pending: list[list[int]] = [[] for _ in range(n_slots)]  # carted impression rows per slot
    rows: dict[str, list] = {
        "observation": [],
        "item": [],
        "position": [],
        "clicked": [],
        "session": [],
    }
    purchased: list[int] = []
    n_rows = 0
    for _ in range(max(1, total_steps // n_slots)):
        action = np.asarray(policy(observation))
        slates = action.reshape(n_slots, -1)
        next_observation, _, terminated, truncated, info = env.step(action)
        live = np.flatnonzero(~restarting)
        slate_size = slates.shape[1]
        clicked = (slates == info["clicked_item"][:, None]) & info["click"][:, None]
        rows["observation"].append(
            {k: np.repeat(v[live], slate_size, axis=0) for k, v in observation.items()}
        )
        rows["item"].append(slates[live].ravel())
        rows["position"].append(np.tile(np.arange(slate_size), len(live)))
        rows["clicked"].append(clicked[live].ravel())
        session_id = info["session_index"] * n_slots + slots
        rows["session"].append(np.repeat(session_id[live], slate_size))
        for position, slot in enumerate(live):  # purchases: few per step
            base = n_rows + position * slate_size
            if info["cart"][slot]:
                pending[slot].append(base + int(np.flatnonzero(clicked[slot])[0]))
            if info["purchase"][slot]:
                purchased.extend(pending[slot])
                pending[slot] = []
        n_rows += len(live) * slate_size
        ended = terminated | truncated
        for slot in np.flatnonzero(ended):
            pending[slot] = []
        restarting, observation = ended, next_observation
    bought = np.zeros(n_rows, dtype=bool)
    bought[purchased] = True
    return InteractionLog(
        observation={
            k: np.concatenate([part[k] for part in rows["observation"]])
            for k in rows["observation"][0]
        },
        item=np.concatenate(rows["item"]),
        position=np.concatenate(rows["position"]),
        clicked=np.concatenate(rows["clicked"]),
        purchased=bought,
        session=np.concatenate(rows["session"]),
    )


def collect_random_logs(env, env_config, total_steps: int, seed: int) -> InteractionLog:
    """Logs of uniform-random recommendations: the training data of the offline agents."""
    n_items, slate_size = env_config.catalog.n_items, env_config.slate_size
    return collect_logs(env, total_steps, uniform_policy(n_items, slate_size, seed), seed)
