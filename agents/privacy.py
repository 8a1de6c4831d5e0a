"""Differentially private training of the log-trained recommenders: DP-SGD with Opacus.

**What is protected.** The unit of privacy is a *logged shopper session*: the guarantee
``(epsilon, delta)`` bounds what the trained weights reveal about whether any one session
(all its impressions together) was in the log. Opacus clips per *sample*; here a sample is a
session: Opacus's hooks give per-row gradients (``loss_reduction="mean"`` rescales them to
each row's own loss), ``group_by_session`` sums them per session, and the ``DPOptimizer``
clips each session's summed gradient to ``max_grad_norm``, adds Gaussian noise of standard
deviation ``noise_multiplier * max_grad_norm`` and divides by the expected number of
sessions per batch. Batches are Poisson samples of *sessions* (Opacus's ``DPDataLoader``,
sample rate q = expected sessions per batch / sessions), which is what the accountant
(PRV or RDP, Opacus's) assumes. Clipping per row instead would protect one impression only:
a session of 30 impressions would then be covered at about 30 times the epsilon.

**Public by assumption.** The number of logged sessions and rows (they set q and the
default delta), the architecture and hyperparameters, and everything simulated rather than
logged: the validation shoppers of model selection (``agents.selection``) are drawn by the
simulator, not taken from the log, so choosing among epochs on them is post-processing.
The held-out *log* sessions are not trained on; the figures reported on them (AUC, log-loss,
NDCG) are an evaluation, like any test-set figure, and are not covered by epsilon.

**Per-sample gradients.** Opacus's hooks compute them layer by layer and pair each call of
a layer with its backward pass in reverse call order. The response model calls its item
embedding four times per batch (history, cart, the clicked and the purchased heads'
candidates), in branches whose backward passes autograd does not run in reverse order, so
the hooks pair them wrongly (checked against single rows: every row of the item and category
tables off, up to a factor of 2); and Opacus's ``DPMultiheadAttention`` (what
``ModuleValidator.fix`` puts in place of ``nn.MultiheadAttention``) rejects the attention
encoder's per-head 3-D mask when ``batch_first``. ``per_row_gradients`` instead
differentiates each row's loss through the whole model at once with ``torch.func`` (``vmap``
of ``grad`` over ``functional_call``: what Opacus's functorch mode does per layer), for any
encoder, unchanged; Opacus runs in its ``no_op`` mode on the model's parameters
(``_Parameters``), taking those gradients as given, and does the Poisson sampling, the
clipping, the noise and the accounting. Training uses the pair-scoring path (one item per
row), never the catalog table.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from opacus import PrivacyEngine
from torch import nn
from torch.utils._pytree import tree_map
from torch.utils.data import DataLoader, TensorDataset

from agents.logs import InteractionLog

MODES = ("off", "epsilon", "noise")
ACCOUNTANTS = ("prv", "rdp")
DELTA_PER_SESSION = 0.1  # default delta = 0.1 / sessions: well below 1/N (see auto_delta)
# Opacus's notices that do not apply here, silenced while it runs: the RNG is seeded on
# purpose (reproducible runs; Opacus's secure_mode is for a production release), the PRV
# accountant's RDP bound is only its starting point, and vmap runs attention's backward
# row by row (correct, slower: the cost is in the README).
QUIET = (
    "Secure RNG turned off",
    "Optimal order is the largest alpha",
    "we have not yet implemented the batching rule",  # attention's backward: a slower loop
)


@contextlib.contextmanager
def quiet_opacus() -> Iterator[None]:
    with warnings.catch_warnings():
        for message in QUIET:
            warnings.filterwarnings("ignore", message=message)
        yield


@dataclass(frozen=True)
class PrivacySettings:
    """DP-SGD settings (the agents' ``dp_*`` hyperparameters)."""

    mode: str  # off | epsilon (noise chosen to spend target_epsilon) | noise (fixed)
    target_epsilon: float
    noise_multiplier: float
    max_grad_norm: float
    delta: float  # 0: auto_delta
    accountant: str

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


def auto_delta(n_sessions: int) -> float:
    """``0.1 / sessions``. Releasing one whole session at random already satisfies
    ``(0, 1/N)``-DP, so a meaningful delta must sit well below ``1/N``."""
    return DELTA_PER_SESSION / max(1, n_sessions)


def make_engine(settings: PrivacySettings) -> PrivacyEngine:
    """Opacus's ``PrivacyEngine`` with the settings' accountant (one per agent: its
    accountant composes the agent's private fits)."""
    with quiet_opacus():
        return PrivacyEngine(accountant=settings.accountant)


Batch = Any  # a pytree (tuples, named tuples) of tensors whose first dimension is the rows
RowLoss = Callable[[nn.Module, Batch], torch.Tensor]  # mean loss of a batch's rows


class _Bound(nn.Module):
    """``loss(model, batch)`` as a module, so ``functional_call`` can swap the weights."""

    def __init__(self, model: nn.Module, loss: RowLoss) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.loss(self.model, batch)


def per_row_gradients(model: nn.Module, loss: RowLoss, batch: Batch) -> list[torch.Tensor]:
    """The gradient of each row's own loss, ``(rows, *p.shape)`` per trainable parameter.

    ``vmap`` over rows of ``grad`` of ``loss`` on a batch of one row; buffers are shared,
    dropout draws per row (``randomness="different"``), as in a batch.
    """
    bound = _Bound(model, loss)
    names = [name for name, p in bound.named_parameters() if p.requires_grad]
    parameters = {name: p.detach() for name, p in bound.named_parameters() if p.requires_grad}
    buffers = dict(bound.named_buffers())
    # functional_call runs on a copy: on a module reachable by two paths (the item table of
    # the encoder and both heads) torch 2.13 does not put the original weights back
    stateless = copy.deepcopy(bound)

    def row_loss(weights: dict[str, torch.Tensor], row: Batch) -> torch.Tensor:
        one = tree_map(lambda tensor: tensor.unsqueeze(0), row)
        return torch.func.functional_call(stateless, {**weights, **buffers}, (one,))

    gradients = torch.func.vmap(
        torch.func.grad(row_loss), in_dims=(None, 0), randomness="different"
    )(parameters, batch)
    return [gradients[name] for name in names]


class _Parameters(nn.Module):
    """A model's trainable parameters (the same objects) and nothing else: what Opacus's
    ``no_op`` mode manages and validates. Its layer checks guard its hooks, which are not
    used here, so the model itself never needs to pass them."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.weights = nn.ParameterList([p for p in model.parameters() if p.requires_grad])


class SessionRows:
    """Logged rows grouped by session: which rows a batch of session indices holds."""

    def __init__(self, session: NDArray[np.int64]) -> None:
        self.order = np.argsort(session, kind="stable")
        _, counts = np.unique(session[self.order], return_counts=True)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def rows(self, sessions: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The rows of ``sessions`` and, per row, the index of its session in ``sessions``."""
        starts, ends = self.offsets[sessions], self.offsets[sessions + 1]
        counts = ends - starts
        owner = np.repeat(np.arange(len(sessions)), counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return self.order[np.repeat(starts, counts) + within], owner


def group_by_session(
    parameters: list[nn.Parameter],
    per_row: list[torch.Tensor] | None,
    owner: torch.Tensor,
    n_sessions: int,
) -> None:
    """Set each parameter's ``grad_sample`` (what Opacus clips) to its per-session sums
    ``(sessions, *p.shape)`` of the per-row gradients ``(rows, *p.shape)``.

    An empty batch (no session sampled, ``per_row`` None) gets empty per-sample gradients:
    Opacus then still adds the noise and counts the step, as Poisson sampling requires.
    """
    for i, p in enumerate(parameters):
        rows = per_row[i] if per_row is not None else p.new_zeros((0, *p.shape))
        grouped = rows.new_zeros((n_sessions, *p.shape))
        p.grad_sample = grouped.index_add_(0, owner, rows)


class PrivateTraining:
    """DP-SGD on a log: Opacus's ``PrivacyEngine`` over Poisson-sampled sessions.

    ``engine`` is kept by the agent across fits, so its accountant composes every fit's
    steps (``epsilon`` is the total spent). ``epochs`` is the planned number of passes:
    in ``epsilon`` mode the noise is set so that they spend ``target_epsilon``.
    """

    def __init__(
        self,
        engine: PrivacyEngine,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        train: InteractionLog,
        settings: PrivacySettings,
        batch_rows: int,
        epochs: int,
        seed: int,
    ) -> None:
        self.train, self.settings = train, settings
        self.sessions = SessionRows(train.session)
        n_sessions = len(self.sessions)
        # expected rows per batch as the non-private fit's batch_size
        batch_sessions = max(1, min(n_sessions, round(batch_rows * n_sessions / len(train))))
        loader = DataLoader(
            TensorDataset(torch.arange(n_sessions)),
            batch_size=batch_sessions,
            generator=torch.Generator().manual_seed(seed),
        )
        self.delta = settings.delta or auto_delta(n_sessions)
        device = next(model.parameters()).device
        common = {
            "module": _Parameters(model),
            "optimizer": optimizer,
            "data_loader": loader,
            "max_grad_norm": settings.max_grad_norm,
            "poisson_sampling": True,
            "noise_generator": torch.Generator(device).manual_seed(seed + 1),
            "grad_sample_mode": "no_op",  # per-row gradients come from per_row_gradients
            "wrap_model": False,  # the agent's own model, unwrapped: acting code is untouched
        }
        with quiet_opacus():
            self.hooks, self.optimizer, self.loader = self._make_private(engine, epochs, common)
        self.engine, self.device, self.model = engine, device, model
        self.parameters = [p for p in model.parameters() if p.requires_grad]

    def _make_private(self, engine: PrivacyEngine, epochs: int, common: dict) -> tuple:
        settings = self.settings
        if settings.mode == "epsilon":
            return engine.make_private_with_epsilon(
                target_epsilon=settings.target_epsilon,
                target_delta=self.delta,
                epochs=epochs,
                **common,
            )
        return engine.make_private(noise_multiplier=settings.noise_multiplier, **common)

    def batches(self) -> Iterator[tuple[InteractionLog | None, torch.Tensor, int]]:
        """One epoch of Poisson batches: (rows or None when empty, row owners, sessions)."""
        for (sessions,) in self.loader:
            rows, owner = self.sessions.rows(sessions.numpy())
            subset = self.train.subset(rows) if len(rows) else None
            yield subset, torch.as_tensor(owner, device=self.device), len(sessions)

    def epoch(self, loss: RowLoss, tensors: Callable[[InteractionLog], Batch]) -> None:
        """One pass: ``loss(model, tensors(rows))`` is the mean loss of a batch's rows."""
        with quiet_opacus():
            for rows, owner, n_sessions in self.batches():
                self.step(loss, tensors(rows) if rows is not None else None, owner, n_sessions)

    def step(
        self, loss: RowLoss, batch: Batch | None, owner: torch.Tensor, n_sessions: int
    ) -> None:
        """One DP-SGD step on a batch (None: an empty Poisson sample)."""
        self.optimizer.zero_grad(set_to_none=True)
        per_row = per_row_gradients(self.model, loss, batch) if batch is not None else None
        group_by_session(self.parameters, per_row, owner, n_sessions)
        self.optimizer.step()

    def close(self) -> None:
        """Remove Opacus's per-sample attributes from the model's parameters."""
        self.optimizer.zero_grad(set_to_none=True)
        self.hooks.cleanup()

    def report(self) -> dict[str, float]:
        """The accountant's spend so far (every fit of this engine) and this fit's DP-SGD
        parameters; without noise (clipping only) epsilon is infinite."""
        history = self.engine.accountant.history
        noise = float(self.optimizer.noise_multiplier)
        with quiet_opacus():
            epsilon = self.engine.accountant.get_epsilon(self.delta) if noise > 0 else math.inf
        return {
            "dp_epsilon": float(epsilon),
            "dp_delta": self.delta,
            "dp_noise_multiplier": noise,
            "dp_max_grad_norm": self.settings.max_grad_norm,
            "dp_sample_rate": float(history[-1][1]),
            "dp_steps": float(sum(steps for _, _, steps in history)),
            "dp_sessions": float(len(self.sessions)),
        }
