"""What an agent emits and sees: the one place both envs turn actions into slates, raw
observations into what the agent gets, and state into action masks (``interface`` config)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from recenv.sim import masks, scoring, shops
from recenv.sim import spaces as recenv_spaces
from recenv.sim.catalog import Catalog
from recenv.sim.config import EnvConfig
from recenv.sim.encoding import ObservationEncoder, item_feature_matrix
from recenv.sim.state import ShopperState


class AgentInterface:
    """The spaces, action decoding, observation encoding and masks of one scenario."""

    def __init__(self, config: EnvConfig, catalog: Catalog) -> None:
        self.config = config
        self.catalog = catalog
        interface = config.interface
        self.action_mode = interface.action
        self.encoder = (
            ObservationEncoder(config, catalog) if interface.observation == "features" else None
        )
        self.item_features = item_feature_matrix(catalog, config.catalog.observable_embeddings)
        self.score_width = {
            "items": 0,
            "shops": 0,
            "scores": catalog.n_items,
            "feature_weights": self.item_features.shape[1],
        }[self.action_mode]
        self.shop_slates = None
        if self.action_mode == "shops":
            self.shop_slates = shops.ShopSlates(
                catalog.shop, catalog.popularity_rank, catalog.n_shops
            )
            self.shop_slates.check_fits(config.slate_size)
        self.mask_in_info = interface.mask_in_info

    # spaces
    def observation_space(self) -> spaces.Space:
        """A shopper's observation space: the ``Dict`` of ids, or the compact ``Box``."""
        if self.encoder is not None:
            return self.encoder.space
        return recenv_spaces.observation_space(self.config)

    def action_space(self) -> spaces.Space:
        """One shopper's actions: item ids (``Discrete`` or slates), a ``Box`` of scores, or
        a shop id (``Discrete(n_shops)``)."""
        if self.shop_slates is not None:
            return spaces.Discrete(self.shop_slates.n_shops)
        if self.score_width:
            return scoring.score_space(self.score_width)
        return recenv_spaces.action_space(self.config)

    def batched_action_space(self, n_shoppers: int) -> spaces.Space:
        """Actions of ``n_shoppers`` at once, as the vector env takes them."""
        if self.shop_slates is not None:
            return spaces.MultiDiscrete(np.full(n_shoppers, self.shop_slates.n_shops))
        if self.score_width:
            return scoring.score_space(self.score_width, (n_shoppers,))
        return recenv_spaces.batched_action_space(self.config, n_shoppers)

    # actions
    def slates(
        self, actions: Any, n_shoppers: int, batched: bool, state: ShopperState
    ) -> tuple[NDArray[np.int64], NDArray[np.int64] | None]:
        """``(n, slate_size)`` slates from the agent's actions, and the repeats replaced in
        each (None where no slate can repeat: single items, scoring and shop actions)."""
        if self.shop_slates is not None:
            ids = shops.check_shop_ids(actions, n_shoppers, self.shop_slates.n_shops, batched)
            return self.shop_slates.slates(ids, self.mask(state), self.config.slate_size), None
        if not self.score_width:
            return recenv_spaces.validate_slates(actions, n_shoppers, self.config, batched)
        weights = scoring.check_scores(actions, n_shoppers, self.score_width, batched)
        allowed = self.mask(state)
        slates = np.empty((n_shoppers, self.config.slate_size), dtype=np.int64)
        for rows in scoring.chunks(n_shoppers, self.catalog.n_items):
            scores = (
                weights[rows]
                if self.action_mode == "scores"
                else scoring.item_scores(weights, self.item_features, rows)
            )
            slates[rows] = scoring.top_k(scores, allowed[rows], self.config.slate_size)
        return slates, None

    # observations
    def observation(
        self, raw: dict[str, NDArray], out: NDArray[np.float32] | None = None
    ) -> dict[str, NDArray] | NDArray[np.float32]:
        """What the agent sees of batched raw observations (``out``: rows to write into)."""
        if self.encoder is None:
            return raw
        return self.encoder.encode(raw, out)

    def single_observation(self, raw: dict[str, Any]) -> dict[str, Any] | NDArray[np.float32]:
        """``observation`` of one shopper's unbatched raw observation."""
        if self.encoder is None:
            return raw
        batched = {key: np.asarray(value)[None] for key, value in raw.items()}
        return self.encoder.encode(batched)[0]

    # masks
    def mask(self, state: ShopperState) -> NDArray[np.bool_]:
        """``(n, n_items)`` items each row's shopper may be shown now (``recenv.sim.masks``)."""
        return masks.item_mask(self.config, self.catalog, state)

    def action_masks(self, state: ShopperState) -> NDArray[np.bool_]:
        """The mask in sb3-contrib's convention: ``(n, n_items)`` for single items, one mask
        per slate position concatenated, ``(n, slate_size * n_items)``, for slates; score
        actions have no discrete mask (the env applies it itself), nor do shop actions (a
        shop's slate applies it)."""
        if self.score_width or self.shop_slates is not None:
            raise ValueError(
                f"action_masks() is for discrete actions; interface.action = "
                f"{self.action_mode!r} applies the mask itself (top K of the allowed items)"
            )
        mask = self.mask(state)
        return np.tile(mask, (1, self.config.slate_size)) if self.config.slate_size > 1 else mask
