"""RLlib's PPO and DQN trained on the shopper env through our protocol (``agent=rllib_ppo``,
``agent=rllib_dqn``).

**Env.** RLlib's default networks are MLPs over a flat ``Box``, so the agent trains on the
env built with ``interface.observation = "features"`` forced (the compact float32 encoding of
``recenv.sim.encoding``), whatever the run's env config says; acting, it encodes the id
observations of the run's env the same way, so the paired evaluation (``agents.evaluation``)
scores it on the same shoppers as every other agent. ``make_env`` is the env creator,
registered as ``recenv`` with ``ray.tune.registry.register_env``: RLlib's env runners call it
with ``num_envs`` (``gym_env_vectorize_mode = "vector_entry_point"``), and each runner steps
one batched ``ShoppingVectorEnv`` of ``num_envs_per_env_runner`` shoppers in one core call
(NEXT_STEP autoreset, as RLlib expects). Runner ``i`` resets with seed ``seed + i``, so the
runners meet different shoppers.

**Parallelism.** RLlib's new API stack: ``num_env_runners`` sampling processes (Ray actors;
0 samples in the driver) and one local learner. If Ray is not running, ``learn`` starts a
local instance (``num_cpus``, no dashboard, usage stats off) and shuts it down at the end;
a Ray the caller started is left running. On a cluster, the same config joins it with
``agent.address=auto`` (``ray.init(address="auto")``: start it with ``ray start --head`` on
the head node and ``ray start --address=HEAD:6379`` on the others, with recenv installed on
every node), e.g. ``python -m experiments.train agent=rllib_ppo agent.address=auto
agent.num_env_runners=32``; ``num_cpus`` is then ignored.

**Acting and checkpoints.** ``act`` runs a copy of the policy module in this process (no
Ray): PPO's action logits, DQN's Q-values, argmax when deterministic, else a sample (PPO)
or epsilon-greedy with ``exploration_final`` (DQN), drawn from the agent's own generator.
``weights.pt`` holds that module's ``state_dict`` and the learner's full one (value head,
target network), loaded with ``weights_only=True``; a resumed ``learn`` restores the
weights but not the optimizer state or RLlib's step counters (DQN's epsilon restarts).
Training and acting run on CPU whatever ``device`` says (RLlib's GPU learners,
``num_gpus_per_learner``, are not wired here); one item per step (``slate_size = 1``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray

from agents import hyperparameters as hp
from agents.base import Callback, Info, Logger, Observation, ProgressReport, predict_with_act
from agents.networks import load_torch_agent, resolve_device, save_torch_agent
from recenv.sim.config import EnvConfig, config_from_dict, out_of_range
from recenv.sim.env import ShoppingEnv
from recenv.sim.vector import ShoppingVectorEnv

KIND = "rllib"
ENV_NAME = "recenv"
ALGORITHMS = ("ppo", "dqn")


@dataclass(frozen=True)
class RLlibConfig(hp.Hyperparameters):
    """The agent's settings; the field comments are the help text."""

    algorithm: str = "ppo"  # RLlib's PPO or DQN
    num_env_runners: int = 1  # sampling processes (Ray actors); 0 samples in the driver
    num_envs_per_env_runner: int = 16  # shoppers each runner steps side by side
    num_cpus: int = 2  # CPUs of the local Ray this agent starts (not used with an address)
    address: str = ""  # "": local Ray; "auto": the running cluster (see the module docstring)
    learning_rate: float = 1e-3
    gamma: float = 0.97  # discount per step
    hidden_size: int = 256  # units per hidden layer of the MLP
    hidden_layers: int = 2
    rollout_steps: int = 1024  # env steps per training iteration (PPO: its train batch)
    batch_size: int = 128  # PPO: minibatch; DQN: transitions per update
    num_epochs: int = 8  # PPO: passes over each train batch
    clip_param: float = 0.2  # PPO: policy ratio clip
    entropy_coeff: float = 0.0  # PPO: entropy bonus
    buffer_size: int = 50_000  # DQN: transitions kept
    learning_starts: int = 1_000  # DQN: env steps sampled before learning
    target_update_interval: int = 500  # DQN: env steps between target-network copies
    n_steps: int = 1  # DQN: n-step returns
    exploration_final: float = 0.05  # DQN: epsilon at the end of its decay (and when acting)
    exploration_fraction: float = 0.3  # DQN: share of the budget over which epsilon decays

    agent: ClassVar[str] = KIND
    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges(
        {
            hp.POSITIVE: "learning_rate clip_param",
            hp.NON_NEGATIVE: "num_env_runners learning_starts entropy_coeff",
            hp.AT_LEAST_ONE: "num_envs_per_env_runner num_cpus hidden_size hidden_layers "
            "rollout_steps batch_size num_epochs buffer_size target_update_interval n_steps",
            hp.SHARE: "gamma exploration_final exploration_fraction",
        }
    )
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"algorithm": ALGORITHMS}


def training_env_config(env_config: EnvConfig) -> EnvConfig:
    """The env the agent trains on: ``env_config`` with the features observation forced."""
    interface = dataclasses.replace(env_config.interface, observation="features")
    return dataclasses.replace(env_config, interface=interface)


def make_env(env_context: dict[str, Any]) -> ShoppingEnv | ShoppingVectorEnv:
    """RLlib's env creator: ``env_context["recenv"]`` holds the config's fields; with
    ``num_envs`` (vector entry point) a batched env of that many shoppers, else one."""
    config = config_from_dict(env_context["recenv"])
    if "num_envs" in env_context:
        return ShoppingVectorEnv(int(env_context["num_envs"]), config=config)
    return ShoppingEnv(config=config)


def algorithm_config(
    config: RLlibConfig, env_config: EnvConfig, seed: int, total_steps: int
) -> Any:
    """RLlib's ``AlgorithmConfig`` for these settings (new API stack, torch)."""
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    common = {"lr": config.learning_rate, "gamma": config.gamma}
    if config.algorithm == "ppo":
        algo = PPOConfig().training(
            **common,
            train_batch_size_per_learner=config.rollout_steps,
            minibatch_size=config.batch_size,
            num_epochs=config.num_epochs,
            clip_param=config.clip_param,
            entropy_coeff=config.entropy_coeff,
        )
    else:
        decay_steps = max(1, int(config.exploration_fraction * total_steps))
        algo = DQNConfig().training(
            **common,
            train_batch_size_per_learner=config.batch_size,
            replay_buffer_config={"type": "EpisodeReplayBuffer", "capacity": config.buffer_size},
            num_steps_sampled_before_learning_starts=config.learning_starts,
            target_network_update_freq=config.target_update_interval,
            n_step=config.n_steps,
            epsilon=[[0, 1.0], [decay_steps, config.exploration_final]],
            double_q=True,
            dueling=False,
        )
        algo = algo.reporting(min_sample_timesteps_per_iteration=config.rollout_steps)
    hidden = [config.hidden_size] * config.hidden_layers
    return (
        algo.environment(ENV_NAME, env_config={"recenv": dataclasses.asdict(env_config)})
        .env_runners(
            num_env_runners=config.num_env_runners,
            num_envs_per_env_runner=config.num_envs_per_env_runner,
            gym_env_vectorize_mode="vector_entry_point",
        )
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=hidden, fcnet_activation="relu"))
        .framework("torch")
        .debugging(seed=seed, log_level="ERROR")
    )


def start_ray(config: RLlibConfig) -> bool:
    """Start Ray unless it runs already; True if this call started it (so must stop it)."""
    import ray
    from ray.tune.registry import register_env

    register_env(ENV_NAME, make_env)
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    if config.address:
        ray.init(address=config.address, log_to_driver=False)
    else:
        ray.init(num_cpus=config.num_cpus, include_dashboard=False, log_to_driver=False)
    return True


class RLlibAgent:
    """RLlib's PPO or DQN behind the recenv agent protocol (see the module docstring)."""

    def __init__(
        self, env_config: Any = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, RLlibConfig, settings)
        if self.env_config.slate_size != 1:
            allowed = "1 (rllib agents take one item per step)"
            raise out_of_range("env slate_size", self.env_config.slate_size, allowed)
        if self.env_config.interface.action != "items":
            raise out_of_range("env interface.action", self.env_config.interface.action, "items")
        self.seed, self.device, self.steps_done = seed, resolve_device(device), 0
        self.sampled_steps = 0  # env steps this instance's runners simulated
        self.rng = np.random.default_rng(seed)
        self.features = ShoppingEnv(config=training_env_config(self.env_config))
        self.module = self._build_module()
        self.learner_state: dict[str, torch.Tensor] = {}  # the learner's module, for resuming

    def _build_module(self) -> Any:
        """The policy module in this process, for acting (inference only, on CPU)."""
        from ray.rllib.core import DEFAULT_MODULE_ID

        spec = algorithm_config(self.config, self.features.config, self.seed, 1)
        module_spaces = {
            DEFAULT_MODULE_ID: (self.features.observation_space, self.features.action_space)
        }
        return spec.get_rl_module_spec(spaces=module_spaces, inference_only=True).build()

    def encode(self, observation: Observation | NDArray) -> torch.Tensor:
        """``(n, features)`` float32 inputs of a batched id (or already encoded) observation."""
        if isinstance(observation, np.ndarray):
            return torch.as_tensor(observation, dtype=torch.float32)
        batched = dict(observation)
        if np.ndim(batched["query"]) == 0:  # one shopper: add the batch axis
            batched = {key: np.asarray(value)[None] for key, value in batched.items()}
        return torch.as_tensor(self.features.interface.observation(batched))

    @torch.no_grad()
    def scores(self, observation: Observation | NDArray) -> NDArray[np.float32]:
        """``(n, n_items)``: PPO's action logits or DQN's Q-values."""
        batch = {"obs": self.encode(observation)}
        if self.config.algorithm == "ppo":
            return self.module.forward_inference(batch)["action_dist_inputs"].numpy()
        return self.module.compute_q_values(batch)["qf_preds"].numpy()

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        scores = self.scores(observation)
        greedy = scores.argmax(axis=1)
        if deterministic:
            return greedy
        if self.config.algorithm == "ppo":  # sample softmax(logits) by the Gumbel-max trick
            return (scores + self.rng.gumbel(size=scores.shape)).argmax(axis=1)
        explore = self.rng.random(len(greedy)) < self.config.exploration_final
        return np.where(explore, self.rng.integers(0, scores.shape[1], len(greedy)), greedy)

    predict = predict_with_act

    def learn(
        self,
        env: Any,
        total_steps: int,
        logger: Logger | None = None,
        callback: Callback | None = None,
    ) -> RLlibAgent:
        """Train with RLlib's own loop on its runners' envs (``env`` only names the protocol's
        argument), one ``algo.train()`` iteration at a time until ``total_steps`` env steps are
        sampled; after each, the local module gets the new weights and ``callback(self)`` runs
        (False stops). Ray is started and stopped here when it was not running."""
        from ray.rllib.core import DEFAULT_MODULE_ID

        started = start_ray(self.config)
        config = algorithm_config(self.config, self.features.config, self.seed, total_steps)
        algo = config.build_algo()
        if self.config.algorithm == "dqn":  # RLlib's buffer samples from an unseeded generator
            algo.local_replay_buffer.rng = np.random.default_rng(self.seed)
        try:
            if self.learner_state:
                algo.learner_group.set_weights({DEFAULT_MODULE_ID: self.learner_state})
                algo.env_runner_group.sync_weights(
                    from_worker_or_learner_group=algo.learner_group, inference_only=True
                )
            report = ProgressReport(logger, self.config.rollout_steps, self.steps_done)
            start, before, sampled = self.steps_done, self.sampled_steps, 0
            while sampled < total_steps:
                result = algo.train()
                runners = result["env_runners"]
                sampled = int(runners["num_env_steps_sampled_lifetime"])
                self.steps_done, self.sampled_steps = start + sampled, before + sampled
                self._pull_weights(algo)
                if "episode_return_mean" in runners:
                    report.returns.append(float(runners["episode_return_mean"]))
                loss = result.get("learners", {}).get(DEFAULT_MODULE_ID, {}).get("total_loss")
                if loss is not None:
                    report.losses.append(float(loss))
                report(self.steps_done, sampled >= total_steps, {})
                if callback is not None and callback(self) is False:
                    break
        finally:
            algo.stop()
            if started:
                import ray

                ray.shutdown()
        return self

    def _pull_weights(self, algo: Any) -> None:
        """Copy the learner's weights into the local module (and keep them for resuming)."""
        from ray.rllib.core import DEFAULT_MODULE_ID

        state = algo.learner_group.get_weights()[DEFAULT_MODULE_ID]
        self.learner_state = {key: torch.as_tensor(value) for key, value in state.items()}
        self.module.set_state(self.learner_state)

    @property
    def shopper_steps_used(self) -> dict[str, int]:
        """RLlib trains on its runners' envs: their steps are this agent's training budget."""
        return {"training": self.sampled_steps, "selection": 0}

    def save(self, path: str | Path) -> None:
        weights = {"policy": self.module, "learner": self.learner_state}
        save_torch_agent(path, KIND, self, weights, steps_done=self.steps_done)

    @classmethod
    def load(
        cls, path: str | Path, env_config: EnvConfig | None = None, device: str = "auto"
    ) -> RLlibAgent:
        """Rebuild an agent from ``save``; weights load with ``weights_only=True``."""
        agent, meta, state = load_torch_agent(
            cls, path, KIND, env_config, device, lambda agent: {"policy": agent.module}
        )
        agent.learner_state, agent.steps_done = state.get("learner", {}), meta["steps_done"]
        return agent
