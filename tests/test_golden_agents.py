"""Golden training runs: the same seeds give bit-identical trained agents, release after
release. A change meant to alter what an agent learns (its update, schedules, selection,
collection) updates these digests in its own commit and says so; a refactor leaves them.

The digests cover what the agent does after training: its greedy actions on evaluation
shoppers (their per-session returns) and its selection and schedule counters, so they
follow the TD target, the epsilon and learning-rate schedules, the replay sampling and
model selection. One torch thread (the fixture) keeps float reductions in a fixed order.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import recenv
from agents.dqn import DQNAgent
from agents.evaluation import evaluate
from agents.mlp import MLPAgent

pytestmark = pytest.mark.usefixtures("single_torch_thread")

SMALL = recenv.make_config("small")


def digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()[:16]


def test_dqn_trains_to_the_golden_agent() -> None:
    """A short DQN run with n-step returns, model selection and both schedules."""
    agent = DQNAgent(
        SMALL,
        seed=3,
        device="cpu",
        embedding_dim=16,
        hidden_size=32,
        buffer_size=4_000,
        batch_size=32,
        learning_starts=400,
        n_steps=3,
        target_update_interval=100,
        validation_interval=1_600,
        validation_shoppers=32,
    )
    agent.learn(recenv.ShoppingVectorEnv(16, config=SMALL), 4_800)
    returns = evaluate(agent, SMALL, 200, seed=11).sessions["return"]
    assert (agent.steps_done, agent.updates_done, agent.selection.candidates) == GOLDEN_DQN[:3]
    assert agent.optimizer.param_groups[0]["lr"] == GOLDEN_DQN[3]
    assert agent.selection.best_score == GOLDEN_DQN[4]
    assert (float(returns.mean()), digest(returns)) == GOLDEN_DQN[5:]


def test_mlp_trains_to_the_golden_agent() -> None:
    """A short MLP fit on random logs, with early stopping and model selection."""
    agent = MLPAgent(
        SMALL,
        seed=3,
        device="cpu",
        embedding_dim=16,
        hidden_size=32,
        max_epochs=3,
        selection_shoppers=32,
    )
    agent.learn(recenv.ShoppingVectorEnv(16, config=SMALL), 4_800)
    returns = evaluate(agent, SMALL, 200, seed=11).sessions["return"]
    assert (agent.epochs_done, agent.selection.candidates) == GOLDEN_MLP[:2]
    assert agent.metrics["click_log_loss"] == GOLDEN_MLP[2]
    assert (float(returns.mean()), digest(returns)) == GOLDEN_MLP[3:]


# (steps, updates, candidates, last learning rate, best validation return, return, digest)
GOLDEN_DQN = (
    4800,
    276,
    4,
    0.00010133333333333328,
    0.6391229707747698,
    0.5678485650122166,
    "cb78d6cb9c19d084",
)
# (epochs, candidates, held-out click log-loss, return, digest)
GOLDEN_MLP = (3, 3, 0.6995185017585754, 0.12818103790283203, "00d7567ce3d665cc")
