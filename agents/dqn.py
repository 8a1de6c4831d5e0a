"""DQN: the reinforcement-learning recommender.

Reads top to bottom: hyperparameters, the Q-network, acting (epsilon-greedy), learning.

* Q-network: ``Q(s, j) = <W encoder(s), item_j> + b_j`` (``head: dot``; scales to 100,000
  items) or a plain linear output layer (``head: linear``, small catalogs).
* Collection: many shoppers per step from the vector env (NEXT_STEP autoreset), n-step
  returns per shopper (``buffers.NStepWindow``), a preallocated replay buffer on the
  training device.
* TD target (Double DQN): ``y = G + (1 - terminated) * gamma^m * Q_target(s', argmax_a
  Q_online(s', a))`` with ``G`` the m-step discounted return; plain DQN takes
  ``max_a Q_target(s', a)``. Huber loss, gradient-norm clipping.
* Target network: hard copy every ``target_update_interval`` updates, or Polyak
  ``theta_target <- tau * theta + (1 - tau) * theta_target`` after each update.
* Schedules (``agents.schedules``): epsilon decays linearly from ``exploration_initial``
  to ``exploration_final`` over ``exploration_fraction`` of the budget, the learning rate
  linearly to ``learning_rate_end`` of itself; ``deterministic`` acting is greedy.
* Model selection (``agents.selection``, the callback the learning agents share): with
  ``validation_interval > 0`` the greedy policy is scored every so many steps on held-out
  validation shoppers and the best weights are kept: Q-learning on this simulator peaks
  and then oscillates, and the last iterate is a noisy pick.

For slates, items are ranked by Q and the slate's first item is the learned action.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from agents import hyperparameters as hp
from agents.base import (
    Callback,
    EnvSource,
    Info,
    Logger,
    Observation,
    ProgressReport,
    predict_with_act,
    top_items,
)
from agents.buffers import (
    NStepCollector,
    NStepWindow,
    ReplayBuffer,
    TransitionBatch,
    first_item,
)
from agents.networks import (
    ItemScoreHead,
    LinearScoreHead,
    ObservationTensors,
    load_torch_agent,
    resolve_device,
    save_torch_agent,
    to_tensors,
)
from agents.schedules import LinearDecayLR, LinearSchedule
from agents.selection import ModelSelection
from agents.sequence import EncoderSettings, build_encoder
from recenv.sim.config import EnvConfig, out_of_range
from recenv.sim.items import item_features
from recenv.sim.state import CART_ITEMS, CART_VALUE

if TYPE_CHECKING:
    from agents.explain import Explanation

KIND = "dqn"
COUNTERS = ("epsilon", "steps_done", "updates_done")  # progress a checkpoint restores


@dataclass(frozen=True)
class DQNConfig(EncoderSettings):
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

    agent: ClassVar[str] = KIND
    bounds, choices = EncoderSettings.merged(
        hp.ranges(
            {
                hp.POSITIVE: "learning_rate reward_scale max_grad_norm",
                hp.NON_NEGATIVE: "learning_starts cart_shaping validation_interval validation_seed",
                hp.AT_LEAST_ONE: "buffer_size batch_size gradient_steps target_update_interval "
                "n_steps embedding_dim hidden_size log_interval validation_shoppers",
                hp.SHARE: "gamma learning_rate_end exploration_initial exploration_final "
                "exploration_fraction",
                hp.POSITIVE_SHARE: "tau",
            }
        ),
        {"target_update": ("hard", "polyak"), "head": ("dot", "linear")},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size > self.buffer_size:
            allowed = f"[1, buffer_size = {self.buffer_size}]"
            raise out_of_range(f"{self.agent}.batch_size", self.batch_size, allowed)


def device_tensors(observation: Mapping[str, torch.Tensor], device: torch.device):
    """The network's inputs from a device env's observation tensors (no host copy)."""
    return ObservationTensors(
        history=observation["history"].to(device=device, dtype=torch.long),
        history_events=observation["history_events"].to(device=device, dtype=torch.long),
        cart=observation["cart"].to(device=device, dtype=torch.long),
        session=observation["session"].to(device=device, dtype=torch.float32),
        query=observation["query"].to(device=device, dtype=torch.long),
    )


class QNetwork(nn.Module):
    """State encoder followed by an item-score head: one Q-value (or other score) per item.

    ``config`` needs ``embedding_dim``, ``hidden_size`` and ``head`` (``DQNConfig``'s fields;
    SlateQ's click model reads the same three)."""

    def __init__(self, env_config: EnvConfig, item_category: NDArray[np.int64], config: Any):
        super().__init__()
        dim, hidden = config.embedding_dim, config.hidden_size
        self.encoder = build_encoder(env_config, item_category, dim, hidden, config)
        if config.head == "dot":
            self.head = ItemScoreHead(self.encoder.items, self.encoder.candidates, hidden, dim)
        else:
            self.head = LinearScoreHead(hidden, env_config.catalog.n_items)

    def forward(self, observation: ObservationTensors) -> torch.Tensor:
        return self.head(self.encoder(observation), observation)  # (n, n_items)

    def item_scores(self, observation: ObservationTensors, items: torch.Tensor) -> torch.Tensor:
        """``Q(s_r, items_r)`` per row, without scoring the whole catalog (dot head)."""
        if isinstance(self.head, ItemScoreHead):
            return self.head.pair_scores(self.encoder(observation), observation, items)
        return self(observation).gather(1, items[:, None])[:, 0]


class DQNAgent:
    """Deep Q-learning over item scores, collecting from many shoppers per step.

    ``agents.slateq.SlateQAgent`` extends it (one level): ``schema``, ``network``,
    ``stored_action`` and ``_update_tensor`` are what it changes; the training loop,
    schedules, target sync (``_gradient_step``), model selection and checkpoints stay here."""

    schema: ClassVar[type[DQNConfig]] = DQNConfig
    network: ClassVar[type[QNetwork]] = QNetwork

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, self.schema, settings)
        self.seed, self.device, config = seed, resolve_device(device), self.config
        torch.manual_seed(seed)
        item_category = item_features(self.env_config)["category"]
        self.q_network = self.network(self.env_config, item_category, config).to(self.device)
        self.target_network = copy.deepcopy(self.q_network).requires_grad_(False)
        self.optimizer = torch.optim.Adam(
            self.q_network.parameters(), lr=config.learning_rate, foreach=True
        )
        self.learning_rate = LinearDecayLR(self.optimizer, config.learning_rate_end)
        exploration = config.exploration_initial, config.exploration_final
        self.exploration = LinearSchedule(*exploration, config.exploration_fraction)
        self.rng = np.random.default_rng(seed)
        # exploration draws when acting on device tensors (agents.device_collection)
        self.device_generator = torch.Generator(device=self.device).manual_seed(seed + 1)
        self.epsilon = config.exploration_final
        self.steps_done, self.updates_done = 0, 0
        self.buffer: ReplayBuffer | None = None
        validation = config.validation_shoppers, config.validation_seed, config.validation_interval
        self.selection = ModelSelection(self.env_config, self.q_network, *validation)

    # -- acting -----------------------------------------------------------------------------
    @torch.no_grad()
    def q_values(self, observation: Observation) -> NDArray[np.float32]:
        """Q-values ``(n, n_items)`` of a batched observation (a fresh array)."""
        return self.q_network(to_tensors(observation, self.device)).cpu().numpy().copy()

    def act(
        self, observation: Observation, deterministic: bool = False, info: Info | None = None
    ) -> NDArray[np.int64]:
        """Greedy items (or slates) by Q; with probability epsilon a random one instead.
        Device tensors in (a device env's observation), device tensors out."""
        if torch.is_tensor(observation["query"]):
            epsilon, self.epsilon = self.epsilon, 0.0 if deterministic else self.epsilon
            try:
                return self._act_on_device(observation)
            finally:
                self.epsilon = epsilon
        with torch.no_grad():  # scores may share the network's serving buffer: used at once
            scores = self.q_network(to_tensors(observation, self.device)).cpu().numpy()
        if not deterministic and self.epsilon > 0:
            explore = self.rng.random(len(scores)) < self.epsilon
            scores[explore] = self.rng.random((int(explore.sum()), scores.shape[1]))
        return top_items(scores, self.env_config.slate_size)

    predict = predict_with_act

    def explain(
        self, observation: Observation, item: int | NDArray[np.int64]
    ) -> Explanation | list[Explanation]:
        """Which history items and features drove ``Q(s, item)`` (``agents.explain``)."""
        from agents.explain import TorchExplainer  # Captum: imported only when explaining

        network = self.q_network
        explainer = TorchExplainer(
            network, network.encoder, network.item_scores, "Q-value", self.env_config
        )
        return explainer.explain(observation, item)

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
        config = self.config
        if getattr(env, "device", "cpu") == "cuda":
            return self._learn_on_device(env, total_steps, logger, callback)
        if self.buffer is None:
            space, size = env.single_observation_space, config.buffer_size
            shape = self.stored_action_shape
            self.buffer = ReplayBuffer.for_agent(size, space, self.device, self.seed, shape)
        report = ProgressReport(logger, config.log_interval, self.steps_done)
        window = NStepWindow(config.n_steps, config.gamma)
        collector = NStepCollector(env, self.buffer, window, self.seed, self.steps_done)
        collector.stored_action = self.stored_action
        collector.returns, end = report.returns, self.steps_done + total_steps

        def learn_step() -> None:
            if self.steps_done >= config.learning_starts and self.buffer.size >= config.batch_size:
                for _ in range(config.gradient_steps):
                    report.losses.append(self._update(self.buffer.sample(config.batch_size)))

        def collect() -> None:
            collector.step(self.act, self._learning_reward)

        return self._training_loop(env, end, logger, report, collect, learn_step, callback)

    def _training_loop(
        self,
        env: Any,
        end: int,
        logger: Logger | None,
        report: ProgressReport,
        collect: Callable[[], None],
        learn_step: Callable[[], None],
        callback: Callback | None,
        before_report: Callable[[], None] | None = None,
    ) -> DQNAgent:
        """The steps both collection paths share: schedules, one vector step (``collect``),
        updates (``learn_step``), model selection, the report and the callback."""
        self.selection.start(self, logger)
        while self.steps_done < end:
            progress = self.steps_done / max(end, 1)
            self.epsilon = self.exploration(progress)
            self.learning_rate.step_to(progress)
            collect()
            self.steps_done += env.num_envs
            learn_step()
            self.selection(self)
            final = self.steps_done >= end
            if before_report is not None and (final or self.steps_done >= report.next_step):
                before_report()
            learning_rate = self.optimizer.param_groups[0]["lr"]
            scalars = {"train/epsilon": self.epsilon, "train/learning_rate": learning_rate}
            report(self.steps_done, final, scalars)
            if callback is not None and callback(self) is False:
                break
        self.epsilon = self.config.exploration_final
        if self.steps_done >= end:
            self.selection.finish(self)
        return self

    def _learn_on_device(
        self, env: Any, total_steps: int, logger: Logger | None, callback: Callback | None
    ) -> DQNAgent:
        """``learn`` with the env on the GPU (``agents.device_collection``): collection,
        replay, n-step returns, epsilon-greedy and updates stay on the device; losses and
        returns are read back once per log interval."""
        from agents.device_collection import (
            DeviceNStepCollector,
            DeviceNStepWindow,
            DeviceReplayBuffer,
        )

        config = self.config
        if not isinstance(self.buffer, DeviceReplayBuffer):
            shapes = {key: space.shape for key, space in env.single_observation_space.items()}
            generator = torch.Generator(device=self.device).manual_seed(self.seed)
            fresh = DeviceReplayBuffer(config.buffer_size, shapes, self.device, generator)
            if self.buffer is not None:  # a resumed run's transitions move to the device
                fresh.load_state_dict(self.buffer.state_dict())
            self.buffer = fresh
        self.device_generator = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        report = ProgressReport(logger, config.log_interval, self.steps_done)
        window = DeviceNStepWindow(config.n_steps, config.gamma)
        collector = DeviceNStepCollector(env, self.buffer, window, self.seed, self.steps_done)
        end, losses = self.steps_done + total_steps, []
        # no sample before the buffer surely holds a batch: every slot's first n steps emit
        # nothing and restart steps store nothing, so count only the steps beyond those
        ready = max(
            config.learning_starts, (config.n_steps + 1) * env.num_envs + 2 * config.batch_size
        )

        def learn_step() -> None:
            if self.steps_done >= ready:
                for _ in range(config.gradient_steps):
                    losses.append(self._update_tensor(self.buffer.sample(config.batch_size)))

        def read_back() -> None:  # once per log interval
            report.losses.extend(torch.stack(losses).tolist() if losses else [])
            report.returns.extend(collector.drain_returns())
            losses.clear()

        def collect() -> None:
            collector.step(self._act_on_device, self._device_learning_reward)

        return self._training_loop(
            env, end, logger, report, collect, learn_step, callback, read_back
        )

    @torch.no_grad()
    def _act_on_device(self, observation: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Epsilon-greedy items (or slates) from device observations, on the device."""
        scores = self.q_network(device_tensors(observation, self.device))
        if self.epsilon > 0:
            shape, generator = scores.shape, self.device_generator
            explore = torch.rand(shape[0], generator=generator, device=self.device) < self.epsilon
            noise = torch.rand(shape, generator=generator, device=self.device)
            scores = torch.where(explore[:, None], noise, scores)
        slate_size = self.env_config.slate_size
        items = torch.topk(scores, slate_size, dim=1).indices
        return items[:, 0] if slate_size == 1 else items

    def _device_learning_reward(self, reward, observation, next_observation, terminated):
        """``_learning_reward`` on tensors."""
        config, funnel = self.config, self.env_config.funnel
        if not config.cart_shaping:
            return reward * config.reward_scale
        weight = config.cart_shaping * funnel.reward_purchase
        column = CART_VALUE if funnel.purchase_reward == "revenue" else CART_ITEMS
        before = weight * observation["session"][:, column].float()
        after = weight * next_observation["session"][:, column].float()
        kept = torch.where(terminated, torch.zeros_like(after), after)
        return (reward + config.gamma * kept - before) * config.reward_scale

    def _learning_reward(self, reward, observation, next_observation, terminated) -> NDArray:
        """``reward_scale x (r + gamma (1 - terminated) phi(s') - phi(s))`` with ``phi =
        cart_shaping x cart value`` (observable): a purchase's revenue is credited when its
        item enters the cart, not at the later checkout step, whatever is shown then.
        Potential-based, so the optimal policy is unchanged (Ng, Harada and Russell, 1999);
        evaluation uses the true rewards."""
        config, funnel = self.config, self.env_config.funnel
        if not config.cart_shaping:
            return reward * config.reward_scale
        weight = config.cart_shaping * funnel.reward_purchase
        column = CART_VALUE if funnel.purchase_reward == "revenue" else CART_ITEMS
        before = weight * observation["session"][:, column]
        after = weight * next_observation["session"][:, column]
        return (
            reward + config.gamma * np.where(terminated, 0.0, after) - before
        ) * config.reward_scale

    def _update(self, batch: TransitionBatch) -> float:
        """One gradient step (``_update_tensor``); its loss read back."""
        return self._update_tensor(batch).item()

    # what the replay buffer keeps of an action: the item, or a slate's first item
    stored_action_shape: ClassVar[tuple[int, ...]] = ()

    stored_action = staticmethod(first_item)

    def _update_tensor(self, batch: TransitionBatch) -> torch.Tensor:
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
            # batch.discount is gamma^m for the m steps the return G spans
            td_target = batch.reward + (1 - batch.terminated) * batch.discount * next_value
        return self._gradient_step(nn.functional.smooth_l1_loss(q_taken, td_target))

    def _gradient_step(self, loss: torch.Tensor) -> torch.Tensor:
        """Minimise ``loss`` by one clipped Adam step of the Q-network, then sync the target
        network (hard copy every ``target_update_interval`` updates, or Polyak)."""
        config = self.config
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.q_network.parameters(), config.max_grad_norm)
        self.optimizer.step()
        self.updates_done += 1
        if config.target_update == "polyak":
            with torch.no_grad():
                target, online = self.target_network.parameters(), self.q_network.parameters()
                torch._foreach_lerp_(list(target), list(online), config.tau)
        elif self.updates_done % config.target_update_interval == 0:
            self.target_network.load_state_dict(self.q_network.state_dict())
        return loss.detach()

    @property
    def shopper_steps_used(self) -> dict[str, int]:
        """Shopper-steps spent outside the training env: model selection."""
        return {"selection": self.selection.shopper_steps}

    # -- checkpoints ------------------------------------------------------------------------
    def checkpointed(self) -> dict[str, Any]:
        """What ``weights.pt`` restores: the networks and the optimizer."""
        networks = {"q_network": self.q_network, "target_network": self.target_network}
        return {**networks, "optimizer": self.optimizer}

    def save(self, path: str | Path) -> None:
        """Write ``weights.pt`` (state dicts) and ``agent.json`` (config and counters)."""
        weights = {**self.checkpointed(), "best_weights": self.selection.best_state}
        counters = {name: getattr(self, name) for name in COUNTERS}
        counters |= {
            "selection": self.selection.counters(),
            "rng_state": self.rng.bit_generator.state,
        }
        save_torch_agent(path, self.config.agent, self, weights, **counters)

    def save_replay_buffer(self, path: str | Path) -> None:
        """Write the replay buffer (plain tensors) next to a checkpoint, atomically."""
        if self.buffer is not None:
            self.buffer.save(path)

    def load_replay_buffer(self, path: str | Path, observation_space: Any) -> bool:
        """Restore a buffer written by ``save_replay_buffer``; False when there is none."""
        size, device, shape = self.config.buffer_size, self.device, self.stored_action_shape
        buffer = ReplayBuffer.load(path, size, observation_space, device, self.seed, shape)
        self.buffer = buffer or self.buffer
        return buffer is not None

    @classmethod
    def load(
        cls, path: str | Path, env_config: EnvConfig | None = None, device: str = "auto"
    ) -> DQNAgent:
        """Rebuild an agent from ``save``; weights load with ``weights_only=True``."""
        kind = cls.schema.agent
        agent, meta, state = load_torch_agent(cls, path, kind, env_config, device, cls.checkpointed)
        for name in COUNTERS:
            setattr(agent, name, meta[name])
        agent.selection.best_state = state.get("best_weights")
        agent.selection.restore_counters(meta.get("selection", {}))
        if "rng_state" in meta:
            agent.rng.bit_generator.state = meta["rng_state"]
        return agent
