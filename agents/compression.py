"""Compression for serving: int8 dynamic quantization, and distillation into a smaller student.

Quantization (``quantized``): torch's dynamic int8 quantization of the ``nn.Linear`` layers
(weights stored as int8, activations quantized on the fly) and weight-only 8-bit
quantization of the embeddings (one scale and offset per row: the item table that embeds
histories is the largest array of a big catalog's network). The catalog product of an item
head, ``project(s) @ table.T + bias``, is not a Linear while training (the table is tied to
the history embeddings, ``agents.networks.ItemScoreHead``); for serving it is frozen into one
(``FrozenItemScoreHead``: weight = the item table, bias = the item bias), so the largest
matrix, ``(n_items, dim)``, is quantized too. The agent keeps acting through its own ``act``.

Distillation (``distill``): a student of the same agent class with smaller
``embedding_dim`` / ``hidden_size`` (and any encoder: a sequence teacher can have an MLP
student) is trained to match the teacher's action scores (DQN's Q-values, the supervised
recommenders' predicted immediate reward) on states the teacher visits, by policy
distillation (Rusu et al., 2016): KL between the softmax of the teacher's and the student's
scores over the catalog at a temperature, scaled by the teacher's score spread.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.base import expected_reward
from agents.networks import ItemScoreHead, ObservationTensors, to_tensors
from recenv.sim.vector import ShoppingVectorEnv


class FrozenItemScoreHead(nn.Module):
    """An ``ItemScoreHead`` for serving: the same scores, the catalog product a Linear."""

    def __init__(self, head: ItemScoreHead) -> None:
        super().__init__()
        with torch.no_grad():
            table = head.items.table().detach().clone()
        self.project, self.coefficients = head.project, head.coefficients
        self.candidates = head.candidates
        self.catalog = nn.Linear(table.shape[1], table.shape[0])
        with torch.no_grad():
            self.catalog.weight.copy_(table)
            self.catalog.bias.copy_(head.bias)

    def forward(self, state: torch.Tensor, observation: ObservationTensors) -> torch.Tensor:
        scores = self.catalog(self.project(state))
        return self.candidates.add_catalog_scores(scores, observation, self.coefficients(state))


def _network(agent: Any) -> tuple[str, nn.Module]:
    """The attribute holding the agent's scoring network (DQN's Q-network, the MLP's model)."""
    for name in ("q_network", "model"):
        if isinstance(getattr(agent, name, None), nn.Module):
            return name, getattr(agent, name)
    raise ValueError(f"{type(agent).__name__} has no torch network to compress")


def frozen(agent: Any) -> Any:
    """A copy of ``agent`` whose item heads are ``FrozenItemScoreHead``s (same actions)."""
    serving = copy.copy(agent)
    name, network = _network(agent)
    network = copy.deepcopy(network).eval()
    for module_name, module in list(network.named_modules()):
        if isinstance(module, ItemScoreHead):
            parent = network.get_submodule(module_name.rpartition(".")[0])
            setattr(parent, module_name.rpartition(".")[2], FrozenItemScoreHead(module))
    setattr(serving, name, network)
    serving.selection = None  # serving copies never select models
    return serving


def quantized(agent: Any) -> Any:
    """An int8 dynamically quantized serving copy of a CPU ``agent`` (see the module doc)."""
    serving = frozen(agent)
    name, network = _network(serving)
    linears = dict.fromkeys(quantizable(network), torch.ao.quantization.default_dynamic_qconfig)
    embeddings = {nn.Embedding: torch.ao.quantization.float_qparams_weight_only_qconfig}
    setattr(
        serving,
        name,
        torch.ao.quantization.quantize_dynamic(network, {**linears, **embeddings}),
    )
    return serving


def quantizable(network: nn.Module) -> set[str]:
    """Names of the Linears to quantize: all but those inside attention blocks, whose fused
    fast path reads their float ``weight`` (they stay float32; they are small)."""
    inside_attention = {
        f"{name}.{child}" if name else child
        for name, module in network.named_modules()
        if isinstance(module, nn.TransformerEncoderLayer)
        for child, _ in module.named_modules()
    }
    return {
        name
        for name, module in network.named_modules()
        if isinstance(module, nn.Linear) and name not in inside_attention
    }


def model_bytes(agent: Any) -> int:
    """Size of the scoring network's serialised state dict (what a serving image ships)."""
    buffer = io.BytesIO()
    torch.save(_network(agent)[1].state_dict(), buffer)
    return buffer.getbuffer().nbytes


def action_scores(agent: Any, observation: ObservationTensors) -> torch.Tensor:
    """The scores ``agent.act`` ranks, differentiably: Q-values, or predicted reward."""
    name, network = _network(agent)
    if name == "q_network":
        return network(observation)
    click, purchase = network.all_logits(observation)
    purchase = torch.sigmoid(purchase)
    return expected_reward(agent.rewards, torch.sigmoid(click), purchase, purchase, agent.price)


def teacher_states(
    teacher: Any, n_states: int, seed: int, epsilon: float = 0.1, n_envs: int = 64
) -> dict[str, np.ndarray]:
    """Observations the teacher meets acting greedily with ``epsilon`` random steps."""
    config = teacher.env_config
    env = ShoppingVectorEnv(n_envs, config=config)
    observation, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    states: list[Mapping[str, np.ndarray]] = []
    while len(states) * n_envs < n_states:
        states.append({key: value.copy() for key, value in observation.items()})
        action = teacher.act(observation, deterministic=True)
        explore = rng.random(n_envs) < epsilon
        random_slates = rng.integers(0, config.catalog.n_items, action.shape)
        action = np.where(explore.reshape((-1,) + (1,) * (action.ndim - 1)), random_slates, action)
        observation, *_ = env.step(action)
    return {key: np.concatenate([s[key] for s in states])[:n_states] for key in states[0]}


def distill(
    teacher: Any,
    student: Any,
    n_states: int = 20_000,
    epochs: int = 5,
    batch_size: int = 256,
    temperature: float = 0.1,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> dict[str, float]:
    """Train ``student`` to rank like ``teacher`` (see the module doc); the final loss."""
    states = teacher_states(teacher, n_states, seed)
    device = student.device
    _, network = _network(student)
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    with torch.no_grad():
        sample = action_scores(teacher, to_tensors(_rows(states, np.arange(512)), teacher.device))
        scale = float(sample.std()) * temperature  # the softmax temperature in score units
    rng = np.random.default_rng(seed)
    loss = torch.zeros(())
    for _ in range(epochs):
        for batch in np.array_split(rng.permutation(n_states), max(1, n_states // batch_size)):
            rows = _rows(states, batch)
            with torch.no_grad():
                target = action_scores(teacher, to_tensors(rows, teacher.device)).to(device)
            network.train()
            scores = action_scores(student, to_tensors(rows, device))
            loss = nn.functional.kl_div(
                torch.log_softmax(scores / scale, dim=1),
                torch.log_softmax(target / scale, dim=1),
                log_target=True,
                reduction="batchmean",
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    network.eval()
    return {
        "distillation_loss": float(loss.detach()),
        "states": n_states,
        "temperature_scale": scale,
    }


def _rows(states: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {key: value[rows] for key, value in states.items()}
