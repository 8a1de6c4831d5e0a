"""The self-attention (SASRec-style) state encoder: its masking against a brute-force
reference, causality, and that the recommenders built on it learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agents.dqn import DQNAgent
from agents.evaluation import evaluate, paired_difference
from agents.mlp import MLPAgent
from agents.random import RandomAgent
from agents.sequence import EncoderSettings, SequenceEncoder
from recenv import ShoppingVectorEnv, make_config
from recenv.sim.items import item_features

CFG = make_config("small")
SETTINGS = EncoderSettings(encoder="transformer", attention_heads=2, attention_layers=2)


@pytest.fixture(scope="module")
def encoder() -> SequenceEncoder:
    torch.manual_seed(3)
    category = item_features(CFG)["category"]
    return SequenceEncoder(CFG, np.asarray(category), 16, 32, SETTINGS).eval()


@pytest.fixture(scope="module")
def observations():
    """Tensors of 24 shoppers after 0-5 random steps: empty, short and full histories."""
    from agents.networks import to_tensors

    env = ShoppingVectorEnv(24, config=CFG)
    observation, _ = env.reset(seed=5)
    rng = np.random.default_rng(5)
    rows = []
    for step in range(6):
        rows.append({key: value[step * 4 : step * 4 + 4] for key, value in observation.items()})
        observation, *_ = env.step(rng.integers(0, CFG.catalog.n_items, 24))
    merged = {key: np.concatenate([row[key] for row in rows]) for key in rows[0]}
    return to_tensors(merged, torch.device("cpu"))


def reference_summary(encoder: SequenceEncoder, observation, row: int) -> torch.Tensor:
    """The "now" token's output for one shopper, computed on its present tokens only (empty
    slots dropped, plain causal attention): what the batched mask must reproduce."""
    sequence, present = encoder.tokens(observation)
    kept = sequence[row : row + 1, present[row]]
    length = kept.shape[1]
    causal = ~torch.ones(length, length).tril().bool()
    for block in encoder.blocks:
        kept = block(kept, src_mask=causal)
    return encoder.norm(kept[:, -1])[0]


@torch.no_grad()
def test_masked_batch_equals_attention_over_present_entries_only(encoder, observations) -> None:
    sequence, present = encoder.tokens(observations)
    assert present[:, :-1].sum(1).min() == 0 and present.all(1).any()  # empty and full rows
    mask = encoder.attention_mask(present)
    for block in encoder.blocks:
        sequence = block(sequence, src_mask=mask)
    batched = encoder.norm(sequence[:, -1])
    for row in range(len(batched)):
        torch.testing.assert_close(batched[row], reference_summary(encoder, observations, row))


@torch.no_grad()
def test_empty_slots_and_their_ids_do_not_change_the_state(encoder, observations) -> None:
    changed = observations.history.clone()
    empty = observations.history_events == 0
    changed[empty] = (changed[empty] + 7) % CFG.catalog.n_items  # other ids in empty slots
    torch.testing.assert_close(
        encoder(observations._replace(history=changed)), encoder(observations)
    )


@torch.no_grad()
def test_older_tokens_do_not_see_newer_entries(encoder, observations) -> None:
    """Causality: changing the newest entry (slot 0) leaves every older token's output alone
    and changes the summary."""

    def outputs(observation):
        sequence, present = encoder.tokens(observation)
        mask = encoder.attention_mask(present)
        for block in encoder.blocks:
            sequence = block(sequence, src_mask=mask)
        return sequence

    full = observations.history_events[:, 0] > 0
    history = observations.history.clone()
    history[:, 0] = (history[:, 0] + 1) % CFG.catalog.n_items
    before, after = outputs(observations), outputs(observations._replace(history=history))
    older = slice(0, before.shape[1] - 2)  # chronological: the newest entry is second to last
    torch.testing.assert_close(after[full, older], before[full, older])
    assert (after[full, -1] - before[full, -1]).abs().amax(1).min() > 1e-4


def test_heads_must_divide_the_embedding() -> None:
    with pytest.raises(ValueError, match=r"dqn.attention_heads = 3 must divide dqn.embedding_dim"):
        DQNAgent(CFG, encoder="transformer", attention_heads=3, embedding_dim=16)


@pytest.fixture(scope="module")
def random_result():
    return evaluate(RandomAgent(CFG, seed=0, device="cpu"), CFG, 500, 2024)


@pytest.mark.parametrize(
    ("cls", "steps", "settings"),
    [
        (MLPAgent, 20_000, {"max_epochs": 3}),
        (
            DQNAgent,
            20_000,
            {
                "learning_starts": 1_000,
                "validation_interval": 0,
                "embedding_dim": 16,
                "hidden_size": 64,
                "exploration_fraction": 0.5,
            },
        ),
    ],
    ids=["sasrec", "dqn"],
)
def test_transformer_recommenders_beat_random_and_reload(
    cls, steps, settings, random_result, tmp_path: Path
) -> None:
    agent = cls(CFG, seed=0, device="cpu", encoder="transformer", **settings)
    agent.learn(ShoppingVectorEnv(32, config=CFG), steps)
    result = evaluate(agent, CFG, 500, 2024)
    difference = paired_difference(result, random_result, "return")
    assert difference.ci_low > 0, difference
    agent.save(tmp_path / "agent")
    loaded = cls.load(tmp_path / "agent", device="cpu")
    assert loaded.config.encoder == "transformer"
    reloaded, original = (evaluate(a, CFG, 100, 7).sessions["return"] for a in (loaded, agent))
    np.testing.assert_array_equal(reloaded, original)
