"""The self-attention state encoder (SASRec-style), and the choice between it and the MLP one.

SASRec (Kang & McAuley, 2018) reads a shopper's history as a sequence: each entry is a learned
item embedding plus its category's, its event (viewed, clicked, carted, bought) and its
position, and causal self-attention lets every entry attend to the entries before it. Here the
sequence runs oldest to newest and ends with a "now" token (the search query's embedding plus a
learned vector), so the newest token has read the whole history and is the summary; an empty
history still has that token, so no attention row is ever fully masked. Empty slots (event
``pad``) are masked as keys for every other token. The summary is joined with the pooled cart
and the log-scaled session features and passed through the same two-layer body as the MLP
encoder, so both encoders give ``(n, hidden)`` and share the item-score heads.

``encoder: mlp | transformer`` in the MLP's and DQN's hyperparameters picks one
(``build_encoder``); the fields of ``EncoderSettings`` are shared by both configs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from agents import hyperparameters as hp
from agents.networks import CandidateFeatures, ItemFeatures, ObservationTensors, StateEncoder
from recenv.sim.config import EnvConfig
from recenv.sim.state import EVENT_NAMES, SESSION_FEATURES

ENCODERS = ("mlp", "transformer")


@dataclass(frozen=True)
class EncoderSettings(hp.Hyperparameters):
    """The state encoder's hyperparameters, shared by the agents that can use either encoder."""

    encoder: str = "mlp"  # "mlp" (pooled history) or "transformer" (causal self-attention)
    attention_heads: int = 2  # transformer: heads per layer (embedding_dim must divide by it)
    attention_layers: int = 2  # transformer: self-attention blocks
    attention_dropout: float = 0.0  # transformer: dropout inside the blocks while training

    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges(
        {hp.AT_LEAST_ONE: "attention_heads attention_layers", hp.SHARE: "attention_dropout"}
    )
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"encoder": ENCODERS}

    def __post_init__(self) -> None:
        """Attention splits the embedding across heads: refuse a split that is not whole."""
        super().__post_init__()
        dim = getattr(self, "embedding_dim", 0)
        if self.encoder == "transformer" and dim % self.attention_heads:
            raise ValueError(
                f"{self.agent}.attention_heads = {self.attention_heads} must divide "
                f"{self.agent}.embedding_dim = {dim}"
            )

    @staticmethod
    def merged(
        own: dict[str, hp.Range], choices: dict[str, tuple[str, ...]] | None = None
    ) -> tuple[dict[str, hp.Range], dict[str, tuple[str, ...]]]:
        """An agent config's ``bounds`` and ``choices`` with the encoder's added."""
        return (
            {**EncoderSettings.bounds, **own},
            {**EncoderSettings.choices, **(choices or {})},
        )


class SequenceEncoder(nn.Module):
    """Observation -> state vector ``(n, hidden)`` by causal self-attention; see the module
    docstring. Same attributes as ``StateEncoder`` (``items``, ``candidates``, ``output_dim``)."""

    def __init__(
        self,
        config: EnvConfig,
        item_category: NDArray[np.int64],
        dim: int,
        hidden: int,
        settings: EncoderSettings,
    ) -> None:
        super().__init__()
        n_categories, length = config.catalog.n_categories, config.history_length
        self.items = ItemFeatures(item_category, n_categories, dim)
        self.event = nn.Embedding(len(EVENT_NAMES), dim)
        self.position = nn.Embedding(length + 1, dim)  # index 0: the "now" token
        self.query = nn.Embedding(n_categories + 1, dim)
        self.now = nn.Parameter(torch.zeros(dim))
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim,
                settings.attention_heads,
                dim_feedforward=2 * dim,
                dropout=settings.attention_dropout,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(settings.attention_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.n_heads, self.n_items = settings.attention_heads, config.catalog.n_items
        # chronological order: the oldest slot first, the "now" token last
        self.register_buffer("order", torch.arange(length - 1, -1, -1))
        self.register_buffer("positions", torch.arange(length, -1, -1))
        self.register_buffer("causal", torch.ones(length + 1, length + 1).tril().bool())
        self.candidates = CandidateFeatures(item_category, n_categories, length)
        self.body = nn.Sequential(
            nn.Linear(2 * dim + len(SESSION_FEATURES), hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.output_dim = hidden

    def attention_mask(self, present: torch.Tensor) -> torch.Tensor:
        """``(n * heads, L, L)``, True where attention is *not* allowed: later tokens, and
        empty slots other than the token itself (so a row always keeps one key)."""
        tokens = present.shape[1]
        itself = torch.eye(tokens, dtype=torch.bool, device=present.device)
        allowed = self.causal & (present[:, None, :] | itself)
        return (~allowed).repeat_interleave(self.n_heads, dim=0)

    def tokens(self, observation: ObservationTensors) -> tuple[torch.Tensor, torch.Tensor]:
        """The input sequence ``(n, L, dim)`` oldest to newest plus "now", and which of its
        tokens are present ``(n, L)``."""
        # the observation's own history tensor is embedded (explanations hook that call),
        # then put in chronological order
        events = observation.history_events[:, self.order]
        n = len(events)
        entries = self.items(observation.history)[:, self.order] + self.event(events)
        now = (self.query(observation.query) + self.now)[:, None, :]
        sequence = torch.cat([entries, now], dim=1)
        sequence = sequence + self.position(self.positions.expand(n, -1).contiguous())
        present = torch.cat(
            [events > 0, torch.ones(n, 1, dtype=torch.bool, device=events.device)], 1
        )
        return sequence, present

    def forward(self, observation: ObservationTensors) -> torch.Tensor:
        sequence, present = self.tokens(observation)
        mask = self.attention_mask(present)
        for block in self.blocks:
            sequence = block(sequence, src_mask=mask)
        summary = self.norm(sequence[:, -1])
        in_cart = (observation.cart < self.n_items).unsqueeze(-1).float()
        cart = (self.items(observation.cart) * in_cart).sum(dim=1)
        session = torch.log1p(observation.session)
        return self.body(torch.cat([summary, cart, session], dim=1))


def build_encoder(
    env_config: EnvConfig,
    item_category: NDArray[np.int64],
    dim: int,
    hidden: int,
    settings: EncoderSettings,
) -> StateEncoder | SequenceEncoder:
    """The state encoder ``settings.encoder`` names."""
    if settings.encoder == "transformer":
        return SequenceEncoder(env_config, item_category, dim, hidden, settings)
    return StateEncoder(env_config, item_category, dim, hidden)
