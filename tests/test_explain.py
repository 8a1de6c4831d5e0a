"""Explanations (agents/explain.py) are faithful: checked against the models' own outputs.

* A hand-made linear model, where every entry's attribution is known in closed form.
* Completeness: a trained agent's attributions add up to its own score of the item minus its
  score in the empty observation, both read from its catalog-wide outputs (not the pair
  scores the explainer differentiates).
* Deletion: removing a shopper's top-attributed history entries (the padding id and event 0,
  as the env encodes an empty slot) lowers the item's score more than removing as many random
  entries, averaged over many shopper states.
* K-means: the cluster, its signature and the item's standing match a brute-force
  recomputation from the observation.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import recenv
from agents.base import write_json_atomically
from agents.dqn import DQNAgent
from agents.evaluation import evaluation_env
from agents.explain import TorchExplainer
from agents.kmeans import EVENT_WEIGHT, KMeansAgent
from agents.mlp import MLPAgent
from agents.networks import ItemFeatures, ObservationTensors
from experiments.report import write_report
from recenv import ShoppingVectorEnv
from tests.test_reports import handmade_run

pytestmark = pytest.mark.usefixtures("single_torch_thread")

CFG = recenv.make_config("small")
N_ITEMS, N_CATEGORIES = CFG.catalog.n_items, CFG.catalog.n_categories
STATE_SHOPPERS, STATE_STEPS = 120, 3  # states: 120 evaluation shoppers at steps 1..3
MLP_TARGET = "agents.mlp.MLPAgent"
REMOVED = 2  # history entries removed in the deletion test
RANDOM_DRAWS = 20  # random removals averaged per state

DQN_SETTINGS: dict[str, Any] = {  # tests/test_agents.py's pinned small DQN, briefer
    "learning_rate": 1e-3,
    "buffer_size": 10_000,
    "batch_size": 64,
    "learning_starts": 1_000,
    "target_update_interval": 500,
    "n_steps": 3,
    "embedding_dim": 16,
    "hidden_size": 64,
    "validation_interval": 0,
}


@pytest.fixture(scope="module")
def dqn() -> DQNAgent:
    agent = DQNAgent(CFG, seed=0, device="cpu", **DQN_SETTINGS)
    return agent.learn(ShoppingVectorEnv(32, config=CFG), 6_000)


@pytest.fixture(scope="module")
def mlp() -> MLPAgent:
    agent = MLPAgent(CFG, seed=0, device="cpu", max_epochs=3, selection_shoppers=0)
    return agent.learn(ShoppingVectorEnv(32, config=CFG), 10_000)


def catalog_score(agent: Any, observation: dict[str, np.ndarray], items: np.ndarray) -> np.ndarray:
    """The agent's own score of ``items`` per row, from its catalog-wide outputs."""
    rows = np.arange(len(items))
    if isinstance(agent, DQNAgent):
        return agent.q_values(observation)[rows, items].astype(float)
    return agent.expected_reward(observation).cpu().numpy()[rows, items].astype(float)


def shopper_states(agent: Any) -> dict[str, np.ndarray]:
    """Observations of evaluation shoppers after 1..STATE_STEPS steps of the agent's own
    greedy recommendations, those with at least REMOVED + 1 history entries."""
    env, observation, _ = evaluation_env(CFG, STATE_SHOPPERS, seed=7)
    states = []
    for _ in range(STATE_STEPS):
        observation, *_ = env.step(agent.act(observation, deterministic=True))
        states.append(observation)
    batch = {key: np.concatenate([state[key] for state in states]) for key in states[0]}
    keep = (batch["history_events"] > 0).sum(axis=1) > REMOVED
    return {key: value[keep] for key, value in batch.items()}


def empty_like(observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The empty observation, written out from recenv/sim/state.py's encoding."""
    return {
        "history": np.full_like(observation["history"], N_ITEMS),
        "history_events": np.zeros_like(observation["history_events"]),
        "cart": np.full_like(observation["cart"], N_ITEMS),
        "session": np.zeros_like(observation["session"]),
        "query": np.full_like(observation["query"], N_CATEGORIES),
    }


def without(observation: dict[str, np.ndarray], removed: np.ndarray) -> dict[str, np.ndarray]:
    """``observation`` with the ``removed`` history entries made empty slots."""
    copy = {key: value.copy() for key, value in observation.items()}
    copy["history"][removed] = N_ITEMS
    copy["history_events"][removed] = 0
    return copy


def history_attributions(explanations: list[Any], shape: tuple[int, int]) -> np.ndarray:
    """``(n, H)`` attributions of present entries; -inf where a slot is empty."""
    table = np.full(shape, -np.inf)
    for row, explanation in enumerate(explanations):
        for entry in explanation.history:
            table[row, entry.position] = entry.attribution
    return table


class LinearEncoder(nn.Module):
    """``state = sum over present entries of item_vector(h)``: attributions are known."""

    def __init__(self) -> None:
        super().__init__()
        generator = np.random.default_rng(0)
        self.items = ItemFeatures(generator.integers(0, N_CATEGORIES, N_ITEMS), N_CATEGORIES, 4)

    def forward(self, observation: ObservationTensors) -> torch.Tensor:
        present = (observation.history_events > 0).unsqueeze(-1).float()
        return (self.items(observation.history) * present).sum(dim=1)


def test_attributions_of_a_linear_model_are_its_terms() -> None:
    """Score ``<w, sum_h e(item_h)> + 0.3 [item_h == j] + 0.1 session_step``: entry h is
    credited ``<w, e(item_h)>`` (its embedding) plus 0.3 when it is the item j itself
    (read from the id), at its own position; the session step gets 0.1 x step."""
    encoder = LinearEncoder()
    weight = torch.tensor([0.5, -1.0, 2.0, 0.25])

    def score(observation: ObservationTensors, items: torch.Tensor) -> torch.Tensor:
        present = observation.history_events > 0
        repeats = ((observation.history == items[:, None]) & present).float().sum(dim=1)
        return encoder(observation) @ weight + 0.3 * repeats + 0.1 * observation.session[:, 0]

    history = np.array([[7, 3, 7, N_ITEMS, 11, *[N_ITEMS] * 5]])
    observation = {
        "history": history,
        "history_events": np.array([[1, 2, 1, 0, 4, *[0] * 5]]),
        "cart": np.full((1, CFG.cart_capacity), N_ITEMS),
        "session": np.array([[3.0, *[0.0] * 8]], dtype=np.float32),
        "query": np.array([N_CATEGORIES]),
    }
    explanation = TorchExplainer(encoder, encoder, score, "toy", CFG).explain(observation, [7])[0]
    with torch.no_grad():
        terms = encoder.items(torch.as_tensor(history[0])) @ weight
    expected = {0: terms[0] + 0.3, 1: terms[1], 2: terms[2] + 0.3, 4: terms[4]}
    assert [(e.position, e.item) for e in explanation.history] == [(0, 7), (1, 3), (2, 7), (4, 11)]
    for entry in explanation.history:
        assert entry.attribution == pytest.approx(float(expected[entry.position]), abs=1e-5)
    assert explanation.session["step"] == pytest.approx(0.3, abs=1e-5)
    assert explanation.convergence_delta == pytest.approx(0.0, abs=1e-5)


class AttentionEncoder(nn.Module):
    """A SASRec-style encoder (self-attention over the history, padding masked by event 0,
    dropout) that ignores the cart and the session: the explainer only needs ``items``."""

    def __init__(self) -> None:
        super().__init__()
        generator = np.random.default_rng(1)
        self.items = ItemFeatures(generator.integers(0, N_CATEGORIES, N_ITEMS), N_CATEGORIES, 8)
        self.event = nn.Embedding(5, 8)
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, batch_first=True)
        self.attention = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)

    def forward(self, observation: ObservationTensors) -> torch.Tensor:
        entries = self.items(observation.history) + self.event(observation.history_events)
        empty = observation.history_events == 0
        empty[:, 0] = False  # every row keeps one key, so an empty history stays defined
        return self.attention(entries, src_key_padding_mask=empty)[:, 0]


def test_attention_encoder_attributions_add_up_in_evaluation_mode() -> None:
    """With an encoder whose padding mask is the events and which ignores cart and session,
    attributions still add up to score(x) - score(empty) (dropout off while explaining, the
    training flag restored), and the ignored inputs get exactly zero."""
    torch.manual_seed(0)
    encoder = AttentionEncoder()

    def score(observation: ObservationTensors, items: torch.Tensor) -> torch.Tensor:
        return (encoder(observation) * encoder.items(items)).sum(dim=1)

    rng = np.random.default_rng(2)
    history = rng.integers(0, N_ITEMS, (40, CFG.history_length))
    events = rng.integers(1, 5, history.shape)
    lengths = rng.integers(1, CFG.history_length + 1, 40)
    empty = np.arange(CFG.history_length) >= lengths[:, None]
    history[empty], events[empty] = N_ITEMS, 0
    cart = np.full((40, CFG.cart_capacity), N_ITEMS)
    cart[:, 0] = rng.integers(0, N_ITEMS, 40)
    observation = {
        "history": history,
        "history_events": events,
        "cart": cart,
        "session": rng.random((40, 9)).astype(np.float32),
        "query": np.full(40, N_CATEGORIES),
    }
    items = rng.integers(0, N_ITEMS, 40)
    explanations = TorchExplainer(encoder, encoder, score, "toy", CFG).explain(observation, items)
    assert encoder.training
    with torch.no_grad():
        encoder.eval()
        tensors = {key: torch.as_tensor(value) for key, value in observation.items()}
        blank = {key: torch.as_tensor(value) for key, value in empty_like(observation).items()}
        wanted = torch.as_tensor(items)
        change = score(ObservationTensors(**tensors), wanted) - score(
            ObservationTensors(**blank), wanted
        )
    total = [
        sum(e.attribution for e in ex.history) + sum(ex.session.values()) for ex in explanations
    ]
    np.testing.assert_allclose(total, change.numpy(), atol=0.02 * change.abs().mean().item())
    assert all(not any(ex.session.values()) and ex.cart[0].attribution == 0 for ex in explanations)


@pytest.mark.parametrize("name", ["dqn", "mlp"])
def test_attributions_add_up_to_the_models_own_score_change(
    name: str, request: pytest.FixtureRequest
) -> None:
    """sum(attributions) = score(x, j) - score(empty, j) within 2% of the typical change."""
    agent = request.getfixturevalue(name)
    states = shopper_states(agent)
    items = agent.act(states, deterministic=True)
    explanations = agent.explain(states, items)
    change = catalog_score(agent, states, items) - catalog_score(agent, empty_like(states), items)
    total = np.array(
        [
            sum(e.attribution for e in ex.history)
            + sum(e.attribution for e in ex.cart)
            + sum(ex.session.values())
            + ex.query_attribution
            for ex in explanations
        ]
    )
    scale = np.abs(change).mean()
    assert scale > 1e-3  # the states move the score: the check is not trivially met
    np.testing.assert_allclose(total, change, atol=0.02 * scale)
    scores = np.array([ex.score for ex in explanations])
    np.testing.assert_allclose(scores, catalog_score(agent, states, items), rtol=1e-4, atol=1e-5)
    one = agent.explain({key: value[0] for key, value in states.items()}, int(items[0]))
    first = explanations[0]  # a single observation gets the same answer as its batch row
    assert [(e.position, e.item) for e in one.history] == [
        (e.position, e.item) for e in first.history
    ]
    assert [e.attribution for e in one.history] == pytest.approx(
        [e.attribution for e in first.history], rel=1e-4, abs=1e-7
    )


@pytest.mark.parametrize("name", ["dqn", "mlp"])
def test_removing_top_attributed_entries_lowers_the_score_more_than_random(
    name: str, request: pytest.FixtureRequest
) -> None:
    """Mean over states of [drop removing the top-2 attributed entries] - [mean drop
    removing 2 random present entries] is positive by more than 4 standard errors (chance
    under no difference: ~3e-5) and by at least a third of the mean top-2 drop."""
    agent = request.getfixturevalue(name)
    states = shopper_states(agent)
    items = agent.act(states, deterministic=True)
    attributions = history_attributions(agent.explain(states, items), states["history"].shape)
    present = states["history_events"] > 0
    score = catalog_score(agent, states, items)
    top = np.zeros_like(present)
    np.put_along_axis(top, np.argsort(-attributions, axis=1)[:, :REMOVED], True, axis=1)
    top_drop = score - catalog_score(agent, without(states, top), items)
    rng = np.random.default_rng(0)
    random_drops = []
    for _ in range(RANDOM_DRAWS):
        keys = np.where(present, rng.random(present.shape), -1.0)
        chosen = np.zeros_like(present)
        np.put_along_axis(chosen, np.argsort(-keys, axis=1)[:, :REMOVED], True, axis=1)
        random_drops.append(score - catalog_score(agent, without(states, chosen), items))
    difference = top_drop - np.mean(random_drops, axis=0)
    standard_error = difference.std(ddof=1) / np.sqrt(len(difference))
    assert len(difference) >= 150
    assert difference.mean() > 4 * standard_error
    assert difference.mean() > np.abs(top_drop).mean() / 3


@pytest.fixture(scope="module")
def kmeans() -> KMeansAgent:
    return KMeansAgent(CFG, seed=0, n_clusters=4).learn(ShoppingVectorEnv(32, config=CFG), 6_000)


def test_kmeans_explanation_matches_a_brute_force_assignment(kmeans: KMeansAgent) -> None:
    """Cluster = the nearest centre by a loop over entries and centres; the signature lists
    the categories above the centres' mean share, largest lift first; the item's score and
    rank (among unseen items) are read off the agent's table by hand."""
    states = shopper_states(kmeans)
    items = kmeans.act(states, deterministic=True)
    explanations = kmeans.explain(states, items)
    category = np.asarray(kmeans.item_category)
    for row, explanation in enumerate(explanations):
        shares = np.zeros(N_CATEGORIES)
        for item, event in zip(states["history"][row], states["history_events"][row], strict=True):
            if event > 0:
                shares[category[item]] += EVENT_WEIGHT[event]
        features = [*(shares / shares.sum() if shares.sum() else shares), float(shares.sum() > 0)]
        distances = [
            sum((f - c) ** 2 for f, c in zip(features, centre, strict=True))
            for centre in kmeans.centres
        ]
        cluster = int(np.argmin(distances))
        assert explanation.cluster == cluster
        assert explanation.distance == pytest.approx(distances[cluster])
        assert explanation.runner_up == int(np.argsort(distances)[1])
        centre, average = kmeans.centres[cluster], kmeans.centres.mean(axis=0)
        above = sorted(
            (c for c in range(N_CATEGORIES) if centre[c] > average[c]),
            key=lambda c: -(centre[c] - average[c]),
        )
        assert [lift.category for lift in explanation.signature] == above[:3]
        item = int(items[row])
        assert explanation.item_score == kmeans.cluster_scores[cluster, item]
        seen = set(states["history"][row]) | set(states["cart"][row])
        better = [j for j in range(N_ITEMS) if j not in seen]
        better = [j for j in better if kmeans.cluster_scores[cluster, j] > explanation.item_score]
        assert explanation.item_rank == len(better) + 1 == 1  # the agent shows its best
        others = [kmeans.cluster_scores[k, item] for k in range(4) if k != cluster]
        assert explanation.item_score_elsewhere == pytest.approx(np.mean(others))


def test_report_explains_sample_shoppers_of_saved_agents(mlp: MLPAgent, tmp_path: Path) -> None:
    """A run folder with a saved MLP: the report's explanations.json holds the first
    recommendation of the first evaluation shoppers with a history, as the agent explains it."""
    folder = tmp_path / "runs" / "mlp"
    handmade_run(folder, "mlp", seed=0, scale=1.0, role="learner")
    results = json.loads((folder / "results.json").read_text())
    write_json_atomically(folder / "results.json", {**results, "agent_target": MLP_TARGET})
    mlp.save(folder / "final_agent")
    write_report([tmp_path / "runs"], tmp_path / "report")

    written = json.loads((tmp_path / "report" / "explanations.json").read_text())["explanations"]
    _, observation, _ = evaluation_env(CFG, 64, seed=results["eval_seed"])
    slots = np.flatnonzero((observation["history_events"] > 0).any(axis=1))[:3]
    batch = {key: value[slots] for key, value in observation.items()}
    expected = mlp.explain(batch, mlp.act(batch, deterministic=True))
    assert [entry["agent"] for entry in written] == ["mlp"]
    assert [shopper["slot"] for shopper in written[0]["shoppers"]] == slots.tolist()
    for shopper, explanation in zip(written[0]["shoppers"], expected, strict=True):
        assert shopper["explanation"] == explanation.as_dict() | {
            "history": [dataclasses.asdict(entry) for entry in explanation.history],
            "cart": [dataclasses.asdict(entry) for entry in explanation.cart],
        }
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Explanations" in report and f"| {slots[0]} | {expected[0].item} |" in report


@pytest.mark.parametrize("n_shoppers", [0, 5])
def test_eval_explain_shoppers_sets_how_many_the_report_explains(
    mlp: MLPAgent, tmp_path: Path, n_shoppers: int
) -> None:
    """``eval.explain_shoppers`` (recorded in results.json): 0 turns the section off."""
    folder = tmp_path / "runs" / "mlp"
    handmade_run(folder, "mlp", seed=0, scale=1.0, role="learner")
    results = json.loads((folder / "results.json").read_text())
    settings = {"agent_target": MLP_TARGET, "explain_shoppers": n_shoppers}
    write_json_atomically(folder / "results.json", {**results, **settings})
    mlp.save(folder / "final_agent")
    write_report([tmp_path / "runs"], tmp_path / "report")
    written = tmp_path / "report" / "explanations.json"
    if n_shoppers == 0:
        assert not written.exists()
        return
    shoppers = json.loads(written.read_text())["explanations"][0]["shoppers"]
    assert len(shoppers) == n_shoppers
