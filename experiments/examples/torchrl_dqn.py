"""TorchRL's DQN on recenv, with TorchRL's own pieces only: ``GymEnv("recenv/Shopping-v0")``
in a ``SerialEnv`` of 8, an ``MLP`` inside a ``QValueActor``,
``EGreedyModule`` exploration, a ``Collector``, a ``ReplayBuffer`` on a
``LazyTensorStorage`` (uniform sampling: TorchRL's C++ extension, needed by its
prioritised samplers, does not load with torch 2.13 here), ``DQNLoss`` and ``HardUpdate``.

``GymEnv`` probes env constructors with ``frameskip=``; recenv rejects unknown keywords
with a ``TypeError`` as Python does, so TorchRL drops the probe and goes on.

Run: ``python -m experiments.examples.torchrl_dqn --total-steps 20000``
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from tensordict.nn import TensorDictSequential
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, ReplayBuffer
from torchrl.envs import GymEnv, SerialEnv
from torchrl.modules import MLP, EGreedyModule, QValueActor
from torchrl.objectives import DQNLoss, HardUpdate

from agents.threads import configure_threads
from experiments.examples.scoring import Stopwatch, features_config, score
from recenv import ENV_ID


def train(
    preset: str, total_steps: int, seed: int, n_envs: int = 8
) -> tuple[QValueActor, int, float]:
    """The trained Q-value actor, the env steps it took and the training seconds."""
    configure_threads()
    torch.manual_seed(seed)
    config = features_config(preset)
    envs = SerialEnv(n_envs, lambda: GymEnv(ENV_ID, config=config))
    envs.set_seed(seed)
    n_actions = envs.action_spec.shape[-1]
    observation_size = envs.observation_spec["observation"].shape[-1]
    network = MLP(in_features=observation_size, out_features=n_actions, num_cells=[128, 128])
    actor = QValueActor(network, in_keys=["observation"], spec=envs.action_spec)
    exploration = EGreedyModule(
        envs.action_spec, eps_init=1.0, eps_end=0.05, annealing_num_steps=total_steps // 2
    )
    policy = TensorDictSequential(actor, exploration)
    collector = Collector(
        envs,
        policy,
        frames_per_batch=n_envs,
        total_frames=total_steps,
        auto_register_policy_transforms=True,  # the v0.15 default, and no FutureWarning
    )
    buffer = ReplayBuffer(storage=LazyTensorStorage(20_000), batch_size=64)
    loss = DQNLoss(actor, delay_value=True, double_dqn=True, action_space=envs.action_spec)
    loss.make_value_estimator(gamma=0.9)
    target = HardUpdate(loss, value_network_update_interval=250)
    optimizer = torch.optim.Adam(loss.parameters(), lr=1e-3)
    steps = 0
    with Stopwatch() as clock:
        for batch in collector:
            buffer.extend(batch.reshape(-1))
            steps += batch.numel()
            exploration.step(batch.numel())
            if steps < 500:
                continue
            losses = loss(buffer.sample())
            optimizer.zero_grad()
            losses["loss"].backward()
            optimizer.step()
            target.step()
            collector.update_policy_weights_()
    collector.shutdown()
    return actor, steps, clock.elapsed


def main(preset: str = "small", total_steps: int = 20_000, seed: int = 1) -> dict[str, float]:
    actor, steps, seconds = train(preset, total_steps, seed)
    network = actor.module[0]  # the MLP of action values

    @torch.no_grad()
    def greedy(observation: np.ndarray) -> np.ndarray:
        return network(torch.as_tensor(observation)).argmax(dim=1).numpy()

    return score(greedy, features_config(preset), steps, seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="TorchRL DQN on recenv")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--total-steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(main(args.preset, args.total_steps, args.seed), indent=2))
