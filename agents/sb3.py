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

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from agents import hyperparameters as hp
from agents.base import Callback, Info, Logger, NullLogger, Observation, predict_with_act, read_json
from agents.networks import load_torch_agent, resolve_device, save_torch_agent
from agents.sb3_policies import RecenvDQNPolicy
from agents.selection import ModelSelection
from recenv.sim.config import EnvConfig, out_of_range
from recenv.sim.vector import ShoppingVectorEnv

KIND = "sb3"
ALGORITHMS = {"dqn": DQN, "ppo": PPO}


@dataclass(frozen=True)
class SB3Config(hp.Hyperparameters):
    """The adapter's own settings; every other keyword goes to SB3's algorithm unchanged."""

    algorithm: str = "dqn"  # SB3's DQN or PPO
    n_envs: int = 16  # shoppers SB3 simulates side by side (its own SAME_STEP env)
    policy: str = "MultiInputPolicy"  # SB3's network, or "recenv": our DQN's (DQN only)
    validation_interval: int = 0  # shopper-steps between model selections; 0: off
    validation_shoppers: int = 256  # held-out shoppers per validation run
    validation_seed: int = 0  # seed of the validation split

    agent: ClassVar[str] = KIND
    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges(
        {
            hp.AT_LEAST_ONE: "n_envs validation_shoppers",
            hp.NON_NEGATIVE: "validation_interval validation_seed",
        }
    )
    choices: ClassVar[dict[str, tuple[str, ...]]] = {
        "algorithm": tuple(ALGORITHMS),
        "policy": ("MultiInputPolicy", "recenv"),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.policy == "recenv" and self.algorithm != "dqn":
            raise ValueError(
                f"sb3.policy = 'recenv' needs sb3.algorithm = 'dqn', got {self.algorithm!r}"
            )


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
        **arguments: Any,
    ) -> None:
        own = {spec.name for spec in fields(SB3Config)}
        settings = {name: value for name, value in arguments.items() if name in own}
        self.env_config, self.config = hp.agent_settings(env_config, SB3Config, settings)
        if self.env_config.slate_size != 1:
            allowed = "1 (sb3 agents take one item per step)"
            raise out_of_range("env slate_size", self.env_config.slate_size, allowed)
        self.hyperparameters = {k: v for k, v in arguments.items() if k not in own}
        self.seed, self.device, self.steps_done = seed, resolve_device(device), 0
        config = self.config
        self.algorithm, self.n_envs, self.policy = config.algorithm, config.n_envs, config.policy
        self.vec_env = SB3VecEnv(
            ShoppingVectorEnv(self.n_envs, config=self.env_config, autoreset_mode="SAME_STEP")
        )
        sb3_arguments = dict(self.hyperparameters)
        policy_class: str | type = self.policy
        if self.policy == "recenv":  # the env config is known here, not in the (JSON) arguments
            policy_class = RecenvDQNPolicy
            sb3_arguments["policy_kwargs"] = {
                **sb3_arguments.get("policy_kwargs", {}),
                "env_config": self.env_config,
            }
        try:
            self.model = ALGORITHMS[self.algorithm](
                policy_class,
                self.vec_env,
                seed=seed,
                device=self.device,
                verbose=0,
                **sb3_arguments,
            )
        except TypeError as error:  # SB3 reports a misspelt keyword as a TypeError
            raise ValueError(
                f"sb3.{self.algorithm} does not accept {sorted(self.hyperparameters)}: {error}"
            ) from error
        validation = config.validation_shoppers, config.validation_seed, config.validation_interval
        self.selection = ModelSelection(self.env_config, self.model.policy, *validation)

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        action, _ = self.model.predict(dict(observation), deterministic=deterministic)
        return np.asarray(action, dtype=np.int64)

    predict = predict_with_act

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
        hook = _ProtocolCallback(self, self.steps_done, callback)
        self.selection.start(self, logger)
        self.model.learn(
            total_timesteps=total_steps, reset_num_timesteps=self.steps_done == 0, callback=hook
        )
        self.steps_done = hook.steps()
        self.selection.finish(self)
        for name, value in self.model.logger.name_to_value.items():
            if isinstance(value, (int, float)):
                logger.record(f"sb3/{name}", float(value), self.steps_done)
        return self

    @property
    def shopper_steps_used(self) -> dict[str, int]:
        """SB3 trains on its own env: its steps are this agent's training budget."""
        return {
            "training": int(self.vec_env.env.simulator.shopper_steps),
            "selection": self.selection.shopper_steps,
        }

    def checkpointed(self) -> dict[str, Any]:
        """What ``weights.pt`` restores: SB3's policy (its networks), never SB3's pickles."""
        return {"policy": self.model.policy}

    def save(self, path: str | Path) -> None:
        config = self.config
        validation = {
            "interval": config.validation_interval,
            "shoppers": config.validation_shoppers,
        }
        save_torch_agent(
            path,
            KIND,
            self,
            self.checkpointed(),
            self.hyperparameters,
            algorithm=self.algorithm,
            n_envs=self.n_envs,
            policy=self.policy,
            steps_done=self.steps_done,
            validation={**validation, "seed": config.validation_seed},
            selection=self.selection.counters(),
        )

    @classmethod
    def load(
        cls, path: str | Path, env_config: EnvConfig | None = None, device: str = "auto"
    ) -> SB3Agent:
        """Rebuild an agent from ``save``; its policy loads with ``weights_only=True``."""
        meta = read_json(Path(path) / "agent.json", KIND)
        validation = meta.get("validation", {})
        settings = {
            "algorithm": meta["algorithm"],
            "n_envs": meta["n_envs"],
            "policy": meta.get("policy", "MultiInputPolicy"),  # checkpoints before the option
            "validation_interval": validation.get("interval", 0),
            "validation_shoppers": validation.get("shoppers", 256),
            "validation_seed": validation.get("seed", 0),
        }
        agent, meta, _ = load_torch_agent(
            cls, path, KIND, env_config, device, cls.checkpointed, **settings
        )
        agent.steps_done = meta["steps_done"]
        agent.selection.restore_counters(meta.get("selection", {}))
        return agent


class _ProtocolCallback(BaseCallback):
    """SB3's callback hook calling the recenv protocol's callback and model selection."""

    def __init__(self, agent: SB3Agent, start: int, callback: Callback | None) -> None:
        super().__init__()
        self.agent, self.start, self.recenv_callback = agent, start, callback
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
        self.agent.selection(self.agent)
        keep_going = self.recenv_callback is None or self.recenv_callback(self.agent)
        return keep_going is not False
