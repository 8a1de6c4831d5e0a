"""Oracle references: agents that read the shopper's hidden state from ``info``.

They bracket what learning agents can reach. Both score every item by its exact expected
one-step outcome (``recenv.sim.expectations``):

* ``MyopicOracle`` maximises the expected immediate reward;
* ``LongTermOracle`` adds ``patience_value`` times the expected change in patience, a
  one-line non-myopic heuristic: a patient shopper stays longer and buys more later.

They need an env built with ``expose_hidden_state=True`` and are given the env config,
from which they rebuild the same world (catalog and population are fixed by the config).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from agents import hyperparameters as hp
from agents.base import (
    EnvSource,
    Info,
    Observation,
    learn_nothing,
    load_agent,
    predict_needs_info,
    save_agent_files,
    top_items,
)
from recenv.sim.config import EnvConfig
from recenv.sim.core import Simulator
from recenv.sim.expectations import expected_outcomes


@dataclass(frozen=True)
class LongTermOracleConfig(hp.Hyperparameters):
    """The heuristic's one knob."""

    patience_value: float = 3.0  # reward worth one unit of expected patience change

    agent: ClassVar[str] = "long_term_oracle"
    bounds: ClassVar[dict[str, hp.Range]] = {"patience_value": hp.NON_NEGATIVE}


@dataclass(frozen=True)
class MyopicOracleConfig(hp.Hyperparameters):
    """No hyperparameters: patience is worth nothing to the myopic oracle."""

    agent: ClassVar[str] = "myopic_oracle"


class LongTermOracle:
    """Greedy on ``E[reward] + patience_value * E[patience change]`` under the hidden state."""

    role = "oracle"  # reads the hidden state: a reference, not a learner

    needs_info = True
    schema: type[hp.Hyperparameters] = LongTermOracleConfig

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, self.schema, settings)
        self.kind = self.config.agent
        self.patience_value = float(getattr(self.config, "patience_value", 0.0))
        self._world_model = Simulator(self.env_config, n_shoppers=1)

    def act(
        self, observation: Observation, deterministic: bool = True, info: Info | None = None
    ) -> NDArray[np.int64]:
        """One item (or slate) per shopper: the top scores under the hidden state."""
        if info is None or "hidden" not in info:
            raise ValueError(
                f"{type(self).__name__} reads the hidden state from info['hidden']: "
                "build the env with expose_hidden_state=True and pass info to act()"
            )
        outcome = expected_outcomes(self._world_model, info["hidden"], observation)
        scores = outcome.reward + self.patience_value * outcome.patience_change
        return top_items(scores, self.env_config.slate_size)

    predict = predict_needs_info
    learn = learn_nothing  # the oracle knows the model

    def save(self, path: str | Path) -> None:
        """A directory with ``agent.json``: kind, env config and hyperparameters."""
        save_agent_files(path, self.kind, self.env_config, asdict(self.config))

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> LongTermOracle:
        return load_agent(cls, path, cls.schema.agent, env_config)[0]


class MyopicOracle(LongTermOracle):
    """Greedy on the expected immediate reward alone: the myopic bracket."""

    schema = MyopicOracleConfig
