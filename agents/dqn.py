"""DQN: the reinforcement-learning recommender.

Reads top to bottom: hyperparameters, the Q-network, acting (epsilon-greedy), learning.

* Q-network: ``Q(s, j) = <W encoder(s), item_j> + b_j`` (``head: dot``; scales to 100,000
  items) or a plain linear output layer (``head: linear``, small catalogs).
* Collection: many shoppers per step from the vector env (NEXT_STEP autoreset), n-step
  returns per shopper, a preallocated replay buffer on the training device.
* TD target (Double DQN): ``y = G + gamma^m * Q_target(s', argmax_a Q_online(s', a))``
  with ``G`` the m-step discounted return and no bootstrap after termination; plain DQN
  takes ``max_a Q_target(s', a)``. Huber loss, gradient-norm clipping.
* Target network: hard copy every ``target_update_interval`` updates, or Polyak
  ``theta_target <- tau * theta + (1 - tau) * theta_target`` after each update.
* Exploration: epsilon decays linearly from ``exploration_initial`` to
  ``exploration_final`` over ``exploration_fraction`` of the budget; ``deterministic``
  acting is greedy.
* Model selection (``agents.selection``, the protocol every learning agent shares): with
  ``validation_interval > 0`` the greedy policy is scored every so many steps on held-out
  validation shoppers and the best weights are kept: Q-learning on this simulator peaks
  and then oscillates, and the last iterate is a noisy pick. The shopper-steps spent are
  reported in ``shopper_steps_used``.

For slates, items are ranked by Q and the slate's first item is the learned action.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from agents.base import (
    Callback,
    Logger,
    NullLogger,
    check_positive,
    check_probability,
    read_json,
    top_items,
    write_json_atomically,
)
from agents.buffers import NStepWindow, ReplayBuffer
from agents.networks import (
    ItemScoreHead,
    LinearScoreHead,
    ObservationTensors,
    StateEncoder,
    load_weights,
    resolve_device,
    to_tensors,
)
from agents.schedules import LinearSchedule
from agents.selection import ModelSelection
from recenv.sim.config import EnvConfig, config_from_dict
from recenv.sim.env import resolve_config
from recenv.sim.items import item_features
from recenv.sim.state import CART_ITEMS, CART_VALUE

KIND = "dqn"


@dataclass(frozen=True)
class DQNConfig:
    """DQN hyperparameters; the field comments are the help text."""

    learning_rate: float = 5e-4  # Adam step size at the start
    learning_rate_end: float = 0.2  # share of the step size left at the end (linear decay)
    gamma: float = 0.97  # discount per step
    buffer_size: int = 200_000  # transitions kept
    batch_size: int = 256  # transitions per gradient step
    learning_starts: int = 5_000  # shopper-steps collected before learning
    gradient_steps: int = 1  # gradient steps per vector-env step
    target_update: str = "hard"  # "hard" or "polyak"
    target_update_interval: int = 1_000  # gradient steps between hard copies
    tau: float = 0.01  # Polyak rate
    exploration_initial: float = 1.0
    exploration_final: float = 0.05
    exploration_fraction: float = 0.3  # share of the budget over which epsilon decays
    double_dqn: bool = True
    n_steps: int = 5  # n-step returns
    max_grad_norm: float = 10.0
    reward_scale: float = 1.0  # rewards are multiplied by this before learning
    cart_shaping: float = 0.0  # potential-based shaping by the cart's value (see learn); 0: off
    embedding_dim: int = 32
    hidden_size: int = 128
    head: str = "dot"  # "dot" (item embeddings) or "linear"
    log_interval: int = 10_000  # shopper-steps between log records
    validation_interval: int = 20_000  # shopper-steps between validation runs; 0 turns them off
    validation_shoppers: int = 256  # held-out shoppers per validation run
    validation_seed: int = 0  # seed of the validation split (disjoint from train and eval)

    def __post_init__(self) -> None:
        owner = "dqn"
        for name in ("learning_rate", "tau", "reward_scale", "max_grad_norm"):
            check_positive(owner, name, getattr(self, name))
        for name in (
            "buffer_size",
            "batch_size",
            "gradient_steps",
            "target_update_interval",
            "n_steps",
            "embedding_dim",
            "hidden_size",
            "log_interval",
            "validation_shoppers",
        ):
            check_positive(owner, name, getattr(self, name))
        for name in ("learning_starts", "validation_interval", "validation_seed", "cart_shaping"):
            check_positive(owner, name, getattr(self, name), allow_zero=True)
        for name in (
            "gamma",
            "learning_rate_end",
            "exploration_initial",
            "exploration_final",
            "exploration_fraction",
            "tau",
        ):
            check_probability(owner, name, getattr(self, name))
        if self.batch_size > self.buffer_size:
            raise ValueError(
                f"dqn.batch_size = {self.batch_size} is out of range; allowed: "
                f"[1, buffer_size = {self.buffer_size}]"
            )
        if self.target_update not in ("hard", "polyak"):
            raise ValueError(
                f"dqn.target_update = {self.target_update!r}; choose 'hard' or 'polyak'"
            )
        if self.head not in ("dot", "linear"):
            raise ValueError(f"dqn.head = {self.head!r}; choose 'dot' or 'linear'")


def make_dqn_config(hyperparameters: Mapping[str, Any]) -> DQNConfig:
    """Build the config, turning unknown names into a clear ValueError."""
    known = {spec.name for spec in dataclasses.fields(DQNConfig)}
    unknown = sorted(set(hyperparameters) - known)
    if unknown:
        raise ValueError(f"unknown dqn hyperparameters {unknown}; valid: {sorted(known)}")
    return DQNConfig(**hyperparameters)


class QNetwork(nn.Module):
    """State encoder followed by an item-score head: one Q-value per item."""

    def __init__(self, env_config: EnvConfig, item_category: NDArray[np.int64], config: DQNConfig):
        super().__init__()
        self.encoder = StateEncoder(
            env_config, item_category, config.embedding_dim, config.hidden_size
        )
        if config.head == "dot":
            self.head = ItemScoreHead(
                self.encoder.items,
                self.encoder.candidates,
                config.hidden_size,
                config.embedding_dim,
            )
        else:
            self.head = LinearScoreHead(config.hidden_size, env_config.catalog.n_items)

    def forward(self, observation: ObservationTensors) -> torch.Tensor:
        return self.head(self.encoder(observation), observation)  # (n, n_items)

    def item_scores(self, observation: ObservationTensors, items: torch.Tensor) -> torch.Tensor:
        """``Q(s_r, items_r)`` per row, without scoring the whole catalog (dot head)."""
        if isinstance(self.head, ItemScoreHead):
            return self.head.pair_scores(self.encoder(observation), observation, items)
        return self(observation).gather(1, items[:, None])[:, 0]


class DQNAgent:
    """Deep Q-learning over item scores, collecting from many shoppers per step."""

    def __init__(
        self,
        env_config: EnvConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        **hyperparameters: Any,
    ) -> None:
        self.env_config = resolve_config(env_config, None, {})
        self.config = make_dqn_config(hyperparameters)
        self.seed, self.device = seed, resolve_device(device)
        torch.manual_seed(seed)
        item_category = item_features(self.env_config)["category"]
        self.q_network = QNetwork(self.env_config, item_category, self.config).to(self.device)
        self.target_network = copy.deepcopy(self.q_network).requires_grad_(False)
        self.optimizer = torch.optim.Adam(
            self.q_network.parameters(), lr=self.config.learning_rate, foreach=True
        )
        self._online_parameters = list(self.q_network.parameters())
        self._target_parameters = list(self.target_network.parameters())
        self.rng = np.random.default_rng(seed)
        self.epsilon = self.config.exploration_final
        self.steps_done, self.updates_done = 0, 0
        self.buffer: ReplayBuffer | None = None
        self.selection = ModelSelection(
            self.env_config, self.config.validation_shoppers, self.config.validation_seed
        )
        self.selection.best_state = copy.deepcopy(self.q_network.state_dict())

    # -- acting -----------------------------------------------------------------------------
    @torch.no_grad()
    def q_values(self, observation: Mapping[str, NDArray]) -> NDArray[np.float32]:
        """Q-values ``(n, n_items)`` of a batched observation (a fresh array)."""
        return self.q_network(to_tensors(observation, self.device)).cpu().numpy().copy()

    def act(
        self,
        observation: Mapping[str, NDArray],
        deterministic: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> NDArray[np.int64]:
        """Greedy items (or slates) by Q; with probability epsilon a random one instead."""
        with torch.no_grad():  # scores may share the network's serving buffer: used at once
            scores = self.q_network(to_tensors(observation, self.device)).cpu().numpy()
        if not deterministic and self.epsilon > 0:
            explore = self.rng.random(len(scores)) < self.epsilon
            scores[explore] = self.rng.random((int(explore.sum()), scores.shape[1]))
        return top_items(scores, self.env_config.slate_size)

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return self.act(observation, deterministic=deterministic), None

    # -- learning ---------------------------------------------------------------------------
    def learn(
        self,
        env: Any,
        total_steps: int,
        logger: Logger | None = None,
        callback: Callback | None = None,
    ) -> DQNAgent:
        """Train for ``total_steps`` more shopper-steps of a NEXT_STEP-autoreset vector env.

        Schedules (epsilon, learning rate) run over ``steps_done + total_steps``, so a run
        restored from a checkpoint and continued to the same total follows the same schedule.
        ``callback(agent)`` runs after every vector step; returning False stops early.
        """
        if (
            getattr(env, "autoreset_mode", None) is not None
            and env.autoreset_mode.name != "NEXT_STEP"
        ):
            raise ValueError("DQNAgent.learn needs a vector env with NEXT_STEP autoreset")
        config, logger = self.config, logger or NullLogger()
        if self.buffer is None:
            self.buffer = ReplayBuffer(
                config.buffer_size,
                {key: value.shape for key, value in env.single_observation_space.items()},
                self.device,
                torch.Generator(device=self.device).manual_seed(self.seed),
            )
        buffer = self.buffer
        window = NStepWindow(config.n_steps, config.gamma)
        schedule = LinearSchedule(
            config.exploration_initial, config.exploration_final, config.exploration_fraction
        )
        # A continued run meets fresh shoppers of its own seed: no slot has reached session
        # ``steps_done`` yet (a session lasts at least one step).
        observation, _ = env.reset(
            seed=self.seed, options={"session_index": self.steps_done} if self.steps_done else None
        )
        n_shoppers = env.num_envs
        restarting = np.zeros(n_shoppers, dtype=bool)
        session_return = np.zeros(n_shoppers)
        finished_returns: list[float] = []
        losses: list[float] = []
        start_steps, start_time = self.steps_done, time.perf_counter()
        end = self.steps_done + total_steps
        next_log = self.steps_done + config.log_interval
        next_validation = self.steps_done + config.validation_interval
        while self.steps_done < end:
            progress = self.steps_done / max(end, 1)
            self.epsilon = schedule(progress)
            for group in self.optimizer.param_groups:
                group["lr"] = config.learning_rate * (1 + progress * (config.learning_rate_end - 1))
            action = self.act(observation)
            next_observation, reward, terminated, truncated, _ = env.step(action)
            first_item = action if action.ndim == 1 else action[:, 0]
            transitions = window.push(
                observation,
                first_item,
                self._shaped(reward, observation, next_observation, terminated)
                * config.reward_scale,
                terminated,
                truncated,
                next_observation,
                valid=~restarting,
            )
            if transitions is not None:
                buffer.add(*transitions)
            session_return = np.where(restarting, 0.0, session_return + reward)
            ended = terminated | truncated
            finished_returns.extend(session_return[ended].tolist())
            restarting, observation = ended, next_observation
            self.steps_done += n_shoppers
            if self.steps_done >= config.learning_starts and buffer.size >= config.batch_size:
                for _ in range(config.gradient_steps):
                    losses.append(self._update(buffer.sample(config.batch_size)))
            if config.validation_interval and self.steps_done >= next_validation:
                next_validation += config.validation_interval
                self._validate(logger)
            if self.steps_done >= next_log or self.steps_done >= end:
                next_log += config.log_interval
                elapsed = time.perf_counter() - start_time
                logger.record("train/epsilon", self.epsilon, self.steps_done)
                logger.record(
                    "train/learning_rate", self.optimizer.param_groups[0]["lr"], self.steps_done
                )
                logger.record(
                    "time/steps_per_s", (self.steps_done - start_steps) / elapsed, self.steps_done
                )
                if losses:
                    logger.record("train/loss", float(np.mean(losses)), self.steps_done)
                if finished_returns:
                    logger.record(
                        "train/episode_return", float(np.mean(finished_returns)), self.steps_done
                    )
                losses, finished_returns = [], []
            if callback is not None and callback(self) is False:
                break
        self.epsilon = config.exploration_final
        if config.validation_interval and self.steps_done >= end:
            self._validate(logger)
            self.q_network.load_state_dict(self.selection.best_state)
        return self

    @property
    def shopper_steps_used(self) -> dict[str, int]:
        """Shopper-steps spent outside the training env: model selection."""
        return {"selection": self.selection.shopper_steps}

    def _shaped(self, reward, observation, next_observation, terminated) -> NDArray:
        """``r + gamma (1 - terminated) phi(s') - phi(s)`` with ``phi = cart_shaping x cart
        value`` (observable): a purchase's revenue is credited when its item enters the cart,
        not at the later checkout step, whatever is shown then. Potential-based, so the
        optimal policy is unchanged (Ng, Harada and Russell, 1999); evaluation uses the true
        rewards."""
        if not self.config.cart_shaping:
            return reward
        funnel = self.env_config.funnel
        weight = self.config.cart_shaping * funnel.reward_purchase
        column = CART_VALUE if funnel.purchase_reward == "revenue" else CART_ITEMS
        before = weight * observation["session"][:, column]
        after = weight * next_observation["session"][:, column]
        return reward + self.config.gamma * np.where(terminated, 0.0, after) - before

    def _validate(self, logger: Logger) -> None:
        """Score the greedy policy on the validation shoppers; remember the best weights."""
        self.selection.consider(self, self.q_network.state_dict, self.steps_done, logger)

    def _update(self, batch) -> float:
        """One gradient step on the Huber loss to the (Double) DQN target.

        Only ``Q(s, a)`` of the taken items needs gradients, so it is scored pairwise; the
        whole catalog is scored once, without a graph, for the argmax over next states.
        """
        config = self.config
        q_taken = self.q_network.item_scores(batch.observation, batch.action)
        with torch.no_grad():
            if config.double_dqn:
                best = self.q_network(batch.next_observation).argmax(dim=1)
                next_value = self.target_network.item_scores(batch.next_observation, best)
            else:
                next_value = self.target_network(batch.next_observation).max(dim=1).values
            td_target = batch.reward + batch.discount * next_value
        loss = nn.functional.smooth_l1_loss(q_taken, td_target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.q_network.parameters(), config.max_grad_norm)
        self.optimizer.step()
        self.updates_done += 1
        self._sync_target()
        return loss.item()

    def _sync_target(self) -> None:
        if self.config.target_update == "polyak":
            with torch.no_grad():
                torch._foreach_lerp_(
                    self._target_parameters, self._online_parameters, self.config.tau
                )
        elif self.updates_done % self.config.target_update_interval == 0:
            self.target_network.load_state_dict(self.q_network.state_dict())

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write ``weights.pt`` (state dicts) and ``agent.json`` (config and counters)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        weights = path / "weights.pt"
        temporary = weights.with_suffix(".tmp")
        torch.save(
            {
                "q_network": self.q_network.state_dict(),
                "target_network": self.target_network.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "best_weights": self.selection.best_state,
            },
            temporary,
        )
        temporary.replace(weights)
        write_json_atomically(
            path / "agent.json",
            {
                "kind": KIND,
                "hyperparameters": dataclasses.asdict(self.config),
                "env_config": dataclasses.asdict(self.env_config),
                "seed": self.seed,
                "epsilon": self.epsilon,
                "steps_done": self.steps_done,
                "updates_done": self.updates_done,
                "selection": self.selection.counters(),
                "rng_state": self.rng.bit_generator.state,
            },
        )

    def save_replay_buffer(self, path: str | Path) -> None:
        """Write the replay buffer (plain tensors) next to a checkpoint, atomically."""
        if self.buffer is None:
            return
        target = Path(path) / "replay_buffer.pt"
        temporary = target.with_suffix(".tmp")
        torch.save(
            {"buffer": self.buffer.state_dict(), "generator": self.buffer.generator.get_state()},
            temporary,
        )
        temporary.replace(target)

    def load_replay_buffer(self, path: str | Path, observation_space: Any) -> bool:
        """Restore a buffer written by ``save_replay_buffer``; False when there is none."""
        source = Path(path) / "replay_buffer.pt"
        if not source.is_file():
            return False
        state = load_weights(source, torch.device("cpu"))
        self.buffer = ReplayBuffer(
            self.config.buffer_size,
            {key: value.shape for key, value in observation_space.items()},
            self.device,
            torch.Generator(device=self.device).manual_seed(self.seed),
        )
        self.buffer.load_state_dict(state["buffer"])
        self.buffer.generator.set_state(state["generator"])
        return True

    @classmethod
    def load(
        cls, path: str | Path, env_config: EnvConfig | None = None, device: str = "auto"
    ) -> DQNAgent:
        """Rebuild an agent from ``save``; weights load with ``weights_only=True``."""
        path = Path(path)
        meta = read_json(path / "agent.json", KIND)
        config = env_config or config_from_dict(meta["env_config"])
        agent = cls(config, seed=meta["seed"], device=device, **meta["hyperparameters"])
        state = load_weights(path / "weights.pt", agent.device)
        try:
            agent.q_network.load_state_dict(state["q_network"])
            agent.target_network.load_state_dict(state["target_network"])
            agent.optimizer.load_state_dict(state["optimizer"])
            agent.selection.best_state = state.get("best_weights", agent.selection.best_state)
        except (KeyError, RuntimeError) as error:
            raise ValueError(f"checkpoint {path} does not match this agent: {error}") from error
        agent.epsilon = meta["epsilon"]
        agent.steps_done, agent.updates_done = meta["steps_done"], meta["updates_done"]
        agent.selection.restore_counters(meta.get("selection", {}))
        if "rng_state" in meta:
            agent.rng.bit_generator.state = meta["rng_state"]
        return agent
