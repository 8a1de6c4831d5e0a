"""Oracle references: agents that read the shopper's hidden state from ``info``.

They bracket what learning agents can reach. Both score every item by its exact expected
one-step outcome (``recenv.expectations``):

* ``MyopicOracle`` maximises the expected immediate reward;
* ``LongTermOracle`` adds ``patience_value`` times the expected change in patience, a
  one-line non-myopic heuristic: a patient shopper stays longer and buys more later.

They need an env built with ``expose_hidden_state=True`` and are given the env config,
from which they rebuild the same world (catalog and population are fixed by the config).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recenv.config import EnvConfig
from recenv.core import Simulator
from recenv.env import resolve_config
from recenv.expectations import expected_outcomes


class LongTermOracle:
    """Greedy on ``E[reward] + patience_value * E[patience change]`` under the hidden state."""

    needs_info = True

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        patience_value: float = 3.0,
        **_spaces: Any,
    ) -> None:
        if patience_value < 0:
            raise ValueError(f"patience_value = {patience_value} is out of range; allowed: >= 0")
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

    def learn(self, env: Any = None, total_steps: int = 0, logger: Any = None) -> LongTermOracle:
        """Nothing to learn: the oracle knows the model."""
        return self

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"patience_value": self.patience_value}))

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | Mapping[str, Any] | None = None):
        return cls(env_config, **json.loads(Path(path).read_text()))


class MyopicOracle(LongTermOracle):
    """Greedy on the expected immediate reward alone: the myopic bracket."""

    def __init__(
        self, env_config: EnvConfig | Mapping[str, Any] | None = None, **_spaces: Any
    ) -> None:
        super().__init__(env_config, patience_value=0.0)

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | Mapping[str, Any] | None = None):
        return cls(env_config)
