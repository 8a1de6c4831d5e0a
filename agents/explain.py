"""Explanations of one recommendation: which history items and features drove it.

**Torch agents** (DQN's Q-value, the MLP's predicted immediate reward, any model whose state
encoder embeds the history ids with ``encoder.items``). The score ``s(x, j)`` of item ``j``
in observation ``x`` is attributed along a path from the baseline ``b``, the *empty*
observation: every history slot empty (the padding id, event 0 = not present, as the env
encodes a slot it has not filled), an empty cart, the session features of a fresh first
visit (zeros), no query. ``b`` is a real input and ``s(b, j)`` the model's own output, so an
entry's attribution is its share in "what this shopper's activity changed", and removing
an entry from ``x`` is moving it to ``b``: the deletion test checks exactly that.

* Leg 1, Captum ``ShapleyValueSampling``: the item embeddings held at the padding item's
  (zero), the ids and events of the history entries, the cart slots and the query are put
  back in random orders: what the model reads from an entry's presence, its event, its
  position, and the ids themselves (``networks.CandidateFeatures``: repetition, category
  fatigue, cart membership), shared fairly among entries even where they interact. Each
  order's contributions add up to the whole leg, so the leg is exact however few are drawn.
* Leg 2, Captum ``IntegratedGradients``: with the ids at ``x``, the embeddings
  ``encoder.items`` gives the history and the cart (and the query embedding) move from the
  padding item's to the items', and the session features from 0 to theirs: what the learned
  item vectors and the session contributed.

An entry's attribution is the sum of its two legs, and all attributions add up to
``s(x, j) - s(b, j)`` up to ``convergence_delta``, the error of leg 2's integral measured
against the model's own outputs. Embeddings are replaced by forward hooks matched on the id
tensor being embedded, not by ``LayerIntegratedGradients``, which replaces *every* output
of the layer, and ``encoder.items`` also embeds the cart and the candidate item.

**K-means**: the shopper's cluster (the nearest centre), the categories its centre holds
more than the average centre does, and how the item scores there and in the other clusters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from captum.attr import IntegratedGradients, ShapleyValueSampling
from numpy.typing import NDArray
from torch import nn

from agents.base import unseen_mask
from agents.networks import ObservationTensors, to_tensors
from recenv.sim.state import EVENT_NAMES, EVENT_PAD, SESSION_FEATURES

PairScore = Callable[[ObservationTensors, torch.Tensor], torch.Tensor]  # (obs, items) -> (n,)
IG_STEPS = 32  # Gauss-Legendre points of leg 2's integral
SHAPLEY_ORDERS = 16  # random orders of leg 1 (its sum is exact; the split is an estimate)
SHAPLEY_SEED = 0  # leg 1's orders are drawn from this seed, inside a forked torch RNG


@dataclass(frozen=True)
class HistoryEntry:
    """One observed history entry (position 0 = most recent) and its attribution."""

    position: int
    item: int
    event: str
    attribution: float


@dataclass(frozen=True)
class CartEntry:
    """One carted item and its attribution."""

    slot: int
    item: int
    attribution: float


@dataclass(frozen=True)
class Explanation:
    """Why a torch agent scored ``item`` as it did; attributions add up to
    ``score - baseline_score`` up to ``convergence_delta``."""

    item: int
    score_name: str
    score: float
    baseline_score: float
    history: tuple[HistoryEntry, ...]  # present entries only
    cart: tuple[CartEntry, ...]  # carted items only
    session: Mapping[str, float]  # per session feature
    query: int | None  # the searched category; None: no query
    query_attribution: float
    convergence_delta: float

    def top_history(self, k: int = 3) -> tuple[HistoryEntry, ...]:
        """The ``k`` entries that raised the score most."""
        return tuple(sorted(self.history, key=lambda entry: -entry.attribution)[:k])

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Attributions:
    """Per-row attribution arrays of a batch: the numbers behind ``Explanation``."""

    history: NDArray[np.float64]  # (n, H)
    cart: NDArray[np.float64]  # (n, C)
    session: NDArray[np.float64]  # (n, F)
    query: NDArray[np.float64]  # (n,)
    score: NDArray[np.float64]  # (n,) s(x, j)
    baseline_score: NDArray[np.float64]  # (n,) s(b, j)
    convergence_delta: NDArray[np.float64]  # (n,) sum of attributions - (score - baseline)


@contextmanager
def substituted(
    substitutes: Sequence[tuple[nn.Module, torch.Tensor, torch.Tensor | None]],
) -> Iterator[set[int]]:
    """While open, ``module(ids)`` returns the paired value for each ``(module, ids, value)``
    (``ids`` matched by identity; a None value keeps the output); yields the indices used."""
    used: set[int] = set()

    def hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> Any:
        for index, (owner, ids, value) in enumerate(substitutes):
            if owner is module and args and args[0] is ids:
                used.add(index)
                return value
        return None

    handles = [owner.register_forward_hook(hook) for owner in {s[0] for s in substitutes}]
    try:
        yield used
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """No dropout while explaining; the training flag is restored afterwards."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


class TorchExplainer:
    """Attributions of ``score(observation, items)`` for a model with a state encoder."""

    def __init__(
        self, model: nn.Module, encoder: nn.Module, score: PairScore, score_name: str, config: Any
    ) -> None:
        self.model, self.score, self.score_name = model, score, score_name
        self.items_module = encoder.items
        query = getattr(encoder, "query", None)
        self.query_module = query if isinstance(query, nn.Embedding) else None
        self.pad_item, self.no_query = config.catalog.n_items, config.catalog.n_categories
        self.device = next(model.parameters()).device

    def explain(
        self, observation: Mapping[str, NDArray], item: int | NDArray[np.int64]
    ) -> Explanation | list[Explanation]:
        """One ``Explanation`` for a single observation and item, a list for a batch."""
        single = np.ndim(observation["query"]) == 0
        tensors = to_tensors(observation, self.device)
        items = torch.as_tensor(np.atleast_1d(item), dtype=torch.long, device=self.device)
        found = self.attribute(tensors, items)
        rows = [self._explanation(tensors, items, found, row) for row in range(len(items))]
        return rows[0] if single else rows

    def attribute(self, observation: ObservationTensors, items: torch.Tensor) -> Attributions:
        """Both legs of the module docstring, for every row at once."""
        baseline = self.baseline(observation)
        with evaluation_mode(self.model), torch.no_grad():
            score = self.score(observation, items).double()
            baseline_score = self.score(baseline, items).double()
            embedded = self._embeddings(observation, baseline)
        names = list(embedded)  # what leg 2 moves: history, cart and query if embedded, session
        held = [name for name in names if name != "session"]

        def embeddings_leg(*args: torch.Tensor) -> torch.Tensor:  # embeddings b -> x, ids at x
            values = dict(zip(names, args[: len(names)], strict=True))
            # zero times every input: one the model ignores still reaches the graph (a zero
            # gradient) instead of failing Captum's autograd call
            unused = sum(0.0 * value.flatten(1).sum(1) for value in values.values())
            ids = ObservationTensors(*args[len(names) : -1])._replace(session=values.pop("session"))
            return self._score_with(ids, values, args[-1]) + unused

        def ids_leg(history, events, cart, query, session, *rest: torch.Tensor) -> torch.Tensor:
            ids = ObservationTensors(history, events, cart, session, query)  # ids b -> x
            return self._score_with(ids, dict(zip(held, rest[:-1], strict=True)), rest[-1])

        with evaluation_mode(self.model), torch.random.fork_rng(devices=[]):
            with torch.no_grad():
                torch.manual_seed(SHAPLEY_SEED)  # Captum draws orders from torch's global RNG
                restored = ShapleyValueSampling(ids_leg).attribute(
                    (
                        observation.history,
                        observation.history_events,
                        observation.cart,
                        observation.query,
                    ),
                    baselines=(self.pad_item, EVENT_PAD, self.pad_item, self.no_query),
                    additional_forward_args=(
                        baseline.session,
                        *(embedded[name][1] for name in held),
                        items,
                    ),
                    feature_mask=self._players(observation),
                    n_samples=SHAPLEY_ORDERS,
                    perturbations_per_eval=4,
                )
            integrated = IntegratedGradients(embeddings_leg).attribute(
                tuple(embedded[name][0] for name in names),
                baselines=tuple(embedded[name][1] for name in names),
                additional_forward_args=(*observation, items),
                n_steps=IG_STEPS,
            )
        moved = dict(zip(names, integrated, strict=True))
        history = restored[0].double() + _per_slot(moved["history"], restored[0])
        cart = restored[2].double() + _per_slot(moved.get("cart"), restored[2])
        query = restored[3].double() + _per_slot(moved.get("query"), restored[3])
        session = moved["session"].double()
        total = history.sum(1) + cart.sum(1) + query + session.sum(1)
        delta = total - (score - baseline_score)
        return Attributions(
            *(part.detach().cpu().numpy() for part in (history, cart, session, query, score)),
            baseline_score=baseline_score.cpu().numpy(),
            convergence_delta=delta.detach().cpu().numpy(),
        )

    def baseline(self, observation: ObservationTensors) -> ObservationTensors:
        """``b``: the empty observation (no history, empty cart, zero session, no query)."""
        return ObservationTensors(
            history=torch.full_like(observation.history, self.pad_item),
            history_events=torch.full_like(observation.history_events, EVENT_PAD),
            cart=torch.full_like(observation.cart, self.pad_item),
            session=torch.zeros_like(observation.session),
            query=torch.full_like(observation.query, self.no_query),
        )

    def _embeddings(
        self, observation: ObservationTensors, baseline: ObservationTensors
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``name -> (value at x, value at b)`` of every input leg 2 moves; the cart and the
        query only when the encoder embeds them through the hooked modules (a probe)."""
        modules = self._modules(observation)
        with substituted([(*modules[name], None) for name in modules]) as used:
            self.score(observation, torch.zeros_like(observation.query))
        found = [name for index, name in enumerate(modules) if index in used]
        if "history" not in found:
            raise RuntimeError(
                "the encoder did not embed observation.history with encoder.items; "
                "explanations need the history embedded by that module"
            )
        embedded = {
            name: (modules[name][0](modules[name][1]), modules[name][0](getattr(baseline, name)))
            for name in found
        }
        return {**embedded, "session": (observation.session, baseline.session)}

    def _modules(self, observation: ObservationTensors) -> dict[str, tuple[nn.Module, Any]]:
        """The hooked embedding modules and the id tensors they embed."""
        modules = {
            "history": (self.items_module, observation.history),
            "cart": (self.items_module, observation.cart),
        }
        if self.query_module is not None:
            modules["query"] = (self.query_module, observation.query)
        return modules

    def _score_with(
        self,
        observation: ObservationTensors,
        embeddings: Mapping[str, torch.Tensor],
        items: torch.Tensor,
    ) -> torch.Tensor:
        """The score with the encoder's embeddings of ``observation`` replaced."""
        modules = self._modules(observation)
        substitutes = [(*modules[name], value) for name, value in embeddings.items()]
        with substituted(substitutes) as used:
            score = self.score(observation, items)
        if len(used) != len(substitutes):
            raise RuntimeError("an embedding substitute was never used: the encoder changed")
        return score.clone()  # heads may answer in a reused buffer

    def _players(self, observation: ObservationTensors) -> tuple[torch.Tensor, ...]:
        """Leg 1's players: each history entry (its id and event together), each cart slot,
        the query; a Captum feature mask per input of ``ids_leg``."""
        history_length, cart_capacity = observation.history.shape[1], observation.cart.shape[1]
        entries = torch.arange(history_length, device=observation.history.device)[None]
        slots = history_length + torch.arange(cart_capacity, device=entries.device)[None]
        query = torch.full((1,), history_length + cart_capacity, device=entries.device)
        return entries, entries, slots, query

    def _explanation(
        self, observation: ObservationTensors, items: torch.Tensor, found: Attributions, row: int
    ) -> Explanation:
        history = observation.history[row].tolist()
        events = observation.history_events[row].tolist()
        cart = observation.cart[row].tolist()
        query = int(observation.query[row])
        return Explanation(
            item=int(items[row]),
            score_name=self.score_name,
            score=float(found.score[row]),
            baseline_score=float(found.baseline_score[row]),
            history=tuple(
                HistoryEntry(
                    position, item, EVENT_NAMES[event], float(found.history[row, position])
                )
                for position, (item, event) in enumerate(zip(history, events, strict=True))
                if event > 0
            ),
            cart=tuple(
                CartEntry(slot, item, float(found.cart[row, slot]))
                for slot, item in enumerate(cart)
                if item != self.pad_item
            ),
            session=dict(zip(SESSION_FEATURES, found.session[row].tolist(), strict=True)),
            query=None if query == self.no_query else query,
            query_attribution=float(found.query[row]),
            convergence_delta=float(found.convergence_delta[row]),
        )


def _per_slot(integrated: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """Leg 2's attribution of an embedded input per slot: summed over the embedding's
    dimension; zeros where leg 2 did not move it."""
    if integrated is None:
        return torch.zeros_like(like, dtype=torch.float64)
    return integrated.sum(dim=-1).double()


@dataclass(frozen=True)
class CategoryLift:
    """A category's share in a cluster's centre against the average centre's share."""

    category: int
    share: float
    average: float


@dataclass(frozen=True)
class ClusterExplanation:
    """Why k-means scored ``item`` as it did: the shopper's cluster and what marks it."""

    item: int
    cluster: int
    distance: float  # squared distance of the shopper's features to the cluster's centre
    runner_up: int | None  # the next-nearest cluster (None with a single cluster)
    runner_up_distance: float | None
    shopper_shares: Mapping[int, float]  # the shopper's event-weighted category shares
    has_history: bool
    signature: tuple[CategoryLift, ...]  # categories the centre holds above average, top first
    item_category: int
    item_score: float  # the cluster's smoothed reward per impression of the item
    item_rank: int  # among the items the agent may show this shopper (unseen), 1 = best
    item_score_elsewhere: float  # the item's mean score in the other clusters

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SIGNATURE_SIZE = 3  # categories listed per cluster


def explain_clusters(
    agent: Any, observation: Mapping[str, NDArray], item: int | NDArray[np.int64]
) -> ClusterExplanation | list[ClusterExplanation]:
    """``ClusterExplanation`` of ``agents.kmeans.KMeansAgent`` for one observation and
    item (a list for a batch): the nearest centre, its signature, the item's standing."""
    single = np.ndim(observation["query"]) == 0
    if single:
        observation = {key: np.asarray(value)[None] for key, value in observation.items()}
    items = np.atleast_1d(item)
    features = agent.shopper_features(observation)  # (n, n_categories + 1)
    distances = ((features[:, None, :] - agent.centres[None]) ** 2).sum(axis=2)
    order = np.argsort(distances, axis=1, kind="stable")
    n_items, n_categories = agent.env_config.catalog.n_items, agent.env_config.catalog.n_categories
    allowed = unseen_mask(observation, n_items)
    lift = agent.centres[:, :n_categories] - agent.centres[:, :n_categories].mean(axis=0)
    explanations = []
    for row, item_id in enumerate(items):
        cluster, scores = int(order[row, 0]), agent.cluster_scores
        runner_up = int(order[row, 1]) if len(agent.centres) > 1 else None
        shown = scores[cluster][allowed[row]]
        marked = [c for c in np.argsort(-lift[cluster], kind="stable") if lift[cluster, c] > 0]
        others = np.delete(scores[:, item_id], cluster)
        explanations.append(
            ClusterExplanation(
                item=int(item_id),
                cluster=cluster,
                distance=float(distances[row, cluster]),
                runner_up=runner_up,
                runner_up_distance=None if runner_up is None else float(distances[row, runner_up]),
                shopper_shares={
                    int(c): float(features[row, c]) for c in np.flatnonzero(features[row, :-1])
                },
                has_history=bool(features[row, -1]),
                signature=tuple(
                    CategoryLift(
                        int(c),
                        float(agent.centres[cluster, c]),
                        float(agent.centres[:, c].mean()),
                    )
                    for c in marked[:SIGNATURE_SIZE]
                ),
                item_category=int(agent.item_category[item_id]),
                item_score=float(scores[cluster, item_id]),
                item_rank=int((shown > scores[cluster, item_id]).sum()) + 1,
                item_score_elsewhere=float(others.mean()) if len(others) else float("nan"),
            )
        )
    return explanations[0] if single else explanations
