"""Agents' hyperparameters: one frozen dataclass per agent, checked like the env config.

Each agent declares ``XConfig(Hyperparameters)`` at the top of its file: the fields and their
defaults are the single source of truth (Hydra's ConfigStore holds a writable twin of each,
``experiments.schema``, so ``conf/agent/*.yaml`` state only what differs), and the ranges
are checked by the env config's own mixin (``recenv.sim.config.Validated``). A bad value
raises a ValueError naming ``<agent>.<field>``, the value and the allowed range; an unknown
name raises one listing the valid names.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple, TypeVar

from recenv.sim.config import EnvConfig, Validated
from recenv.sim.env import resolve_config

Settings = TypeVar("Settings", bound="Hyperparameters")


class Range(NamedTuple):
    """Allowed values ``[low, high]`` of a hyperparameter, as ``recenv.sim.config.Bound``.

    Unlike the env's bounds, the lower end may be open (step sizes and rates that must be
    positive) and ``None`` passes, for fields where it means "the env's own value".
    """

    low: float | None = None
    high: float | None = None
    open_low: bool = False

    def describe(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf)" if self.high is None else f"{self.high:g}]"
        return f"{'(' if self.open_low else '['}{low}, {high}"

    def contains(self, value: Any) -> bool:
        if value is None:
            return True
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        return above and (self.high is None or value <= self.high)


POSITIVE = Range(0, None, open_low=True)
NON_NEGATIVE = Range(0, None)
AT_LEAST_ONE = Range(1, None)
SHARE = Range(0, 1)
POSITIVE_SHARE = Range(0, 1, open_low=True)


def ranges(groups: Mapping[Range, str]) -> dict[str, Range]:
    """``{range: "field field ..."}`` -> ``{field: range}``: ``bounds`` in a few lines."""
    return {name: allowed for allowed, names in groups.items() for name in names.split()}


class Hyperparameters(Validated):
    """Mixin of the agents' hyperparameter dataclasses; ``agent`` names them in errors."""

    agent: ClassVar[str] = "agent"

    def __post_init__(self) -> None:
        # Validated names errors after the class (``DQNConfig.gamma``); agents' errors name
        # the agent (``dqn.gamma``), as their checkpoints and config group do.
        try:
            super().__post_init__()
        except ValueError as error:
            message = str(error).removeprefix(f"{type(self).__name__}.")
            raise ValueError(f"{self.agent}.{message}") from None

    @classmethod
    def from_mapping(cls: type[Settings], values: Mapping[str, Any]) -> Settings:
        """Build from keyword arguments, turning misspelt names into a clear ValueError."""
        valid = sorted(spec.name for spec in dataclasses.fields(cls))  # type: ignore[arg-type]
        if unknown := sorted(set(values) - set(valid)):
            raise ValueError(f"unknown {cls.agent} hyperparameters {unknown}; valid: {valid}")
        return cls(**values)


def agent_settings(
    env_config: EnvConfig | Mapping[str, Any] | None,
    schema: type[Settings],
    hyperparameters: Mapping[str, Any],
) -> tuple[EnvConfig, Settings]:
    """What every agent's constructor starts with: the env config and its checked settings."""
    return resolve_config(env_config, None, {}), schema.from_mapping(hyperparameters)
