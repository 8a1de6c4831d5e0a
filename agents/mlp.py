"""MLP: the supervised deep-learning recommender.

Log interactions from a uniform-random behaviour policy, then fit a network that predicts,
for a shopper state s and a candidate item j, ``P(click)`` and ``P(purchase)``:
``logit_e(s, j) = <W_e encoder(s), item_j> + b_e[j]`` for e in {click, purchase}, with the
state encoder and item embeddings of ``agents.networks``. Binary cross-entropy, a
train/validation split by session, early stopping on validation loss. Held-out metrics:
click AUC and log-loss; precision@k, recall@k and NDCG@k of ranking every item for the
first state of each held-out session against the items clicked in it. Acting is greedy on
the predicted immediate reward ``w_click p_click + w_purchase p_purchase price``: the
classic myopic recommender.

With ``dp`` on, the fit is differentially private per logged session (DP-SGD with Opacus,
``agents.privacy``): Poisson-sampled sessions, per-session clipping and noise, and the
accountant's ``(epsilon, delta)`` in the metrics and the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.metrics import log_loss, roc_auc_score
from torch import nn

from agents import hyperparameters as hp
from agents import privacy
from agents.base import (
    EnvSource,
    Info,
    Logger,
    NullLogger,
    Observation,
    RewardWeights,
    expected_reward,
    predict_with_act,
    top_items,
)
from agents.logs import InteractionLog, learn_from_random_logs
from agents.networks import (
    ItemScoreHead,
    ObservationTensors,
    load_torch_agent,
    resolve_device,
    save_torch_agent,
    to_tensors,
)
from agents.selection import ModelSelection
from agents.sequence import EncoderSettings, build_encoder
from recenv.sim.config import EnvConfig
from recenv.sim.items import item_features

if TYPE_CHECKING:
    from agents.explain import Explanation

KIND = "mlp"


@dataclass(frozen=True)
class MLPConfig(EncoderSettings):
    """MLP hyperparameters; the field comments are the help text."""

    learning_rate: float = 1e-3
    batch_size: int = 1024
    max_epochs: int = 30
    early_stopping_patience: int = 3  # epochs without validation improvement
    validation_share: float = 0.2  # share of logged sessions held out
    embedding_dim: int = 32
    hidden_size: int = 128
    top_k: int = 10  # k of precision@k, recall@k, NDCG@k
    refit_interval: int = 0  # logged shopper-steps between refits (0: one fit on the whole log)
    selection_shoppers: int = 256  # validation shoppers scoring each candidate epoch; 0: off
    selection_seed: int = 0  # seed of the validation split (disjoint from train and eval)
    # DP-SGD (agents.privacy), per logged session: off | epsilon (noise set so max_epochs
    # spend dp_target_epsilon) | noise (fixed dp_noise_multiplier). With it on, every epoch
    # runs (no early stopping on the held-out log) and each is a selection candidate.
    dp: str = "off"
    dp_target_epsilon: float = 3.0  # the fit's privacy budget (dp: epsilon)
    dp_noise_multiplier: float = 1.0  # noise std / clipping norm (dp: noise; 0: clip only)
    dp_max_grad_norm: float = 1.0  # clipping norm of each session's gradient
    dp_delta: float = 0.0  # 0: 0.1 / training sessions
    dp_accountant: str = "prv"  # prv | rdp (Opacus's accountants)

    agent: ClassVar[str] = KIND
    bounds, choices = EncoderSettings.merged(
        hp.ranges(
            {
                hp.POSITIVE: "learning_rate dp_target_epsilon dp_max_grad_norm",
                hp.AT_LEAST_ONE: "batch_size max_epochs early_stopping_patience embedding_dim "
                "hidden_size top_k",
                hp.SHARE: "validation_share dp_delta",
                hp.NON_NEGATIVE: "refit_interval selection_shoppers selection_seed "
                "dp_noise_multiplier",
            }
        ),
        {"dp": privacy.MODES, "dp_accountant": privacy.ACCOUNTANTS},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dp != "off" and self.refit_interval:
            raise ValueError(
                f"mlp.refit_interval = {self.refit_interval} is not allowed with "
                f"mlp.dp = {self.dp!r}; allowed: 0 (one private fit on the whole log)"
            )

    @property
    def privacy_settings(self) -> privacy.PrivacySettings:
        return privacy.PrivacySettings(
            self.dp,
            self.dp_target_epsilon,
            self.dp_noise_multiplier,
            self.dp_max_grad_norm,
            self.dp_delta,
            self.dp_accountant,
        )


class ResponseModel(nn.Module):
    """Click and purchase logits for (state, item) pairs, or for every item."""

    def __init__(self, env_config: EnvConfig, item_category: NDArray, config: MLPConfig):
        super().__init__()
        self.encoder = build_encoder(
            env_config, item_category, config.embedding_dim, config.hidden_size, config
        )
        encoder = self.encoder
        self.click, self.purchase = (
            ItemScoreHead(
                encoder.items, encoder.candidates, config.hidden_size, config.embedding_dim
            )
            for _ in range(2)
        )

    def pair_logits(self, observation, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.encoder(observation)
        return (
            self.click.pair_scores(state, observation, items),
            self.purchase.pair_scores(state, observation, items),
        )

    def all_logits(self, observation) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.encoder(observation)
        return self.click(state, observation), self.purchase(state, observation)


PairBatch = tuple[ObservationTensors, torch.Tensor, torch.Tensor, torch.Tensor]


def pair_loss(model: ResponseModel, batch: PairBatch) -> torch.Tensor:
    """Mean over rows of ``BCE(click) + BCE(purchase)`` of each row's shown item."""
    observation, items, clicked, purchased = batch
    click, purchase = model.pair_logits(observation, items)
    bce = nn.functional.binary_cross_entropy_with_logits
    return bce(click, clicked) + bce(purchase, purchased)


class MLPAgent:
    """Predicts click and purchase per item; recommends the best predicted immediate reward."""

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, MLPConfig, settings)
        self.seed, self.device = seed, resolve_device(device)
        torch.manual_seed(seed)
        features = item_features(self.env_config)
        model = ResponseModel(self.env_config, features["category"], self.config)
        self.privacy = self.config.privacy_settings
        self.model = model.to(self.device)
        # one accountant for every private fit of this agent: their spends compose
        self.privacy_engine = privacy.make_engine(self.privacy) if self.privacy.enabled else None
        self.price = torch.as_tensor(np.array(features["price"]), device=self.device)
        self.metrics: dict[str, float] = {}
        self.steps_done, self.epochs_done = 0, 0
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate)
        self.rewards = RewardWeights.of(self.env_config.funnel)
        shoppers, selection_seed = self.config.selection_shoppers, self.config.selection_seed
        self.selection = (
            ModelSelection(self.env_config, self.model, shoppers, selection_seed)
            if shoppers
            else None
        )

    @torch.no_grad()
    def expected_reward(self, observation: Mapping[str, NDArray]) -> torch.Tensor:
        """Predicted immediate reward of every item, ``(n, n_items)``.

        Carts are not modelled; a bought item was carted, so ``P(purchase)`` stands in for
        ``P(cart)`` (a lower bound) in the env's reward formula.
        """
        click, purchase = self.model.all_logits(to_tensors(observation, self.device))
        click, purchase = torch.sigmoid(click), torch.sigmoid(purchase)
        return expected_reward(self.rewards, click, purchase, purchase, self.price)

    def pair_expected_reward(
        self, observation: ObservationTensors, items: torch.Tensor
    ) -> torch.Tensor:
        """``expected_reward`` of one item per row, differentiable (for explanations)."""
        click, purchase = self.model.pair_logits(observation, items)
        click, purchase = torch.sigmoid(click), torch.sigmoid(purchase)
        return expected_reward(self.rewards, click, purchase, purchase, self.price[items])

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        return top_items(
            self.expected_reward(observation).cpu().numpy(), self.env_config.slate_size
        )

    predict = predict_with_act

    def explain(
        self, observation: Observation, item: int | NDArray[np.int64]
    ) -> Explanation | list[Explanation]:
        """Which history items and features drove the predicted immediate reward of
        ``item`` (``agents.explain``)."""
        from agents.explain import TorchExplainer  # Captum: imported only when explaining

        explainer = TorchExplainer(
            self.model,
            self.model.encoder,
            self.pair_expected_reward,
            "predicted immediate reward",
            self.env_config,
        )
        return explainer.explain(observation, item)

    # -- learning ---------------------------------------------------------------------------
    learn = learn_from_random_logs  # logs random recommendations, then fit

    def fit(self, logs: InteractionLog, logger: Logger | None = None) -> None:
        """Train on ``logs`` (warm-started from the current weights) until early stopping.

        An epoch whose validation log-loss improves is a candidate: early stopping ends a fit
        when the log-loss stalls, and the weights kept are the candidate with the best return
        on the validation shoppers (``agents.selection``), or the lowest log-loss with
        selection off.

        A private fit (``dp`` on) runs all ``max_epochs`` (the budget its noise was set for)
        and decides nothing on the held-out log: every epoch is a candidate for selection on
        the (simulated) validation shoppers, and without selection the last epoch is kept.
        """
        config, logger = self.config, logger or NullLogger()
        train, validation = logs.split_by_session(config.validation_share, self.seed)
        rng = np.random.default_rng(self.seed + self.epochs_done)
        private = self._private_training(train) if self.privacy.enabled else None
        best_loss, best_state, stale = float("inf"), None, 0
        for _ in range(config.max_epochs):
            self.model.train()
            if private is None:
                self._epoch(train, rng)
            else:
                private.epoch(pair_loss, self._pair_batch)
            self.epochs_done += 1
            validation_loss = self._validation_loss(validation)
            logger.record("train/validation_loss", validation_loss, self.epochs_done)
            if private is not None:
                if self.selection is not None:
                    self.selection.consider(self, self.epochs_done, logger)
            elif validation_loss < best_loss - 1e-5:  # a candidate: its log-loss improved
                best_loss, stale = validation_loss, 0
                best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
                if self.selection is not None:
                    self.selection.consider(self, self.epochs_done, logger)
            else:
                stale += 1
                if stale >= config.early_stopping_patience:
                    break
        if self.selection is not None:
            best_state = self.selection.best_state
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.metrics = self.held_out_metrics(validation)
        if private is not None:
            private.close()
            self.metrics.update(private.report())

    def _epoch(self, train: InteractionLog, rng: np.random.Generator) -> None:
        """One non-private pass: shuffled minibatches of rows, Adam."""
        for batch in np.array_split(
            rng.permutation(len(train)), max(1, len(train) // self.config.batch_size)
        ):
            loss = self._loss(train.subset(batch))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    def _private_training(self, train: InteractionLog) -> privacy.PrivateTraining:
        return privacy.PrivateTraining(
            self.privacy_engine,
            self.model,
            self.optimizer,
            train,
            self.privacy,
            self.config.batch_size,
            self.config.max_epochs,
            self.seed + self.epochs_done,
        )

    def fit_summary(self, logs: InteractionLog) -> dict[str, float]:
        """The held-out metrics of the last fit."""
        return self.metrics

    @property
    def shopper_steps_used(self) -> dict[str, int]:
        """Shopper-steps spent outside the training env: model selection."""
        return {"selection": self.selection.shopper_steps if self.selection else 0}

    def _loss(self, rows: InteractionLog) -> torch.Tensor:
        return pair_loss(self.model, self._pair_batch(rows))

    def _pair_batch(self, rows: InteractionLog) -> PairBatch:
        def labels(values: NDArray[np.bool_]) -> torch.Tensor:
            return torch.as_tensor(values, dtype=torch.float32, device=self.device)

        observation = to_tensors(rows.observation, self.device)
        items = torch.as_tensor(rows.item, device=self.device)
        return observation, items, labels(rows.clicked), labels(rows.purchased)

    @torch.no_grad()
    def _validation_loss(self, validation: InteractionLog) -> float:
        self.model.eval()
        chunks = np.array_split(np.arange(len(validation)), max(1, len(validation) // 8192))
        return float(np.mean([self._loss(validation.subset(rows)).item() for rows in chunks]))

    @torch.no_grad()
    def held_out_metrics(self, validation: InteractionLog) -> dict[str, float]:
        """Click AUC / log-loss on held-out impressions; ranking metrics on held-out sessions."""
        self.model.eval()
        click, _ = self.model.pair_logits(
            to_tensors(validation.observation, self.device),
            torch.as_tensor(validation.item, device=self.device),
        )
        probability = torch.sigmoid(click).cpu().numpy()
        metrics = {
            "click_auc": float(roc_auc_score(validation.clicked, probability))
            if validation.clicked.any() and not validation.clicked.all()
            else float("nan"),
            "click_log_loss": float(log_loss(validation.clicked, probability, labels=[0, 1])),
        }
        metrics.update(self._ranking_metrics(validation))
        return metrics

    def _ranking_metrics(self, validation: InteractionLog) -> dict[str, float]:
        k = self.config.top_k
        sessions, first_rows = np.unique(validation.session, return_index=True)
        clicked_by_session = {
            session: set(validation.item[(validation.session == session) & validation.clicked])
            for session in sessions
        }
        keep = [i for i, s in enumerate(sessions) if clicked_by_session[s]]
        if not keep:
            return {}
        first = validation.subset(first_rows[keep])
        ranked = np.argsort(-self.expected_reward(first.observation).cpu().numpy(), axis=1)[:, :k]
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        precision, recall, ndcg = [], [], []
        for row, session in zip(ranked, sessions[keep], strict=True):
            relevant = clicked_by_session[session]
            hits = np.array([item in relevant for item in row], dtype=float)
            precision.append(hits.sum() / k)
            recall.append(hits.sum() / len(relevant))
            ideal = discounts[: min(len(relevant), k)].sum()
            ndcg.append((hits * discounts).sum() / ideal)
        return {
            f"precision_at_{k}": float(np.mean(precision)),
            f"recall_at_{k}": float(np.mean(recall)),
            f"ndcg_at_{k}": float(np.mean(ndcg)),
        }

    # -- checkpoints ------------------------------------------------------------------------
    def checkpointed(self) -> dict[str, Any]:
        """What ``weights.pt`` restores: the response model."""
        return {"model": self.model}

    def save(self, path: str | Path) -> None:
        """Write ``weights.pt`` (the model's state dict) and ``agent.json`` (config, metrics,
        and for a private agent its accountant's history, so later fits keep composing)."""
        history = self.privacy_engine.accountant.history if self.privacy_engine else []
        extra = {"dp_accountant_history": [list(entry) for entry in history]}
        save_torch_agent(path, KIND, self, self.checkpointed(), metrics=self.metrics, **extra)

    @classmethod
    def load(
        cls, path: str | Path, env_config: EnvConfig | None = None, device: str = "auto"
    ) -> MLPAgent:
        """Rebuild an agent from ``save``; weights load with ``weights_only=True``."""
        agent, meta, _ = load_torch_agent(cls, path, KIND, env_config, device, cls.checkpointed)
        agent.metrics = meta["metrics"]
        if agent.privacy_engine is not None:
            history = meta.get("dp_accountant_history", [])
            agent.privacy_engine.accountant.history = [tuple(entry) for entry in history]
        return agent
