"""From a composed config to live objects: the env config, the agent, the training env.

Agents are built by Hydra's ``instantiate`` from ``agent._target_`` with no registry, so
any importable class following ``agents.base.Agent`` plugs in with one config line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from experiments.schema import register
from recenv.sim.config import EnvConfig, config_from_dict
from recenv.sim.vector import ShoppingVectorEnv

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``conf/config.yaml`` with command-line style overrides, outside a Hydra app.

    ``+agent.<key>=<value>`` adds the key or sets it (as ``++``): before the agents'
    schemas listed every field, fields left out of a preset were appended that way, and
    recorded benchmark commands (``benchmarks/results``) still say so.
    """
    register()
    overrides = [f"+{item}" if item.startswith("+agent.") else item for item in overrides]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


def env_config_from(cfg: DictConfig) -> EnvConfig:
    """The validated simulator config of a composed experiment config."""
    return config_from_dict(OmegaConf.to_container(cfg.env, resolve=True))


def build_agent(cfg: DictConfig, env_config: EnvConfig | None = None) -> Any:
    """Instantiate ``cfg.agent`` for ``env_config`` with the run's seed and device."""
    if cfg.get("agent") is None or "_target_" not in cfg.agent:
        raise ValueError("agent: expected a config with _target_ naming the agent class")
    factory = instantiate(cfg.agent, _partial_=True, _convert_="all")
    return factory(
        env_config=env_config or env_config_from(cfg), seed=int(cfg.seed), device=cfg.device
    )


DEVICE_ENV_AGENTS = ("agents.dqn.DQNAgent",)  # agents whose learn takes a device env


def training_env(cfg: DictConfig, env_config: EnvConfig) -> ShoppingVectorEnv:
    """The NEXT_STEP vector env an agent collects from (SB3 agents keep their own copy);
    on the GPU with ``train.env_device: cuda`` (or ``auto`` where one is), for DQN."""
    device = str(cfg.train.get("env_device", "cpu"))
    env = ShoppingVectorEnv(int(cfg.train.n_envs), config=env_config, device=device)
    target = cfg.agent.get("_target_")
    if env.device == "cuda" and target not in DEVICE_ENV_AGENTS:
        raise ValueError(
            f"train.env_device = {device!r} puts the env on the GPU, which agent {target} "
            f"cannot train from; allowed: 'cpu' (agents that can: {list(DEVICE_ENV_AGENTS)})"
        )
    return env
