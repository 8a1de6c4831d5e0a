"""Model selection on validation shoppers: one callback for every learning agent.

A learning agent that produces a sequence of candidate policies scores each candidate's
greedy policy on the same held-out shoppers and keeps the best weights, as SB3's
``EvalCallback`` keeps its best model. ``ModelSelection`` is a ``Callback``
(``agents.base``): ``start`` it when ``learn`` begins, call it after every collection step
(it scores every ``interval`` shopper-steps of ``agent.steps_done``: DQN, the SB3 agents),
and ``finish`` scores the last weights and loads the best. Agents whose candidates come at
moments of their own (the MLP's improving epochs) call ``consider`` instead.

The shoppers come from the ``"validation"`` split (``recenv.sim.streams``): never trained
on, never met in evaluation. Every shopper-step spent here is counted (``shopper_steps``)
and reported in the agent's budget, so a comparison can see what selection cost.
"""

from __future__ import annotations

import copy
from typing import Any

from agents.base import Logger, NullLogger
from agents.evaluation import run_sessions
from recenv.sim.config import EnvConfig


class ModelSelection:
    """Keep the ``state_dict`` of ``model`` that scored the best mean validation return."""

    def __init__(
        self,
        env_config: EnvConfig,
        model: Any,
        n_shoppers: int = 256,
        seed: int = 0,
        interval: int = 0,
    ) -> None:
        if n_shoppers < 1:
            raise ValueError(
                f"selection n_shoppers = {n_shoppers} is out of range; allowed: integers >= 1"
            )
        self.env_config, self.model = env_config, model
        self.n_shoppers, self.seed, self.interval = int(n_shoppers), int(seed), int(interval)
        self.best_score = -float("inf")
        self.best_state: Any = None
        self.shopper_steps = 0
        self.candidates = 0
        self.logger: Logger = NullLogger()
        self.next_step = float("inf")

    def start(self, agent: Any, logger: Logger | None = None) -> None:
        """Begin a ``learn`` call: the first scoring comes ``interval`` steps from now."""
        self.logger = logger or NullLogger()
        self.next_step = agent.steps_done + self.interval if self.interval else float("inf")

    def __call__(self, agent: Any) -> None:
        """After a collection step: score the current weights when the interval is due."""
        if agent.steps_done >= self.next_step:
            self.next_step += self.interval
            self.consider(agent, agent.steps_done)

    def finish(self, agent: Any) -> None:
        """With periodic scoring: score the final weights too, then load the best ones."""
        if self.interval:
            self.consider(agent, agent.steps_done)
            self.model.load_state_dict(self.best_state)

    def consider(self, agent: Any, step: int, logger: Logger | None = None) -> bool:
        """Score ``agent``'s greedy policy; if it is the best so far keep a copy of the weights.

        Returns True when this candidate became the best.
        """
        sessions = run_sessions(agent, self.env_config, self.n_shoppers, self.seed, "validation")
        self.shopper_steps += int(sessions["steps"].sum())
        self.candidates += 1
        score = float(sessions["return"].mean())
        (logger or self.logger).record("train/validation_return", score, step)
        if score > self.best_score:
            self.best_score, self.best_state = score, copy.deepcopy(self.model.state_dict())
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
