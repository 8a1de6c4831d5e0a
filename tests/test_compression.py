"""Compression for serving: frozen heads score exactly as trained ones, int8 quantization
keeps the ranking and shrinks the model, distillation teaches a smaller student to rank like
its teacher."""

from __future__ import annotations

import numpy as np
import pytest

from agents.compression import distill, frozen, model_bytes, quantized, teacher_states
from agents.dqn import DQNAgent
from agents.logs import collect_random_logs
from agents.mlp import MLPAgent
from recenv import ShoppingVectorEnv, make_config

CFG = make_config("small")


def scores(agent, states):
    return (
        agent.q_values(states)
        if isinstance(agent, DQNAgent)
        else agent.expected_reward(states).numpy()
    )


@pytest.fixture(scope="module", params=["dqn", "sasrec"])
def teacher(request):
    """An untrained Q-network is a fine teacher (its scores are structured, just not useful);
    an untrained recommender's predicted reward only follows prices, so it is fitted briefly."""
    if request.param == "dqn":
        return DQNAgent(CFG, seed=1, device="cpu")
    agent = MLPAgent(
        CFG, seed=1, device="cpu", encoder="transformer", selection_shoppers=0, max_epochs=2
    )
    agent.fit(collect_random_logs(ShoppingVectorEnv(32, config=CFG), CFG, 10_000, seed=1))
    return agent


@pytest.fixture(scope="module")
def states(teacher):
    return teacher_states(teacher, 256, seed=4)


def test_frozen_heads_score_like_the_trained_network(teacher, states) -> None:
    np.testing.assert_allclose(scores(frozen(teacher), states), scores(teacher, states), atol=1e-6)
    np.testing.assert_array_equal(
        frozen(teacher).act(states, deterministic=True), teacher.act(states, deterministic=True)
    )


def test_int8_quantization_keeps_the_ranking_and_shrinks_the_model(teacher, states) -> None:
    serving = quantized(teacher)
    quantized_layers = [
        m
        for m in vars(serving)["q_network" if isinstance(teacher, DQNAgent) else "model"].modules()
        if type(m).__name__ == "Linear" and m.__module__.startswith("torch.ao")
    ]
    assert quantized_layers
    original, compressed = scores(teacher, states), scores(serving, states)
    agree = (original.argmax(1) == compressed.argmax(1)).mean()
    assert agree > 0.9, agree
    assert model_bytes(serving) < 0.75 * model_bytes(teacher)


def test_distillation_teaches_a_smaller_student_to_rank_like_its_teacher(teacher, states) -> None:
    small = {"embedding_dim": 8, "hidden_size": 32}
    student = type(teacher)(CFG, seed=2, device="cpu", **small)  # an MLP-encoder student
    before = (scores(student, states).argmax(1) == scores(teacher, states).argmax(1)).mean()
    distill(teacher, student, n_states=2_048, epochs=4, seed=5)
    after = (scores(student, states).argmax(1) == scores(teacher, states).argmax(1)).mean()
    assert after > before + 0.25, (before, after)
    assert model_bytes(student) < model_bytes(teacher) / 2


def test_only_torch_agents_compress() -> None:
    from agents.popularity import PopularityAgent

    with pytest.raises(ValueError, match="PopularityAgent has no torch network"):
        quantized(PopularityAgent(CFG))
