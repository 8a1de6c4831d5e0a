"""stable-baselines3 adapters: SB3's DQN and PPO trained on the shopper env through our protocol.

SB3 rejects Gymnasium ``VectorEnv``s, so ``SB3VecEnv`` wraps a SAME_STEP-autoreset
``ShoppingVectorEnv`` as an SB3 ``VecEnv`` (terminal observations and truncation flags in
the per-env infos, as SB3 expects). ``policy`` picks the network: SB3's own
``MultiInputPolicy`` (one-hot inputs, an MLP), or ``"recenv"`` (DQN only): our DQN's
Q-network inside SB3 (``agents.sb3_policies``), for comparisons at equal architecture.
Checkpoints hold the policy's ``state_dict`` (loaded with ``weights_only=True``) and a
JSON of hyperparameters, never SB3's pickled zip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from agents.base import (
    Callback,
    Logger,
    NullLogger,
    check_positive,
    read_json,
    write_json_atomically,
)
from agents.networks import load_weights, resolve_device
from agents.sb3_policies import RecenvDQNPolicy
from agents.selection import ModelSelection
from recenv.sim.config import EnvConfig, config_from_dict
from recenv.sim.env import resolve_config
from recenv.sim.vector import ShoppingVectorEnv

KIND = "sb3"
ALGORITHMS = {"dqn": DQN, "ppo": PPO}
POLICIES = ("MultiInputPolicy", "recenv")


class SB3VecEnv(VecEnv):
    """An SB3 ``VecEnv`` view of a SAME_STEP ``ShoppingVectorEnv`` (about 20 lines of glue)."""

    def __init__(self, env: ShoppingVectorEnv) -> None:
        if env.autoreset_mode.name != "SAME_STEP":
            raise ValueError("SB3VecEnv needs a ShoppingVectorEnv with autoreset_mode=SAME_STEP")
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: NDArray | None = None

    def reset(self) -> dict[str, NDArray]:
        seed = self._seeds[0]
        observation, _ = self.env.reset(seed=seed)
        self._reset_seeds()
        return observation

    def step_async(self, actions: NDArray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        observation, reward, terminated, truncated, info = self.env.step(self._actions)
        done = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for slot in np.flatnonzero(done):
            infos[slot]["terminal_observation"] = info["final_obs"][slot]
            infos[slot]["TimeLimit.truncated"] = bool(truncated[slot] and not terminated[slot])
        return observation, reward.astype(np.float32), done, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self.env, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs):
        return [getattr(self.env, method_name)(*method_args, **method_kwargs)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))


class SB3Agent:
    """SB3's ``DQN`` or ``PPO`` behind the recenv agent protocol.

    ``policy="MultiInputPolicy"`` is SB3's default network; ``policy="recenv"`` (DQN only)
    is ``agents.dqn.QNetwork``'s architecture, sized by ``policy_kwargs`` ``embedding_dim``
    and ``hidden_size``. Other keyword arguments go to SB3's algorithm unchanged.
    """

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        algorithm: str = "dqn",
        n_envs: int = 16,
        policy: str = "MultiInputPolicy",
        validation_interval: int = 0,
        validation_shoppers: int = 256,
        validation_seed: int = 0,
        **hyperparameters: Any,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"sb3.algorithm = {algorithm!r}; choose one of {sorted(ALGORITHMS)}")
        if policy not in POLICIES:
            raise ValueError(f"sb3.policy = {policy!r}; choose one of {list(POLICIES)}")
        if policy == "recenv" and algorithm != "dqn":
            raise ValueError(
                f"sb3.policy = 'recenv' needs sb3.algorithm = 'dqn', got {algorithm!r}"
            )
        self.env_config = resolve_config(env_config, None, {})
        if self.env_config.slate_size != 1:
            raise ValueError(
                f"sb3 agents take one item per step; env slate_size = "
                f"{self.env_config.slate_size} is out of range; allowed: 1"
            )
        if n_envs < 1:
            raise ValueError(f"sb3.n_envs = {n_envs} is out of range; allowed: >= 1")
        for name, value in (
            ("validation_interval", validation_interval),
            ("validation_shoppers", validation_shoppers),
            ("validation_seed", validation_seed),
        ):
            check_positive("sb3", name, value, allow_zero=name != "validation_shoppers")
        self.validation_interval = int(validation_interval)
        self.selection = ModelSelection(self.env_config, validation_shoppers, validation_seed)
        self.seed, self.algorithm, self.n_envs = seed, algorithm, int(n_envs)
        self.policy = policy
        self.hyperparameters = dict(hyperparameters)
        self.device = resolve_device(device)
        self.vec_env = SB3VecEnv(
            ShoppingVectorEnv(self.n_envs, config=self.env_config, autoreset_mode="SAME_STEP")
        )
        sb3_arguments = dict(self.hyperparameters)
        policy_class: str | type = policy
        if policy == "recenv":  # the env config is known here, not in the (JSON) hyperparameters
            policy_class = RecenvDQNPolicy
            sb3_arguments["policy_kwargs"] = {
                **sb3_arguments.get("policy_kwargs", {}),
                "env_config": self.env_config,
            }
        try:
            self.model = ALGORITHMS[algorithm](
                policy_class,
                self.vec_env,
                seed=seed,
                device=self.device,
                verbose=0,
                **sb3_arguments,
            )
        except TypeError as error:  # SB3 reports a misspelt keyword as a TypeError
            raise ValueError(
                f"sb3.{algorithm} does not accept {sorted(self.hyperparameters)}: {error}"
            ) from error
        self.steps_done = 0

    def act(
        self,
        observation: Mapping[str, NDArray],
        deterministic: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> NDArray[np.int64]:
        action, _ = self.model.predict(dict(observation), deterministic=deterministic)
        return np.asarray(action, dtype=np.int64)

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return self.act(observation, deterministic), None

    def learn(
        self,
        env: Any,
        total_steps: int,
        logger: Logger | None = None,
        callback: Callback | None = None,
    ) -> SB3Agent:
        """Train with SB3's own loop on this agent's SAME_STEP copy of the env.

        After every SB3 step ``callback(self)`` runs (evaluations, checkpoints; False stops),
        and with ``validation_interval > 0`` the policy is scored on validation shoppers every
        so many steps and at the end, keeping the best (``agents.selection``, the protocol
        DQN and the MLP follow).
        """
        logger = logger or NullLogger()
        hook = _ProtocolCallback(self, self.steps_done, logger, callback)
        self.model.learn(
            total_timesteps=total_steps, reset_num_timesteps=self.steps_done == 0, callback=hook
        )
        self.steps_done = hook.steps()
        if self.validation_interval:
            self._validate(logger)
            self.model.policy.load_state_dict(self.selection.best_state)
        for name, value in self.model.logger.name_to_value.items():
            if isinstance(value, (int, float)):
                logger.record(f"sb3/{name}", float(value), self.steps_done)
        return self

    def _validate(self, logger: Logger) -> None:
        self.selection.consider(self, self.model.policy.state_dict, self.steps_done, logger)

    @property
    def shopper_steps_used(self) -> dict[str, int]:
        """SB3 trains on its own env: its steps are this agent's training budget."""
        return {
            "training": int(self.vec_env.env.simulator.shopper_steps),
            "selection": self.selection.shopper_steps,
        }

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        temporary = path / "weights.tmp"
        torch.save({"policy": self.model.policy.state_dict()}, temporary)
        temporary.replace(path / "weights.pt")
        write_json_atomically(
            path / "agent.json",
            {
                "kind": KIND,
                "algorithm": self.algorithm,
                "n_envs": self.n_envs,
                "policy": self.policy,
                "hyperparameters": self.hyperparameters,
                "seed": self.seed,
                "env_config": dataclasses.asdict(self.env_config),
                "steps_done": self.steps_done,
                "validation": {
                    "interval": self.validation_interval,
                    "shoppers": self.selection.n_shoppers,
                    "seed": self.selection.seed,
                },
                "selection": self.selection.counters(),
            },
        )

    @classmethod
    def load(
        cls, path: str | Path, env_config: EnvConfig | None = None, device: str = "auto"
    ) -> SB3Agent:
        path = Path(path)
        meta = read_json(path / "agent.json", KIND)
        agent = cls(
            env_config or config_from_dict(meta["env_config"]),
            seed=meta["seed"],
            device=device,
            algorithm=meta["algorithm"],
            n_envs=meta["n_envs"],
            policy=meta.get("policy", "MultiInputPolicy"),  # checkpoints before the option
            validation_interval=meta.get("validation", {}).get("interval", 0),
            validation_shoppers=meta.get("validation", {}).get("shoppers", 256),
            validation_seed=meta.get("validation", {}).get("seed", 0),
            **meta["hyperparameters"],
        )
        state = load_weights(path / "weights.pt", agent.device)
        try:
            agent.model.policy.load_state_dict(state["policy"])
        except (KeyError, RuntimeError) as error:
            raise ValueError(f"checkpoint {path} does not match this agent: {error}") from error
        agent.steps_done = meta["steps_done"]
        agent.selection.restore_counters(meta.get("selection", {}))
        return agent


class _ProtocolCallback(BaseCallback):
    """SB3's callback hook calling the recenv protocol's callback and model selection."""

    def __init__(
        self, agent: SB3Agent, start: int, logger: Logger, callback: Callback | None
    ) -> None:
        super().__init__()
        self.agent, self.start, self.recenv_logger, self.recenv_callback = (
            agent,
            start,
            logger,
            callback,
        )
        self.next_validation = start + agent.validation_interval
        self.first_timesteps: int | None = None

    def steps(self) -> int:
        """Shopper-steps of this agent so far (SB3 counts env-steps over all its envs)."""
        if self.first_timesteps is None:
            return self.start
        return self.start + self.model.num_timesteps - self.first_timesteps

    def _on_training_start(self) -> None:
        self.first_timesteps = self.model.num_timesteps

    def _on_step(self) -> bool:
        self.agent.steps_done = self.steps()
        interval = self.agent.validation_interval
        if interval and self.agent.steps_done >= self.next_validation:
            self.next_validation += interval
            self.agent._validate(self.recenv_logger)
        keep_going = self.recenv_callback is None or self.recenv_callback(self.agent)
        return keep_going is not False
