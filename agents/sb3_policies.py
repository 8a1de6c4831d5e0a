"""Our DQN's Q-network inside stable-baselines3's ``DQN``: the same function class in both.

SB3's ``MultiInputPolicy`` one-hot encodes every ``Discrete``/``MultiDiscrete`` key of the
observation (``preprocess_obs``): on ``default`` that is a 30,159-wide input and a 2.0M
parameter MLP, a different model from ours. ``RecenvDQNPolicy`` instead builds
``agents.networks.StateEncoder`` as the features extractor and ``ItemScoreHead`` as the
Q-head, fed raw item ids:

    Q(s, j) = <W encoder(s), item_j> + b_j + sum_f a_f(s) x_f(s, j)

so its parameter count and Q-values equal ``agents.dqn.QNetwork``'s for the same
``embedding_dim`` and ``hidden_size`` (tested), and a speed comparison measures the
frameworks, not two architectures. Use it as ``SB3Agent(..., policy="recenv")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.dqn.policies import DQNPolicy

from agents.hyperparameters import AT_LEAST_ONE
from agents.networks import ItemScoreHead, ObservationTensors, StateEncoder, to_tensors
from recenv.sim.config import EnvConfig, out_of_range
from recenv.sim.items import item_features


def raw_observation(observation: Mapping[str, torch.Tensor]) -> ObservationTensors:
    """SB3's observation tensors as our ids, untouched by one-hot encoding.

    SB3's replay buffer stores a ``Discrete`` key with shape ``(n, 1)`` and its ``predict``
    with shape ``(n,)``: the query is flattened so both reach the encoder as ``(n,)``.
    """
    history = observation["history"]
    flat = {**observation, "query": observation["query"].reshape(len(history))}
    return to_tensors(flat, history.device)


class RecenvStateExtractor(BaseFeaturesExtractor):
    """``StateEncoder`` as an SB3 features extractor: raw observation -> ``(n, hidden_size)``."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        env_config: EnvConfig,
        item_category: NDArray[np.int64],
        embedding_dim: int,
        hidden_size: int,
    ) -> None:
        super().__init__(observation_space, hidden_size)
        self.encoder = StateEncoder(env_config, item_category, embedding_dim, hidden_size)

    def forward(self, observation: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(raw_observation(observation))


class RecenvQNetwork(BasePolicy):
    """What SB3's ``QNetwork`` is to ``DQN`` (``forward`` gives Q, ``_predict`` the argmax),
    with our item-score head over the extractor's state instead of an MLP."""

    features_extractor: RecenvStateExtractor

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        features_extractor: RecenvStateExtractor,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=False,
        )
        encoder = features_extractor.encoder
        self.head = ItemScoreHead(
            encoder.items,
            encoder.candidates,
            features_extractor.features_dim,
            encoder.items.item.embedding_dim,
        )

    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Q-values ``(n, n_items)``. Unlike SB3's ``QNetwork`` this does not go through
        ``extract_features``, whose ``preprocess_obs`` would one-hot encode the item ids;
        the head reads the candidate features of the raw observation too."""
        return self.head(self.features_extractor(obs), raw_observation(obs))

    def _predict(
        self, observation: Mapping[str, torch.Tensor], deterministic: bool = True
    ) -> torch.Tensor:
        return self(observation).argmax(dim=1).reshape(-1)


class RecenvDQNPolicy(DQNPolicy):
    """SB3 ``DQNPolicy`` whose online and target networks are ``RecenvQNetwork``s.

    ``embedding_dim`` and ``hidden_size`` mean what they mean in ``agents.dqn.DQNConfig``
    (same defaults); the head is its ``head: dot``. SB3's ``net_arch`` and
    ``activation_fn`` do not apply and are not accepted.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        env_config: EnvConfig,
        embedding_dim: int = 32,
        hidden_size: int = 128,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        for name, value in (("embedding_dim", embedding_dim), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"sb3.policy_kwargs.{name} = {value!r}; allowed: integers >= 1")
            if not AT_LEAST_ONE.contains(value):
                raise out_of_range(f"sb3.policy_kwargs.{name}", value, AT_LEAST_ONE.describe())
        extractor_kwargs = {
            "env_config": env_config,
            "item_category": item_features(env_config)["category"],
            "embedding_dim": int(embedding_dim),
            "hidden_size": int(hidden_size),
        }
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            features_extractor_class=RecenvStateExtractor,
            features_extractor_kwargs=extractor_kwargs,
            normalize_images=False,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )

    def make_q_net(self) -> RecenvQNetwork:
        """A network with its own extractor: online and target never share weights."""
        extractor = self.make_features_extractor()
        return RecenvQNetwork(self.observation_space, self.action_space, extractor).to(self.device)
