"""Structured configs (Hydra's ConfigStore) for the experiment groups, and their validation.

The env schema is ``recenv.sim.config.EnvConfig`` itself, so a misspelt env field fails at
composition, before any run starts; likewise each shipped agent's schema is its own
hyperparameter dataclass (``AGENT_SCHEMAS``), which ``conf/agent/<name>.yaml`` extends
(``defaults: [base_<name>@agent]``) stating only ``_target_`` and what differs. The train
and eval groups and the run-level knobs are range-checked the same way
(``check_experiment``: field, value, allowed range) before anything trains, allocates or
touches a run folder. ``register()`` is idempotent; the entry points call it.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import secrets
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from recenv.sim.config import (
    NON_NEGATIVE,
    POSITIVE_INT,
    Bound,
    EnvConfig,
    Validated,
    config_from_dict,
)

DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
# Every generator a run seeds takes it: numpy's legacy global one (stable-baselines3 seeds it)
# needs < 2**32; 1e9 is the round bound below.
SEED = Bound(0, 1e9)
# conf/agent/<name>.yaml -> the agent's hyperparameters (the one source of their defaults)
AGENT_SCHEMAS = {
    "dqn": "agents.dqn:DQNConfig",
    "slateq": "agents.slateq:SlateQConfig",
    "mlp": "agents.mlp:MLPConfig",
    "kmeans": "agents.kmeans:KMeansConfig",
    "popularity": "agents.popularity:PopularityConfig",
    "rule": "agents.rule:RuleConfig",
    "random": "agents.random:RandomConfig",
    "custom_example": "agents.custom_example:BoughtAndFreshConfig",
    "long_term_oracle": "agents.oracle:LongTermOracleConfig",
    "myopic_oracle": "agents.oracle:MyopicOracleConfig",
    "planner": "agents.planner:PlannerConfig",
    "rllib": "agents.rllib:RLlibConfig",
    "epsilon_greedy": "agents.bandits.epsilon_greedy:EpsilonGreedyConfig",
    "linucb": "agents.bandits.linucb:LinUCBConfig",
    "thompson": "agents.bandits.thompson:ThompsonConfig",
}
# SB3's adapter: its own settings, open to the keyword arguments it passes on to SB3
OPEN_AGENT_SCHEMAS = {"sb3": "agents.sb3:SB3Config"}


@dataclass
class TrainConfig(Validated):
    """How long and how wide an agent trains; how often it is evaluated and checkpointed.

    ``break_lock``, ``overwrite`` and ``accept_changes`` are one-shot permissions for the
    run folder (see ``experiments.run_folder``); they are never recorded with the run.
    """

    total_steps: int = 100_000  # shopper-steps of training (agent presets set their own)
    n_envs: int = 64  # shoppers simulated side by side while training
    env_device: str = "cpu"  # where the training env steps: cpu, cuda or auto (DQN only)
    eval_interval: int = 50_000  # shopper-steps between evaluations (0: only the final one)
    checkpoint_interval: int = 50_000  # shopper-steps between atomic checkpoints (0: never)
    save_replay_buffer: bool = False  # include the replay buffer in checkpoints
    progress: bool = True  # show a progress bar with the live return
    break_lock: bool = False  # take over a run folder whose lock holder is gone
    overwrite: bool = False  # move the folder's previous run aside and start at step 0
    accept_changes: bool = False  # resume although env/agent/seed differ (recorded)

    bounds: ClassVar[dict[str, Bound]] = {
        "total_steps": NON_NEGATIVE,
        "n_envs": Bound(1, 100_000),
        "eval_interval": NON_NEGATIVE,
        "checkpoint_interval": NON_NEGATIVE,
    }


@dataclass
class EvalConfig(Validated):
    """The paired evaluation: every agent meets the same ``n_shoppers`` shoppers of ``seed``."""

    n_shoppers: int = 1_000
    seed: int = 123_456  # keep apart from training and validation seeds
    interval_shoppers: int = 256  # shoppers for the cheaper evaluations during training
    explain_shoppers: int = 3  # evaluation shoppers whose first recommendation the report explains

    bounds: ClassVar[dict[str, Bound]] = {
        "n_shoppers": POSITIVE_INT,
        "seed": SEED,
        "interval_shoppers": POSITIVE_INT,
        "explain_shoppers": Bound(0, 64),
    }


@dataclass
class ExperimentConfig(Validated):
    """The root: groups plus the run-level knobs."""

    defaults: list[Any] = field(default_factory=list)
    env: Any = None
    agent: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    device: str = "auto"  # auto (CUDA when present), cpu, cuda or cuda:N
    resume: bool = False  # continue from the run folder's checkpoint
    run_name: str = ""  # free label shown in reports; the folder name is the overrides

    bounds: ClassVar[dict[str, Bound]] = {"seed": SEED}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not DEVICE.fullmatch(self.device):
            raise ValueError(
                f"ExperimentConfig.device = {self.device!r} is not allowed; "
                "choose one of auto, cpu, cuda, cuda:N"
            )
        if self.resume and self.train.overwrite:
            raise ValueError(
                "resume = true and train.overwrite = true contradict: resume continues the "
                "folder's run, overwrite moves it aside; pass one of them"
            )


def check_experiment(cfg: DictConfig) -> ExperimentConfig:
    """Range-check the run-level knobs and the train and eval groups; check the device exists.

    The env is checked where it is built (``EnvConfig``), the agent's hyperparameters by the
    agent; both are left out here.
    """
    values = OmegaConf.to_container(cfg, resolve=True)
    checked = config_from_dict(
        {key: value for key, value in values.items() if key not in ("env", "agent")},
        ExperimentConfig,
    )
    _check_device_present(checked.device)
    return checked


def _check_device_present(device: str) -> None:
    if not device.startswith("cuda"):
        return
    import torch  # only a CUDA request pays for importing torch here

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if index >= available:
        raise ValueError(
            f"ExperimentConfig.device = {device!r}: {available} CUDA device(s) visible; "
            "choose auto or cpu, or a cuda:N below that count"
        )


def _writable(schema: type, target: bool = False) -> type:
    """A non-frozen twin of a frozen dataclass (recursively), for Hydra to merge into.

    It keeps the field names, types and defaults, so a misspelt or mistyped field still
    fails at composition; ranges are checked when the config (``EnvConfig``, an agent's
    hyperparameters) is built from the result. ``target``: with the ``_target_`` field
    that names an agent class.
    """
    fields: list[tuple[str, Any, Any]] = []
    if target:
        fields.append(("_target_", str, field(default=MISSING)))
    for spec in dataclasses.fields(schema):
        kind = typing.get_type_hints(schema)[spec.name]
        if dataclasses.is_dataclass(kind):
            twin = _writable(kind)
            fields.append((spec.name, twin, field(default_factory=twin)))
        else:
            fields.append((spec.name, kind, field(default=spec.default)))
    return dataclasses.make_dataclass(schema.__name__, fields)


def _schema(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def register() -> None:
    """Put the schemas in Hydra's ConfigStore and the ``run_id`` resolver (safe to repeat).

    ``${run_id:}`` is six random hex digits, drawn once per config, so two identical
    commands started in the same second still get two run folders.
    """
    store = ConfigStore.instance()
    store.store(name="base_config", node=ExperimentConfig)
    store.store(group="env", name="base_env", node=_writable(EnvConfig))
    store.store(group="train", name="base_train", node=TrainConfig)
    store.store(group="eval", name="base_eval", node=EvalConfig)
    for name, path in AGENT_SCHEMAS.items():
        node = _writable(_schema(path), target=True)
        store.store(group="agent", name=f"base_{name}", node=node)
    for name, path in OPEN_AGENT_SCHEMAS.items():  # a plain mapping: no struct, extra keys pass
        defaults = dataclasses.asdict(_schema(path)())
        store.store(group="agent", name=f"base_{name}", node={"_target_": MISSING, **defaults})
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", lambda: secrets.token_hex(3), use_cache=True)
