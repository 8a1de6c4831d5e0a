"""Structured configs (Hydra's ConfigStore) for the experiment groups.

The env schema is ``recenv.config.EnvConfig`` itself, so a misspelt env field fails at
composition, before any run starts. ``register()`` is idempotent; the entry points call it.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

from recenv.config import EnvConfig


@dataclass
class TrainConfig:
    """How long and how wide an agent trains; how often it is evaluated and checkpointed."""

    total_steps: int = 100_000  # shopper-steps of training (agent presets set their own)
    n_envs: int = 64  # shoppers simulated side by side while training
    eval_interval: int = 50_000  # shopper-steps between evaluations on the eval shoppers
    checkpoint_interval: int = 50_000  # shopper-steps between atomic checkpoints
    save_replay_buffer: bool = False  # include the replay buffer in checkpoints
    progress: bool = True  # show a progress bar with the live return


@dataclass
class EvalConfig:
    """The paired evaluation: every agent meets the same ``n_shoppers`` shoppers of ``seed``."""

    n_shoppers: int = 1_000
    seed: int = 123_456  # keep apart from training and validation seeds
    interval_shoppers: int = 256  # shoppers for the cheaper evaluations during training


@dataclass
class ExperimentConfig:
    """The root: groups plus the run-level knobs."""

    defaults: list[Any] = field(default_factory=list)
    env: Any = None
    agent: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    device: str = "auto"  # "auto" picks CUDA when present
    resume: bool = False  # continue from the run folder's checkpoint
    run_name: str = ""  # free label shown in reports; the folder name is the overrides


def _writable(schema: type) -> type:
    """A non-frozen twin of a frozen dataclass (recursively), for Hydra to merge into.

    It keeps the field names, types and defaults, so a misspelt or mistyped field still
    fails at composition; ranges are checked when ``EnvConfig`` is built from the result.
    """
    fields = []
    for spec in dataclasses.fields(schema):
        kind = typing.get_type_hints(schema)[spec.name]
        if dataclasses.is_dataclass(kind):
            twin = _writable(kind)
            fields.append((spec.name, twin, field(default_factory=twin)))
        else:
            fields.append((spec.name, kind, field(default=spec.default)))
    return dataclasses.make_dataclass(schema.__name__, fields)


def register() -> None:
    """Put the schemas in Hydra's ConfigStore (safe to call more than once)."""
    store = ConfigStore.instance()
    store.store(name="base_config", node=ExperimentConfig)
    store.store(group="env", name="base_env", node=_writable(EnvConfig))
    store.store(group="train", name="base_train", node=TrainConfig)
    store.store(group="eval", name="base_eval", node=EvalConfig)
