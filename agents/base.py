"""The agent protocol, and the small helpers every agent shares.

An agent is any importable class with these methods; there is no base class to inherit
and no registry: Hydra's ``_target_`` names the class. Every agent is built as
``Agent(env_config=..., seed=..., device=..., **hyperparameters)`` so one config line
swaps it, and acts on *batched* observations (one action per shopper of a vector env).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recenv.sim.config import EnvConfig

Observation = Mapping[str, NDArray]
# Called by ``learn`` with the agent after each collection step; returning False stops early
# (the experiment harness uses it for evaluation, checkpoints and time budgets).
Callback = Callable[[Any], "bool | None"]


@runtime_checkable
class Logger(Protocol):
    """Where training reports scalars (TensorBoard in experiments, a dict in tests)."""

    def record(self, tag: str, value: float, step: int) -> None: ...


@runtime_checkable
class Agent(Protocol):
    """What the evaluation and the experiment harness need from a policy."""

    def act(
        self,
        observation: Observation,
        deterministic: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> NDArray[np.int64]:
        """One item id (or slate) per shopper of the batched observation."""
        ...

    def predict(
        self,
        observation: Observation,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[NDArray[np.int64], None]:
        """stable-baselines3's acting API, so its ``evaluate_policy`` accepts our agents."""
        ...

    def learn(
        self,
        env: Any,
        total_steps: int,
        logger: Logger | None = None,
        callback: Callback | None = None,
    ) -> Agent:
        """Train for ``total_steps`` shopper-steps of ``env`` (a vector env); returns self."""
        ...

    def save(self, path: str | Path) -> None: ...

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> Agent: ...


class NullLogger:
    """A logger that drops everything."""

    def record(self, tag: str, value: float, step: int) -> None:
        return None


class MemoryLogger:
    """A logger that keeps every scalar in memory: ``logger.scalars[tag] -> [(step, value)]``."""

    def __init__(self) -> None:
        self.scalars: dict[str, list[tuple[int, float]]] = {}

    def record(self, tag: str, value: float, step: int) -> None:
        self.scalars.setdefault(tag, []).append((step, float(value)))


def check_positive(owner: str, name: str, value: float, allow_zero: bool = False) -> None:
    """Raise a ValueError naming the hyperparameter when it is out of range."""
    if value < 0 or (value == 0 and not allow_zero):
        allowed = "[0, inf)" if allow_zero else "(0, inf)"
        raise ValueError(f"{owner}.{name} = {value!r} is out of range; allowed: {allowed}")


def check_probability(owner: str, name: str, value: float) -> None:
    """Raise a ValueError naming the hyperparameter unless it lies in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}.{name} = {value!r} is out of range; allowed: [0, 1]")


def reject_unknown(owner: str, unknown: Mapping[str, Any], valid: list[str]) -> None:
    """Turn misspelt keyword arguments into a ValueError that lists the valid names."""
    if unknown:
        raise ValueError(f"unknown {owner} hyperparameters {sorted(unknown)}; valid: {valid}")


def unseen_mask(observation: Observation, n_items: int) -> NDArray[np.bool_]:
    """``(n, n_items)`` True where an item is neither in the recent history nor in the cart.

    Reference agents skip what the shopper has just been shown or already carries.
    """
    n_shoppers = len(observation["session"])
    allowed = np.ones((n_shoppers, n_items + 1), dtype=bool)
    rows = np.arange(n_shoppers)[:, None]
    allowed[rows, observation["history"]] = False
    allowed[rows, observation["cart"]] = False
    return allowed[:, :n_items]


def top_items(scores: NDArray[np.floating], slate_size: int) -> NDArray[np.int64]:
    """The best item per row (``slate_size == 1``), else the best ``slate_size`` in order."""
    if slate_size == 1:
        return scores.argmax(axis=1)
    top = np.argpartition(-scores, slate_size - 1, axis=1)[:, :slate_size]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def shopper_steps_consumed(agent: Any, training_env: Any) -> dict[str, int]:
    """What an agent's learning cost in shopper-steps, measured rather than declared.

    ``training``: steps the training env simulated (its shoppers responded), plus those of
    any env the agent keeps of its own; ``selection``: steps spent scoring candidates on
    validation shoppers (``agents.selection``). Agents report their own envs through an
    optional ``shopper_steps_used`` mapping.
    """
    extra = dict(getattr(agent, "shopper_steps_used", None) or {})
    return {
        "training": int(training_env.simulator.shopper_steps) + int(extra.get("training", 0)),
        "selection": int(extra.get("selection", 0)),
    }


def write_json_atomically(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write JSON through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(payload, handle, indent=2)
        temporary = handle.name
    os.replace(temporary, path)


def read_json(path: str | Path, expected_kind: str) -> dict[str, Any]:
    """Read a JSON checkpoint and check it was written by the expected agent class."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"checkpoint {path} is not valid JSON: {error}") from error
    if not isinstance(payload, dict):
        raise ValueError(f"checkpoint {path} must hold a JSON object, not {type(payload).__name__}")
    if payload.get("kind") != expected_kind:
        raise ValueError(
            f"checkpoint {path} holds a {payload.get('kind')!r} agent, not {expected_kind!r}"
        )
    return payload


def save_agent_files(
    path: str | Path,
    kind: str,
    env_config: EnvConfig,
    hyperparameters: Mapping[str, Any],
    arrays: Mapping[str, NDArray] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Save a non-neural agent: ``agent.json`` (kind, config, hyperparameters) + ``arrays.npz``.

    Arrays are written without pickling and read back with ``allow_pickle=False``.
    """
    import dataclasses

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if arrays:
        temporary = path / "arrays.tmp.npz"
        np.savez(temporary, **arrays)
        os.replace(temporary, path / "arrays.npz")
    write_json_atomically(
        path / "agent.json",
        {
            "kind": kind,
            "env_config": dataclasses.asdict(env_config),
            "hyperparameters": dict(hyperparameters),
            **(extra or {}),
        },
    )


def load_agent_files(path: str | Path, kind: str) -> tuple[dict[str, Any], dict[str, NDArray]]:
    """Read what ``save_agent_files`` wrote: the JSON metadata and the arrays (if any)."""
    path = Path(path)
    meta = read_json(path / "agent.json", kind)
    arrays: dict[str, NDArray] = {}
    if (path / "arrays.npz").is_file():
        with np.load(path / "arrays.npz", allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    return meta, arrays
