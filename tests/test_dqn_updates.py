"""DQN's target-network updates and its linear head, checked against values computed by
hand from copies of the weights; and the linear head learns (beats random on `small`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import recenv
from agents.dqn import DQNAgent
from agents.evaluation import evaluate, paired_difference
from agents.networks import to_tensors
from agents.random import RandomAgent
from recenv import ShoppingVectorEnv

pytestmark = pytest.mark.usefixtures("single_torch_thread")

CFG = recenv.make_config("small")
SMALL_NETWORK: dict[str, Any] = {
    "hidden_size": 32,
    "embedding_dim": 8,
    "buffer_size": 1_000,
    "batch_size": 32,
    "n_steps": 1,
    "validation_interval": 0,
}


def filled_agent(**hyperparameters: Any) -> DQNAgent:
    """An agent whose replay buffer holds 320 transitions and that has not learned yet."""
    agent = DQNAgent(
        CFG, seed=0, device="cpu", learning_starts=10**9, **SMALL_NETWORK, **hyperparameters
    )
    agent.learn(ShoppingVectorEnv(16, config=CFG), 336)
    assert agent.updates_done == 0 and agent.buffer is not None and agent.buffer.size >= 32
    return agent


def weights(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in network.named_parameters()}


def test_a_polyak_update_moves_the_target_by_tau_toward_the_online_network() -> None:
    tau = 0.1
    agent = filled_agent(target_update="polyak", tau=tau)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a target apart from the online network, so the mix shows
        for parameter in agent.target_network.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    old_online, old_target = weights(agent.q_network), weights(agent.target_network)
    agent._update(agent.buffer.sample(32))
    online, target = weights(agent.q_network), weights(agent.target_network)
    assert any(not torch.equal(online[name], old_online[name]) for name in online)
    for name, value in target.items():
        expected = tau * online[name] + (1 - tau) * old_target[name]
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6, msg=name)


def test_hard_updates_copy_the_online_network_every_interval() -> None:
    agent = filled_agent(target_update="hard", target_update_interval=3)
    synced = weights(agent.q_network)  # the target starts as a copy
    for update in range(1, 8):
        agent._update(agent.buffer.sample(32))
        online, target = weights(agent.q_network), weights(agent.target_network)
        if update % 3 == 0:
            synced = online
        assert all(torch.equal(target[name], synced[name]) for name in target), update
        copied_now = all(torch.equal(target[name], online[name]) for name in target)
        assert copied_now == (update % 3 == 0), update


def test_the_linear_head_is_w_times_the_encoded_state_plus_b() -> None:
    agent = DQNAgent(CFG, seed=0, device="cpu", head="linear", **SMALL_NETWORK)
    rng = np.random.default_rng(3)
    env = ShoppingVectorEnv(8, config=CFG)
    observation, _ = env.reset(seed=3)
    observation, *_ = env.step(rng.integers(0, CFG.catalog.n_items, 8))  # non-empty histories
    tensors = to_tensors(observation, agent.device)
    with torch.no_grad():
        state = agent.q_network.encoder(tensors).numpy()  # (8, hidden_size)
    linear = agent.q_network.head.linear
    w, b = linear.weight.detach().numpy(), linear.bias.detach().numpy()  # (M, hidden), (M,)
    by_hand = state @ w.T + b  # Q(s, j) = W[j] . encoder(s) + b[j]
    assert by_hand.shape == (8, CFG.catalog.n_items)
    np.testing.assert_allclose(agent.q_values(observation), by_hand, rtol=1e-5, atol=1e-6)
    items = torch.as_tensor(rng.integers(0, CFG.catalog.n_items, 8))
    with torch.no_grad():
        pairs = agent.q_network.item_scores(tensors, items).numpy()
    np.testing.assert_allclose(pairs, by_hand[np.arange(8), items.numpy()], rtol=1e-5, atol=1e-6)


def test_dqn_with_the_linear_head_beats_random_on_the_same_shoppers() -> None:
    """Paired 95% CI of (linear-head DQN - random) return on 500 shoppers lies above zero.

    Random returns about 0.76 a session here; agent seeds 0-3 all beat it at this budget,
    by 0.12 to 0.26 (seed 0, the one tested, by about 0.2).
    """
    agent = DQNAgent(
        CFG,
        seed=0,
        device="cpu",
        head="linear",
        learning_rate=1e-3,
        gamma=0.97,
        buffer_size=20_000,
        batch_size=64,
        learning_starts=1_000,
        target_update="hard",
        target_update_interval=500,
        exploration_fraction=0.3,
        n_steps=3,
        embedding_dim=16,
        hidden_size=64,
        validation_interval=0,
    )
    agent.learn(ShoppingVectorEnv(32, config=CFG), 20_000)
    trained = evaluate(agent, CFG, 500, seed=2024)
    chance = evaluate(RandomAgent(CFG, seed=0, device="cpu"), CFG, 500, seed=2024)
    difference = paired_difference(trained, chance, "return")
    assert difference.ci_low > 0, difference
