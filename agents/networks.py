"""Torch building blocks shared by the neural agents: observation tensors, state encoder, heads.

The state encoder turns a shopper's observation into a vector: every history entry is an
item embedding + its category's embedding + its event + its recency, passed through a
small layer and summed (a DeepSets pooling, order-aware through recency); the cart is
pooled the same way; the session features (log-scaled) and the query are appended. Item
scores are dot products of a projection of that vector with output item embeddings
(plus a bias), so a catalog of 100,000 items costs one matrix product.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from agents.base import load_agent, save_agent_files
from agents.threads import configure_threads
from recenv.sim.config import EnvConfig
from recenv.sim.state import EVENT_NAMES, SESSION_FEATURES


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; anything else is passed to ``torch.device``.
    Every torch agent resolves its device first: torch's CPU threads are set here, once
    per process (``agents.threads``)."""
    configure_threads()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class ObservationTensors(NamedTuple):
    """A batched observation as tensors on the model's device."""

    history: torch.Tensor  # (n, H) long
    history_events: torch.Tensor  # (n, H) long
    cart: torch.Tensor  # (n, C) long
    session: torch.Tensor  # (n, F) float
    query: torch.Tensor  # (n,) long


def to_tensors(observation: Mapping[str, NDArray], device: torch.device) -> ObservationTensors:
    """Convert a batched numpy observation (a single one gets a batch axis of 1)."""
    if np.ndim(observation["query"]) == 0:
        observation = {key: np.asarray(value)[None] for key, value in observation.items()}
    return ObservationTensors(
        history=torch.as_tensor(observation["history"], dtype=torch.long, device=device),
        history_events=torch.as_tensor(
            observation["history_events"], dtype=torch.long, device=device
        ),
        cart=torch.as_tensor(observation["cart"], dtype=torch.long, device=device),
        session=torch.as_tensor(observation["session"], dtype=torch.float32, device=device),
        query=torch.as_tensor(observation["query"], dtype=torch.long, device=device),
    )


SERVING_BATCH = 8  # batches up to this size reuse their output buffers when not training


def scratch(
    owner: nn.Module, name: str, shape: tuple[int, ...], device: torch.device
) -> torch.Tensor | None:
    """A buffer kept on ``owner`` for small inference batches, else None (allocate)."""
    if torch.is_grad_enabled() or shape[0] > SERVING_BATCH:
        return None
    buffers = owner.__dict__.setdefault("_scratch", {})
    buffer = buffers.get(name)
    if buffer is None or buffer.shape != shape or buffer.device != device:
        buffer = buffers[name] = torch.empty(shape, device=device)
    return buffer


class ItemFeatures(nn.Module):
    """Per-item vectors: a learned id embedding plus the embedding of its (observable) category."""

    def __init__(self, item_category: NDArray[np.int64], n_categories: int, dim: int) -> None:
        super().__init__()
        n_items = len(item_category)
        # id n_items is the padding of histories and carts: its vector stays zero
        self.item = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.category = nn.Embedding(n_categories + 1, dim, padding_idx=n_categories)
        padded_category = np.append(item_category, n_categories)
        self.register_buffer("item_category", torch.as_tensor(padded_category, dtype=torch.long))
        nn.init.normal_(self.item.weight, std=0.1)
        nn.init.normal_(self.category.weight, std=0.1)
        with torch.no_grad():
            self.item.weight[n_items].zero_()
            self.category.weight[n_categories].zero_()

        self._table: tuple[tuple[int, int], torch.Tensor] | None = None

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.item(items) + self.category(self.item_category[items])

    def table(self) -> torch.Tensor:
        """Vectors of every catalog item ``(M, dim)``.

        Without gradients (acting, targets) the table is cached until the weights change
        (their version counters move on every in-place update): serving one shopper on a
        100,000-item catalog then costs a matrix-vector product, not a 100,000-row gather.
        """
        n_items = self.item.num_embeddings - 1
        if torch.is_grad_enabled():
            return self.item.weight[:n_items] + self.category(self.item_category[:n_items])
        version = (self.item.weight._version, self.category.weight._version)
        if self._table is None or self._table[0] != version:
            table = self.item.weight[:n_items] + self.category(self.item_category[:n_items])
            # kept transposed and contiguous: (dim, M) streams through the product twice as fast
            self._table = (version, table.T.contiguous().T)
        return self._table[1]


class StateEncoder(nn.Module):
    """Observation -> state vector ``(n, hidden)``; see the module docstring."""

    def __init__(
        self, config: EnvConfig, item_category: NDArray[np.int64], dim: int, hidden: int
    ) -> None:
        super().__init__()
        n_categories = config.catalog.n_categories
        self.items = ItemFeatures(item_category, n_categories, dim)
        self.event = nn.Embedding(len(EVENT_NAMES), dim)
        self.recency = nn.Embedding(config.history_length, dim)
        self.query = nn.Embedding(n_categories + 1, dim)
        self.entry = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.register_buffer("positions", torch.arange(config.history_length))
        self.n_items = config.catalog.n_items
        self.candidates = CandidateFeatures(item_category, n_categories, config.history_length)
        inputs = 3 * dim + len(SESSION_FEATURES)
        self.body = nn.Sequential(
            nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.output_dim = hidden

    def forward(self, observation: ObservationTensors) -> torch.Tensor:
        present = (observation.history_events > 0).unsqueeze(-1).float()  # (n, H, 1)
        entries = (
            self.items(observation.history)
            + self.event(observation.history_events)
            + self.recency(self.positions)
        )
        history = (self.entry(entries) * present).sum(dim=1)
        in_cart = (observation.cart < self.n_items).unsqueeze(-1).float()
        cart = (self.items(observation.cart) * in_cart).sum(dim=1)
        session = torch.log1p(observation.session)
        state = torch.cat([history, cart, self.query(observation.query), session], dim=1)
        return self.body(state)


class CandidateFeatures(nn.Module):
    """What the observation says about each candidate item, without learning anything.

    For item j: the recency-weighted exposure of j's category in the history (how tired
    of it the shopper may be), the recency-weighted exposure of j itself, and whether j
    is in the cart. Weights are ``recency_decay ** position`` (position 0 = most recent).
    """

    N_FEATURES = 3

    def __init__(
        self,
        item_category: NDArray[np.int64],
        n_categories: int,
        history_length: int,
        recency_decay: float = 0.85,
    ) -> None:
        super().__init__()
        self.n_items, self.n_categories = len(item_category), n_categories
        padded_category = np.append(item_category, n_categories)
        self.register_buffer("item_category", torch.as_tensor(padded_category, dtype=torch.long))
        self.register_buffer("recency", recency_decay ** torch.arange(history_length).float())

    def exposures(self, observation: ObservationTensors) -> tuple[torch.Tensor, ...]:
        """Per-shopper tables: category exposure (n, C+1), item exposure and cart (n, M+1)."""
        n = len(observation.history)
        weight = self.recency * (observation.history_events > 0).float()
        # out of place: per-row gradients (torch.func.vmap, agents.privacy) cannot write
        # a row's values into a tensor made without the row dimension
        category = torch.zeros(n, self.n_categories + 1, device=weight.device).scatter_add(
            1, self.item_category[observation.history], weight
        )
        item = torch.zeros(n, self.n_items + 1, device=weight.device).scatter_add(
            1, observation.history, weight
        )
        cart = torch.zeros(n, self.n_items + 1, device=weight.device).scatter(
            1, observation.cart, 1.0
        )
        return category, item, cart

    def score(
        self,
        observation: ObservationTensors,
        coefficients: torch.Tensor,
        items: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``sum_f coefficients[:, f] * feature_f(s, j)`` for every item (or one per row)."""
        if items is None:
            n_items = self.n_items
            zeros = torch.zeros(len(coefficients), n_items, device=coefficients.device)
            return self.add_catalog_scores(zeros, observation, coefficients)
        category, item, cart = self.exposures(observation)
        rows = torch.arange(len(items), device=items.device)
        tables = (category[rows, self.item_category[items]], item[rows, items], cart[rows, items])
        return sum(c * t for c, t in zip(coefficients.T, tables, strict=True))

    def add_catalog_scores(
        self, scores: torch.Tensor, observation: ObservationTensors, coefficients: torch.Tensor
    ) -> torch.Tensor:
        """Add the sum to ``scores`` ``(n, M)`` in place, for every item.

        Only the category term touches all M items (one gather); the repetition and cart
        terms are scattered onto the few items they concern (padding entries add zero).
        """
        n = len(observation.history)
        weight = self.recency * (observation.history_events > 0).float()
        category = torch.zeros(n, self.n_categories + 1, device=weight.device).scatter_add_(
            1, self.item_category[observation.history], weight * coefficients[:, :1]
        )
        category_terms = scratch(self, "category_terms", scores.shape, scores.device)
        scores.add_(
            torch.index_select(category, 1, self.item_category[: self.n_items], out=category_terms)
            if category_terms is not None
            else category.index_select(1, self.item_category[: self.n_items])
        )
        last = self.n_items - 1
        scores.scatter_add_(1, observation.history.clamp(max=last), weight * coefficients[:, 1:2])
        cart = observation.cart
        earlier = torch.ones(cart.shape[1], cart.shape[1], device=cart.device).tril(-1).bool()
        repeated = ((cart[:, :, None] == cart[:, None, :]) & earlier).any(dim=2)
        counted = ((cart < self.n_items) & ~repeated).float()  # each carted item once
        scores.scatter_add_(1, cart.clamp(max=last), counted * coefficients[:, 2:3])
        return scores


class ItemScoreHead(nn.Module):
    """``score(s, j) = <W s, item_j> + b_j + sum_f a_f(s) x_f(s, j)``.

    The bilinear term uses the item vectors of ``ItemFeatures``; ``x_f`` are the
    ``CandidateFeatures`` (category fatigue, repetition, cart) with state-dependent weights
    ``a(s) = A s``.
    """

    def __init__(
        self, items: ItemFeatures, candidates: CandidateFeatures, hidden: int, dim: int
    ) -> None:
        super().__init__()
        self.items, self.candidates = items, candidates
        self.project = nn.Linear(hidden, dim)
        self.coefficients = nn.Linear(hidden, CandidateFeatures.N_FEATURES)
        n_items = items.item.num_embeddings - 1
        self.bias = nn.Parameter(torch.zeros(n_items))

    def forward(self, state: torch.Tensor, observation: ObservationTensors) -> torch.Tensor:
        """Scores ``(n, M)``. For a serving-size batch without gradients the result lives in
        a reused buffer (valid until the next call): no 100,000-float allocation per call."""
        shape = (len(state), self.bias.shape[0])
        out = scratch(self, "scores", shape, state.device)
        projected = self.project(state)
        if out is None:
            scores = torch.addmm(self.bias, projected, self.items.table().T)
        else:
            scores = torch.addmm(self.bias, projected, self.items.table().T, out=out)
        return self.candidates.add_catalog_scores(scores, observation, self.coefficients(state))

    def pair_scores(
        self, state: torch.Tensor, observation: ObservationTensors, items: torch.Tensor
    ) -> torch.Tensor:
        """Scores of one item per state row, without scoring the whole catalog."""
        scores = (self.project(state) * self.items(items)).sum(dim=1) + self.bias[items]
        return scores + self.candidates.score(observation, self.coefficients(state), items)


class LinearScoreHead(nn.Module):
    """A plain ``Linear(hidden, n_items)`` output head, for small catalogs."""

    def __init__(self, hidden: int, n_items: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, n_items)

    def forward(self, state: torch.Tensor, observation: ObservationTensors) -> torch.Tensor:
        return self.linear(state)


def load_weights(path: Path, device: torch.device) -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True``; a corrupt file becomes a clear ValueError."""
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint weights at {path}")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises several unrelated types for a bad file
        raise ValueError(f"checkpoint weights {path} cannot be read: {error}") from error
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint weights {path} must hold a dict of state dicts")
    return state


def save_atomically(path: Path, state: Mapping[str, Any]) -> None:
    """``torch.save`` a dict of tensors through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save(dict(state), temporary)
    temporary.replace(path)


def load_state_dicts(
    path: Path, modules: Mapping[str, Any], device: torch.device
) -> dict[str, Any]:
    """Load each entry of a weights file into the module (or optimizer) of that name.

    A file written for another network raises a ValueError; returns the whole file.
    """
    state = load_weights(path, device)
    try:
        for name, module in modules.items():
            module.load_state_dict(state[name])
    except (KeyError, RuntimeError, ValueError) as error:
        raise ValueError(f"checkpoint {path.parent} does not match this agent: {error}") from error
    return state


def save_torch_agent(
    path: str | Path,
    kind: str,
    agent: Any,
    weights: Mapping[str, Any],
    hyperparameters: Mapping[str, Any] | None = None,
    **extra: Any,
) -> None:
    """A neural agent's checkpoint: ``weights.pt`` (``weights``: modules and optimizers by
    their ``state_dict``, other entries as they are), then ``agent.json`` (kind, env config,
    hyperparameters (default: ``agent.config``), seed and ``extra``), each atomically."""
    if hyperparameters is None:
        hyperparameters = dataclasses.asdict(agent.config)
    state = {
        name: value.state_dict() if hasattr(value, "state_dict") else value
        for name, value in weights.items()
    }
    save_atomically(Path(path) / "weights.pt", state)
    extra = {"seed": agent.seed, **extra}
    save_agent_files(path, kind, agent.env_config, hyperparameters, extra=extra)


def load_torch_agent(
    cls: type,
    path: str | Path,
    kind: str,
    env_config: EnvConfig | None,
    device: str,
    modules: Callable[[Any], Mapping[str, Any]],
    **arguments: Any,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Rebuild a neural agent (``agents.base.load_agent``) and load ``weights.pt`` into
    ``modules(agent)``; returns the agent, its JSON metadata and the whole weights file."""
    agent, meta, _ = load_agent(cls, path, kind, env_config, device=device, **arguments)
    state = load_state_dicts(Path(path) / "weights.pt", modules(agent), agent.device)
    return agent, meta, state
