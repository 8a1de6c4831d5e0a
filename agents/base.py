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
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recenv.sim.config import EnvConfig, FunnelConfig, config_from_dict
from recenv.sim.funnel import weighted_reward

Observation = Mapping[str, NDArray]
Info = Mapping[str, Any]  # the env's info dict (oracles read ``info["hidden"]``)
# What an agent is built for: an EnvConfig, a mapping of its fields, or None (the default)
EnvSource = EnvConfig | Mapping[str, Any] | None
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
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
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


class ProgressReport:
    """What a learner logs every ``interval`` shopper-steps: the scalars it passes, its rate
    (``time/steps_per_s``) and the means of ``losses`` and of the finished sessions'
    ``returns`` gathered since the last report (``train/loss``, ``train/episode_return``)."""

    def __init__(self, logger: Logger | None, interval: int, steps: int) -> None:
        self.logger, self.interval = logger or NullLogger(), interval
        self.next_step = steps + interval
        self.start_steps, self.start_time = steps, time.perf_counter()
        self.losses: list[float] = []
        self.returns: list[float] = []

    def __call__(self, steps: int, final: bool, scalars: Mapping[str, float]) -> None:
        """Report at ``steps`` when the interval is due or training ends (``final``)."""
        if steps < self.next_step and not final:
            return
        self.next_step += self.interval
        rate = (steps - self.start_steps) / (time.perf_counter() - self.start_time)
        for tag, value in {**scalars, "time/steps_per_s": rate}.items():
            self.logger.record(tag, value, steps)
        for tag, values in (("train/loss", self.losses), ("train/episode_return", self.returns)):
            if values:
                self.logger.record(tag, float(np.mean(values)), steps)
            values.clear()


def predict_with_act(
    agent: Any,
    observation: Observation,
    state: Any = None,
    episode_start: Any = None,
    deterministic: bool = False,
) -> tuple[NDArray[np.int64], None]:
    """stable-baselines3's ``predict`` over the agent's ``act``; an agent class takes it as
    ``predict = predict_with_act``."""
    return agent.act(observation, deterministic=deterministic), None


def predict_needs_info(agent: Any, observation: Observation, *args: Any, **kwargs: Any) -> None:
    """``predict`` of agents that read the hidden state: refused, since it cannot pass ``info``."""
    raise ValueError(f"{type(agent).__name__} needs info['hidden']; call act(obs, info=info)")


def learn_nothing(
    agent: Any,
    env: Any = None,
    total_steps: int = 0,
    logger: Logger | None = None,
    callback: Callback | None = None,
) -> Any:
    """``learn`` of references and fixed rules: nothing to fit; the callback still runs once."""
    if callback is not None:
        callback(agent)
    return agent


class RewardWeights(NamedTuple):
    """Reward weights as the funnel's formula reads them (``recenv.sim.funnel``)."""

    reward_click: float
    reward_cart: float
    reward_purchase: float
    purchase_is_revenue: bool

    @classmethod
    def of(
        cls, funnel: FunnelConfig, click: float | None = None, purchase: float | None = None
    ) -> RewardWeights:
        """The env's weights; ``click`` or ``purchase`` replace its click or purchase weight."""
        return cls(
            funnel.reward_click if click is None else click,
            funnel.reward_cart,
            funnel.reward_purchase if purchase is None else purchase,
            funnel.purchase_reward == "revenue",
        )


def expected_reward(
    weights: RewardWeights, click: Any, cart: Any, purchase: Any, price: Any
) -> Any:
    """Immediate reward of an impression from its click, cart and purchase probabilities
    (or 0/1 events) and the item's price, by the simulator's own formula
    (``funnel.weighted_reward``): floats, numpy arrays or torch tensors."""
    return weighted_reward(click, cart, purchase * price, purchase, weights)


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


def load_agent(
    cls: type, path: str | Path, kind: str, env_config: EnvConfig | None = None, **arguments: Any
) -> tuple[Any, dict[str, Any], dict[str, NDArray]]:
    """Rebuild an agent saved by ``save_agent_files``, with its metadata and arrays.

    ``cls(env_config or the saved one, seed=..., **arguments, **saved hyperparameters)``:
    the constructor checks the hyperparameters again, so a tampered file fails clearly.
    """
    meta, arrays = load_agent_files(path, kind)
    config = env_config or config_from_dict(meta["env_config"])
    agent = cls(config, seed=meta.get("seed", 0), **arguments, **meta["hyperparameters"])
    return agent, meta, arrays
