"""One agent preset, one training seed: build, train with the preset's budget, evaluate.

The unit every multi-agent study repeats (``benchmarks/agents.py`` over agents on one
scenario, ``experiments.sensitivity`` over agents on a grid of scenarios), kept here once so
both train and evaluate identically: the agent trains on the training split of its own
seed, and is evaluated on the ``eval.n_shoppers`` shoppers of ``eval.seed``, the same for
every agent and seed (common random numbers, ``agents.evaluation``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from agents.base import shopper_steps_consumed
from agents.evaluation import evaluate
from experiments.factory import build_agent, compose_config, env_config_from, training_env


def scaled_budget(total_steps: int, budget_scale: float) -> int:
    """``budget_scale`` times a preset's training budget; an agent that trains keeps >= 1 step."""
    if budget_scale <= 0:
        raise ValueError(f"budget_scale = {budget_scale!r} is out of range; allowed: > 0")
    if total_steps <= 0:
        return 0
    return max(1, round(total_steps * budget_scale))


def train_and_evaluate(
    agent_name: str, seed: int, overrides: Sequence[str], budget_scale: float = 1.0
) -> dict[str, Any]:
    """Build, train (the preset's budget times ``budget_scale``) and evaluate one agent."""
    cfg = compose_config([f"agent={agent_name}", f"seed={seed}", *overrides])
    env_config = env_config_from(cfg)
    agent = build_agent(cfg, env_config)
    env = training_env(cfg, env_config)
    budget = scaled_budget(int(cfg.train.total_steps), budget_scale)
    start = time.perf_counter()
    if budget > 0:
        agent.learn(env, budget)
    seconds = time.perf_counter() - start
    device = str(cfg.train.get("env_device", "cpu"))  # evaluated where it trained
    result = evaluate(agent, env_config, int(cfg.eval.n_shoppers), int(cfg.eval.seed), device)
    return {
        "result": result,
        "train_seconds": seconds,
        "budget_steps": budget,
        "shopper_steps": shopper_steps_consumed(agent, env),
        "role": str(getattr(agent, "role", "learner")),
    }
