"""Model selection on validation shoppers: one protocol for every learning agent.

A learning agent that produces a sequence of candidate policies (DQN every
``validation_interval`` steps, the MLP after every epoch, SB3 agents every so many steps)
scores each candidate's greedy policy on the same held-out shoppers and keeps the best,
as SB3's ``EvalCallback`` keeps its best model. The shoppers come from the
``"validation"`` split (``recenv.sim.streams``): never trained on, never met in evaluation.
Every shopper-step spent here is counted (``shopper_steps``) and reported in the agent's
budget, so a comparison can see what selection cost.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from agents.base import Logger, NullLogger
from agents.evaluation import run_sessions
from recenv.sim.config import EnvConfig


class ModelSelection:
    """Keep the state of the best candidate by mean validation return."""

    def __init__(self, env_config: EnvConfig, n_shoppers: int = 256, seed: int = 0) -> None:
        if n_shoppers < 1:
            raise ValueError(
                f"selection n_shoppers = {n_shoppers} is out of range; allowed: integers >= 1"
            )
        self.env_config, self.n_shoppers, self.seed = env_config, int(n_shoppers), int(seed)
        self.best_score = -float("inf")
        self.best_state: Any = None
        self.shopper_steps = 0
        self.candidates = 0

    def consider(
        self,
        agent: Any,
        state: Callable[[], Any],
        step: int,
        logger: Logger | None = None,
    ) -> bool:
        """Score ``agent``'s greedy policy; if it is the best so far keep a copy of ``state()``.

        Returns True when this candidate became the best.
        """
        sessions = run_sessions(agent, self.env_config, self.n_shoppers, self.seed, "validation")
        self.shopper_steps += int(sessions["steps"].sum())
        self.candidates += 1
        score = float(sessions["return"].mean())
        (logger or NullLogger()).record("train/validation_return", score, step)
        if score > self.best_score:
            self.best_score, self.best_state = score, copy.deepcopy(state())
            return True
        return False

    def counters(self) -> dict[str, float | int]:
        """What a checkpoint keeps of the selection (the best state is saved by the agent)."""
        return {
            "best_score": self.best_score,
            "shopper_steps": self.shopper_steps,
            "candidates": self.candidates,
        }

    def restore_counters(self, counters: dict[str, float | int]) -> None:
        self.best_score = float(counters.get("best_score", -float("inf")))
        self.shopper_steps = int(counters.get("shopper_steps", 0))
        self.candidates = int(counters.get("candidates", 0))
