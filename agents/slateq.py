"""SlateQ: slates by the decomposition of Ie et al. (2019), the slate RL method of RecSim.

Reads top to bottom: hyperparameters, acting (the slate optimiser), learning (the TD target).
Everything else is DQN's (``agents.dqn``: encoder and item-score head, replay buffer,
n-step window, schedules, target network, training loop, model selection, checkpoints);
this agent changes what is stored, how a slate is picked and what is learned.

* Item values ``Q(s, i)``: the long-term value of the shopper *clicking* item i in state s
  (``agents.dqn.QNetwork``).
* Choice model: the simulator's conditional logit with positions and a no-click option,
  with attractions from a click model fitted to the logged choices (``agents.click_model``):
  ``P(k | s, A) = w_k v(s, A_k) / (1 + sum_j w_j v(s, A_j))``.
* Slate value (``agents.slate_choice``): ``Q(s, A) = sum_k P(k | s, A) Q(s, A_k) + P(none |
  s, A) Q0(s)``. ``no_click_value: zero``: ``Q0 = 0``, the paper's treatment (and RecSim's):
  only a consumed item carries value, and transitions without a click train nothing but the
  click model. ``learned``: ``Q0(s)``, one more output of the Q-network (``SlateQNetwork``),
  is learned from the no-click transitions by the same target; here a session goes on after
  a step without a click, and its checkouts, so that continuation is worth something.
* TD target (Q-learning), for a transition whose choice was c (an item, or no click):
  ``y = G + (1 - terminated) gamma^m Q_target(s', A*)`` with ``A* = argmax_A Q(s', A)`` by
  ``target_optimiser`` (Double: chosen with the online ``Q``, valued with the target one),
  ``G`` the m-step return; Huber loss on ``Q(s, c) - y``.
* Acting: the slate of ``slate_optimiser`` (``exact``: Dinkelbach on the linear-fractional
  program; ``greedy``; ``top_k``); with probability epsilon a uniformly random slate.

The paper's assumptions hold only in part here: reward and transition depend on the clicked
item (the funnel, taste drift), but also on every item shown (fatigue, patience, the history
records the whole slate). SlateQ's item values cannot see that cost of the unclicked items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from agents import hyperparameters as hp
from agents.base import EnvSource, Info, Logger, Observation, top_items
from agents.buffers import TransitionBatch
from agents.click_model import ClickModel
from agents.dqn import DQNAgent, DQNConfig, QNetwork
from agents.networks import ObservationTensors, to_tensors
from agents.slate_choice import OPTIMISERS, slate_value
from recenv.sim.items import item_features

KIND = "slateq"


@dataclass(frozen=True)
class SlateQConfig(DQNConfig):
    """DQN's hyperparameters (same meaning) plus the slate choice; comments are the help."""

    slate_optimiser: str = "exact"  # acting: "exact", "greedy" or "top_k"
    target_optimiser: str = "exact"  # the next slate of the TD target: same choices
    click_learning_rate: float = 1e-3  # Adam step size of the click model (constant)
    no_click_value: str = "zero"  # "zero" (the paper) or "learned" (Q0(s), see the docstring)
    n_steps: int = 1  # the paper's one-step TD; longer returns as in DQN

    agent: ClassVar[str] = KIND
    bounds: ClassVar[dict[str, hp.Range]] = {
        **DQNConfig.bounds,
        "click_learning_rate": hp.POSITIVE,
    }
    choices: ClassVar[dict[str, tuple[str, ...]]] = {
        **DQNConfig.choices,
        "slate_optimiser": tuple(OPTIMISERS),
        "target_optimiser": tuple(OPTIMISERS),
        "no_click_value": ("zero", "learned"),
    }


class SlateQNetwork(QNetwork):
    """DQN's Q-network plus ``Q0(s)``, the value of a step without a click, from the same
    state vector (used with ``no_click_value: learned``)."""

    def __init__(self, env_config: Any, item_category: NDArray[np.int64], config: Any) -> None:
        super().__init__(env_config, item_category, config)
        self.no_click = nn.Linear(config.hidden_size, 1)

    def no_click_value(self, observation: ObservationTensors) -> torch.Tensor:
        """``(n,)`` ``Q0(s)``."""
        return self.no_click(self.encoder(observation))[:, 0]


class SlateQAgent(DQNAgent):
    """SlateQ over DQN's machinery; see the module docstring."""

    schema = SlateQConfig
    network = SlateQNetwork

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        super().__init__(env_config, seed, device, **settings)
        item_category = item_features(self.env_config)["category"]
        self.click_model = ClickModel(self.env_config, item_category, self.config).to(self.device)
        self.click_optimizer = torch.optim.Adam(
            self.click_model.parameters(), lr=self.config.click_learning_rate
        )
        # the greedy policy is both networks: model selection keeps and restores them together
        self.selection.model = nn.ModuleDict(
            {"q_network": self.q_network, "click_model": self.click_model}
        )

    @property
    def slate_size(self) -> int:
        return self.env_config.slate_size

    # -- acting -----------------------------------------------------------------------------
    def no_click_value(self, observation: ObservationTensors, q_network: SlateQNetwork):
        """``Q0(s)``: 0 (the paper), or ``q_network``'s learned one."""
        if self.config.no_click_value == "zero":
            return 0.0
        return q_network.no_click_value(observation)

    def best_slates(
        self, observation: ObservationTensors, q_network: SlateQNetwork, optimiser: str
    ) -> torch.Tensor:
        """``(n, K)`` the slates ``optimiser`` picks for ``Q = q_network`` and the click model."""
        attraction = self.click_model.attraction(observation)
        weight, values = self.click_model.position_weight(), q_network(observation)
        no_click = self.no_click_value(observation, q_network)
        return OPTIMISERS[optimiser](attraction, values, self.slate_size, weight, 1.0, no_click)

    @torch.no_grad()
    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        """The ``slate_optimiser``'s slate; with probability epsilon a random one instead."""
        if torch.is_tensor(observation["query"]):
            raise ValueError("slateq acts on numpy observations; allowed env device: cpu")
        tensors = to_tensors(observation, self.device)
        slates = self.best_slates(tensors, self.q_network, self.config.slate_optimiser)
        slates = slates.cpu().numpy()
        if not deterministic and self.epsilon > 0:
            explore = self.rng.random(len(slates)) < self.epsilon
            noise = self.rng.random((int(explore.sum()), self.env_config.catalog.n_items))
            slates[explore] = top_items(noise, self.slate_size).reshape(-1, self.slate_size)
        return slates[:, 0] if self.slate_size == 1 else slates

    # -- learning ---------------------------------------------------------------------------
    def learn(
        self, env: Any, total_steps: int, logger: Logger | None = None, callback: Any = None
    ) -> SlateQAgent:
        """DQN's training loop (``DQNAgent.learn``) on a CPU vector env."""
        if getattr(env, "device", "cpu") == "cuda":
            raise ValueError("train.env_device = 'cuda' is not supported by slateq; allowed: cpu")
        super().learn(env, total_steps, logger, callback)
        return self

    @property
    def stored_action_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        """The slate and the clicked position: ``(K + 1,)``."""
        return (self.slate_size + 1,)

    def stored_action(self, action: NDArray[np.int64], info: Info) -> NDArray[np.int64]:
        """``(n, K + 1)``: the slate shown, then the clicked position (K: no click)."""
        slate = action.reshape(len(action), -1)
        hits = slate == np.asarray(info["clicked_item"])[:, None]
        choice = np.where(hits.any(axis=1), hits.argmax(axis=1), self.slate_size)
        return np.concatenate([slate, choice[:, None]], axis=1)

    @torch.no_grad()
    def td_target(self, batch: TransitionBatch) -> torch.Tensor:
        """``(b,)`` ``G + (1 - terminated) gamma^m Q_target(s', A*)`` (module docstring)."""
        next_observation = batch.next_observation
        chooser = self.q_network if self.config.double_dqn else self.target_network
        slates = self.best_slates(next_observation, chooser, self.config.target_optimiser)
        next_value = slate_value(
            self.click_model.attraction(next_observation),
            self.target_network(next_observation),
            slates,
            self.click_model.position_weight(),
            1.0,
            self.no_click_value(next_observation, self.target_network),
        )
        return batch.reward + (1 - batch.terminated) * batch.discount * next_value

    def _update_tensor(self, batch: TransitionBatch) -> torch.Tensor:
        """One click-model step on every sampled choice, then one TD step: Huber loss of
        ``Q(s, clicked item)`` (and with a learned ``Q0``, of ``Q0(s)`` on the no-click
        rows) to ``td_target``; returns the TD loss."""
        slate, choice = batch.action[:, :-1], batch.action[:, -1]
        click_loss = self.click_model.loss(batch.observation, slate, choice)
        self.click_optimizer.zero_grad(set_to_none=True)
        click_loss.backward()
        self.click_optimizer.step()
        clicked = choice < self.slate_size
        if self.config.no_click_value == "zero":
            if not clicked.any():
                return click_loss.new_zeros(())
            batch, slate, choice, clicked = (
                select_rows(batch, clicked),
                slate[clicked],
                choice[clicked],
                clicked[clicked],
            )
        rows = torch.arange(len(choice), device=choice.device)
        item = slate[rows, choice.clamp(max=self.slate_size - 1)]
        q_taken = self.q_network.item_scores(batch.observation, item)
        if not clicked.all():
            q_taken = torch.where(
                clicked, q_taken, self.q_network.no_click_value(batch.observation)
            )
        loss = nn.functional.smooth_l1_loss(q_taken, self.td_target(batch))
        return self._gradient_step(loss)

    # -- checkpoints ------------------------------------------------------------------------
    def checkpointed(self) -> dict[str, Any]:
        """DQN's networks and optimizer, plus the click model and its optimizer."""
        return {
            **super().checkpointed(),
            "click_model": self.click_model,
            "click_optimizer": self.click_optimizer,
        }


def select_rows(batch: TransitionBatch, rows: torch.Tensor) -> TransitionBatch:
    """The transitions at ``rows`` (indices or a mask) of a sampled batch."""

    def pick(observation: ObservationTensors) -> ObservationTensors:
        return ObservationTensors(*(field[rows] for field in observation))

    return TransitionBatch(
        observation=pick(batch.observation),
        action=batch.action[rows],
        reward=batch.reward[rows],
        next_observation=pick(batch.next_observation),
        discount=batch.discount[rows],
        terminated=batch.terminated[rows],
    )
