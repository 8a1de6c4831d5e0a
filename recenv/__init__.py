"""recenv: a fast, batched Gymnasium simulator of e-commerce shoppers for RL research.

Importing the package registers ``recenv/Shopping-v0`` for ``gymnasium.make`` and
``gymnasium.make_vec``.
"""

from __future__ import annotations

import gymnasium

from recenv.sim import kernel_cache  # noqa: F401  (first: it decides where kernels are cached)
from recenv.sim.config import (
    CatalogConfig,
    ChoiceConfig,
    DynamicsConfig,
    EnvConfig,
    FunnelConfig,
    InterfaceConfig,
    ShopperConfig,
    available_presets,
    make_config,
)
from recenv.sim.core import Simulator, build_world
from recenv.sim.env import ENV_ID, ShoppingEnv
from recenv.sim.vector import ShoppingVectorEnv

__version__ = "0.1.0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=ENV_ID,
        entry_point="recenv.sim.env:ShoppingEnv",
        vector_entry_point="recenv.sim.vector:ShoppingVectorEnv",
    )

__all__ = [
    "ENV_ID",
    "CatalogConfig",
    "ChoiceConfig",
    "DynamicsConfig",
    "EnvConfig",
    "FunnelConfig",
    "InterfaceConfig",
    "ShopperConfig",
    "ShoppingEnv",
    "ShoppingVectorEnv",
    "Simulator",
    "available_presets",
    "build_world",
    "make_config",
]
