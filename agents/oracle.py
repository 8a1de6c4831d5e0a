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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.base import Callback, Logger, check_positive, load_agent_files, save_agent_files
from recenv.sim.config import EnvConfig, config_from_dict
from recenv.sim.core import Simulator
from recenv.sim.env import resolve_config
from recenv.sim.expectations import expected_outcomes


class LongTermOracle:
    """Greedy on ``E[reward] + patience_value * E[patience change]`` under the hidden state."""

    role = "oracle"  # reads the hidden state: a reference, not a learner

    needs_info = True
    kind = "long_term_oracle"

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        patience_value: float = 3.0,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        check_positive("oracle", "patience_value", patience_value, allow_zero=True)
        self.env_config = resolve_config(env_config, None, {})
        self.patience_value = float(patience_value)
        self._world_model = Simulator(self.env_config, n_shoppers=1)

    def act(
        self,
        observation: Mapping[str, NDArray],
        deterministic: bool = True,
        info: Mapping[str, Any] | None = None,
    ) -> NDArray[np.int64]:
        """One item (or slate) per shopper: the top scores under the hidden state."""
        if info is None or "hidden" not in info:
            raise ValueError(
                f"{type(self).__name__} reads the hidden state from info['hidden']: "
                "build the env with expose_hidden_state=True and pass info to act()"
            )
        outcome = expected_outcomes(self._world_model, info["hidden"], observation)
        scores = outcome.reward + self.patience_value * outcome.patience_change
        slate_size = self.env_config.slate_size
        if slate_size == 1:
            return scores.argmax(axis=1)
        top = np.argpartition(-scores, slate_size - 1, axis=1)[:, :slate_size]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        return np.take_along_axis(top, order, axis=1)

    def predict(
        self,
        observation: Mapping[str, NDArray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[NDArray[np.int64], None]:
        raise ValueError(f"{type(self).__name__} needs info['hidden']; call act(obs, info=info)")

    def learn(
        self,
        env: Any = None,
        total_steps: int = 0,
        logger: Logger | None = None,
        callback: Callback | None = None,
    ) -> LongTermOracle:
        """Nothing to learn: the oracle knows the model."""
        if callback is not None:
            callback(self)
        return self

    def hyperparameters(self) -> dict[str, Any]:
        return {"patience_value": self.patience_value}

    def save(self, path: str | Path) -> None:
        """A directory with ``agent.json``: kind, env config and hyperparameters."""
        save_agent_files(path, self.kind, self.env_config, self.hyperparameters())

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> LongTermOracle:
        meta, _ = load_agent_files(path, cls.kind)
        return cls(env_config or config_from_dict(meta["env_config"]), **meta["hyperparameters"])


class MyopicOracle(LongTermOracle):
    """Greedy on the expected immediate reward alone: the myopic bracket."""

    kind = "myopic_oracle"

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        super().__init__(env_config, patience_value=0.0, seed=seed, device=device)

    def hyperparameters(self) -> dict[str, Any]:
        return {}
