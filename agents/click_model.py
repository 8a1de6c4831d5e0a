"""A learned conditional-logit click model: the attractions SlateQ's slate value needs.

The agent cannot read the simulator's utilities, so it fits the choice model's form to the
logged choices: for slate ``A`` shown in state ``s``,

    P(k | s, A) = exp(f(s, A_k) + p_k) / (1 + sum_j exp(f(s, A_j) + p_j)),   P(none) = the rest

with ``f`` a state encoder and item-score head (``agents.dqn.QNetwork``, the same blocks as
the Q-network, separate weights) and ``p`` learned position utilities (``p_0 = 0``). The
no-click utility is the zero of the scale, so ``v(s, i) = exp(f(s, i))``, ``v0 = 1`` and
``w_k = exp(p_k)``: ``f`` is identified relative to not clicking, as the simulator's
``u - no_click_utility`` is. Trained by cross-entropy over the K positions and no click.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from agents.dqn import QNetwork
from agents.networks import ObservationTensors
from recenv.sim.config import EnvConfig

MAX_UTILITY = 30.0  # |f| is clipped here so exp(f) stays finite in float32


class ClickModel(nn.Module):
    """``f(s, i)`` for every item and the position utilities; see the module docstring."""

    def __init__(
        self, env_config: EnvConfig, item_category: NDArray[np.int64], config: Any
    ) -> None:
        super().__init__()
        self.utility = QNetwork(env_config, item_category, config)
        self.later_positions = nn.Parameter(torch.zeros(env_config.slate_size - 1))

    def position_utility(self) -> torch.Tensor:
        """``(K,)`` ``p_k``, with ``p_0 = 0``."""
        return torch.cat([self.later_positions.new_zeros(1), self.later_positions])

    def position_weight(self) -> torch.Tensor:
        """``(K,)`` ``w_k = exp(p_k)``."""
        return self.position_utility().exp()

    def item_utility(self, observation: ObservationTensors) -> torch.Tensor:
        """``(n, M)`` ``f(s, i)`` at the top position, relative to not clicking."""
        return self.utility(observation).clamp(-MAX_UTILITY, MAX_UTILITY)

    def attraction(self, observation: ObservationTensors) -> torch.Tensor:
        """``(n, M)`` ``v(s, i) = exp(f(s, i))``."""
        return self.item_utility(observation).exp()

    def logits(self, observation: ObservationTensors, slate: torch.Tensor) -> torch.Tensor:
        """``(n, K + 1)``: ``f(s, A_k) + p_k`` per position, then 0 for no click."""
        shown = self.item_utility(observation).gather(1, slate) + self.position_utility()
        return torch.cat([shown, shown.new_zeros(len(shown), 1)], dim=1)

    def loss(
        self, observation: ObservationTensors, slate: torch.Tensor, choice: torch.Tensor
    ) -> torch.Tensor:
        """Mean cross-entropy of the logged ``choice`` (a position, or K for no click)."""
        return nn.functional.cross_entropy(self.logits(observation, slate), choice)
