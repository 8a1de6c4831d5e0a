"""Interaction logs collected from a behaviour policy: the training data of the supervised
and clustering recommenders (and of popularity counts).

One row per impression (a shown item at a position): the shopper's observation before
the step, the item, whether it was clicked, and whether it was bought (carted, then the
cart was checked out later in the same session).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.base import Callback, Logger, NullLogger
from recenv.sim.state import EVENT_NAMES, SESSION_FEATURES

Policy = Callable[[dict[str, NDArray]], NDArray[np.int64]]
CARTED = EVENT_NAMES.index("carted")  # the next code, "bought", implies carted too
STEP = SESSION_FEATURES.index("step")


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


def logged_carts(logs: InteractionLog) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per row: was the item carted, and is that known (``(carted, known)``).

    An impression's cart shows in the next observation of its session: the slate enters
    the history at its positions, a carted click marked "carted" (or "bought" if checked out
    at once). A bought item was carted; a click with no next step (the session or the log
    ended) is otherwise unknown.
    """
    carted, known = logs.purchased.copy(), logs.purchased.copy()
    session, position = logs.session, logs.position
    history_events = logs.observation["history_events"]
    clicked_rows = np.flatnonzero(logs.clicked)
    if len(clicked_rows) == 0:
        return carted, known
    step = logs.observation["session"][:, STEP].astype(np.int64)
    key = session * (int(step.max(initial=0)) + 2) + step  # unique per (session, step)
    first_rows = np.flatnonzero(position == 0)  # one row per logged step
    order = np.argsort(key[first_rows])
    sorted_keys, sorted_rows = key[first_rows][order], first_rows[order]
    index = np.searchsorted(sorted_keys, key[clicked_rows] + 1)
    index = np.minimum(index, len(sorted_keys) - 1)  # a clicked row's step has a first row
    clicked_position = position[clicked_rows]
    found = (sorted_keys[index] == key[clicked_rows] + 1) & (
        clicked_position < history_events.shape[1]
    )
    next_rows = sorted_rows[index]
    marked = history_events[next_rows, np.minimum(clicked_position, history_events.shape[1] - 1)]
    carted[clicked_rows] |= found & (marked >= CARTED)
    known[clicked_rows] |= found
    return carted, known


def uniform_policy(n_items: int, slate_size: int, seed: int) -> Policy:
    """The uniform-random behaviour policy (distinct items within a slate)."""
    rng = np.random.default_rng(seed)

    def act(observation: dict[str, NDArray]) -> NDArray[np.int64]:
        n = len(observation["session"])
        if slate_size == 1:
            return rng.integers(0, n_items, n)
        return np.argsort(rng.random((n, n_items)), axis=1)[:, :slate_size]

    return act


class LogCollector:
    """Runs ``policy`` on a NEXT_STEP vector env and keeps every impression it logs.

    ``collect(steps)`` can be called repeatedly: the sessions continue where they stopped,
    so offline agents can refit on a growing log (learning curves) and the final log is
    the same as one collected in a single call.
    """

    def __init__(self, env, policy: Policy, seed: int) -> None:
        self.env, self.policy = env, policy
        self.n_slots = env.num_envs
        self.observation, _ = env.reset(seed=seed)
        self.restarting = np.zeros(self.n_slots, dtype=bool)
        self.pending: list[list[int]] = [[] for _ in range(self.n_slots)]  # carted rows
        self.parts: list[dict] = []
        self.purchased: list[int] = []
        self.n_rows = 0
        self.steps = 0  # shopper-steps run (vector steps x slots)

    def collect(self, total_steps: int) -> InteractionLog:
        """Log at least ``total_steps`` more shopper-steps (whole vector steps); the whole log."""
        slots = np.arange(self.n_slots)
        for _ in range(max(1, -(-total_steps // self.n_slots))):
            action = np.asarray(self.policy(self.observation))
            slates = action.reshape(self.n_slots, -1)
            next_observation, _, terminated, truncated, info = self.env.step(action)
            live = np.flatnonzero(~self.restarting)
            slate_size = slates.shape[1]
            clicked = (slates == info["clicked_item"][:, None]) & info["click"][:, None]
            session_id = info["session_index"] * self.n_slots + slots
            self.parts.append(
                {
                    "observation": {
                        k: np.repeat(v[live], slate_size, axis=0)
                        for k, v in self.observation.items()
                    },
                    "item": slates[live].ravel(),
                    "position": np.tile(np.arange(slate_size), len(live)),
                    "clicked": clicked[live].ravel(),
                    "session": np.repeat(session_id[live], slate_size),
                }
            )
            for position, slot in enumerate(live):  # purchases: few per step
                base = self.n_rows + position * slate_size
                if info["cart"][slot]:
                    self.pending[slot].append(base + int(np.flatnonzero(clicked[slot])[0]))
                if info["purchase"][slot]:
                    self.purchased.extend(self.pending[slot])
                    self.pending[slot] = []
            self.n_rows += len(live) * slate_size
            ended = terminated | truncated
            for slot in np.flatnonzero(ended):
                self.pending[slot] = []
            self.restarting, self.observation = ended, next_observation
            self.steps += self.n_slots
        return self.log()

    def log(self) -> InteractionLog:
        bought = np.zeros(self.n_rows, dtype=bool)
        bought[self.purchased] = True
        return InteractionLog(
            observation={
                k: np.concatenate([part["observation"][k] for part in self.parts])
                for k in self.parts[0]["observation"]
            },
            item=np.concatenate([part["item"] for part in self.parts]),
            position=np.concatenate([part["position"] for part in self.parts]),
            clicked=np.concatenate([part["clicked"] for part in self.parts]),
            purchased=bought,
            session=np.concatenate([part["session"] for part in self.parts]),
        )


def collect_logs(env, total_steps: int, policy: Policy, seed: int) -> InteractionLog:
    """Run ``policy`` on a NEXT_STEP vector env for ``total_steps`` shopper-steps and log it."""
    return LogCollector(env, policy, seed).collect(total_steps)


def random_log_collector(env, env_config, seed: int) -> LogCollector:
    """A collector of uniform-random recommendations: the offline agents' training data."""
    n_items, slate_size = env_config.catalog.n_items, env_config.slate_size
    return LogCollector(env, uniform_policy(n_items, slate_size, seed), seed)


def collect_random_logs(env, env_config, total_steps: int, seed: int) -> InteractionLog:
    """Logs of uniform-random recommendations: the training data of the offline agents."""
    return random_log_collector(env, env_config, seed).collect(total_steps)


def learn_from_random_logs(
    agent: Any,
    env: Any,
    total_steps: int,
    logger: Logger | None = None,
    callback: Callback | None = None,
) -> Any:
    """The offline agents' ``learn`` (their class sets ``learn = learn_from_random_logs``):
    log random recommendations, ``agent.fit(log, logger)`` on them, then record each entry
    of ``agent.fit_summary(log)`` as ``train/<name>``.

    With ``agent.config.refit_interval > 0`` the log grows by that many shopper-steps at a
    time and the agent refits on everything logged so far before ``callback`` (so a learning
    curve has a point per refit); the last fit always sees the whole ``total_steps`` log.
    Sets ``agent.steps_done`` to the shopper-steps logged.
    """
    logger = logger or NullLogger()
    collector = random_log_collector(env, agent.env_config, agent.seed)
    refit_interval = agent.config.refit_interval
    chunk = refit_interval if refit_interval > 0 else total_steps
    log, target = None, 0
    while collector.steps < total_steps or log is None:
        target = min(target + chunk, total_steps)  # refit points at multiples of the interval
        log = collector.collect(target - collector.steps)
        agent.fit(log, logger)
        agent.steps_done = collector.steps
        if callback is not None and callback(agent) is False:
            break
    for name, value in agent.fit_summary(log).items():
        logger.record(f"train/{name}", value, agent.steps_done)
    return agent
