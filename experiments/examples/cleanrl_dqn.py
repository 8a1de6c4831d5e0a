"""A CleanRL-style single-file DQN on recenv: Gymnasium's own ``SyncVectorEnv`` of
``gymnasium.make("recenv/Shopping-v0")``, an MLP Q-network, a replay buffer, a target
network. Written here in CleanRL's manner (one file, every detail visible).

Two details matter on Gymnasium 1.x and recenv:

* **Autoreset.** The vector env uses ``NEXT_STEP`` autoreset: the step after an episode
  ends only resets that env (its action is ignored) and returns the first observation of
  the next session. That step is *not* a transition; storing it would teach the network
  that the last observation of a session leads to the first of another. Those steps are
  skipped (``restarting``).
* **Inputs.** ``interface.observation: features`` gives a compact float32 ``Box`` (60
  floats on ``small``), so no one-hot flattening and no dtype casts are needed.

Run: ``python -m experiments.examples.cleanrl_dqn --total-timesteps 20000``
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from agents.threads import configure_threads
from experiments.examples.scoring import Stopwatch, features_config, make_env, score


@dataclass
class Args:
    preset: str = "small"
    seed: int = 1
    total_timesteps: int = 20_000
    num_envs: int = 4
    learning_rate: float = 1e-3
    buffer_size: int = 20_000
    gamma: float = 0.9
    target_network_frequency: int = 250
    batch_size: int = 64
    start_e: float = 1.0
    end_e: float = 0.05
    exploration_fraction: float = 0.5
    learning_starts: int = 500
    train_frequency: int = 1
    double_dqn: bool = True
    eval_shoppers: int = 500


class QNetwork(nn.Module):
    def __init__(self, observation_size: int, n_actions: int) -> None:
        super().__init__()
        self.network = nn.Sequential(
            nn.Linear(observation_size, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, n_actions),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


class ReplayBuffer:
    """Uniform replay of (obs, action, reward, next_obs, done) in float32 arrays."""

    def __init__(self, size: int, observation_size: int, rng: np.random.Generator) -> None:
        self.obs = np.zeros((size, observation_size), np.float32)
        self.next_obs = np.zeros((size, observation_size), np.float32)
        self.actions = np.zeros(size, np.int64)
        self.rewards = np.zeros(size, np.float32)
        self.dones = np.zeros(size, np.float32)
        self.size, self.position, self.full, self.rng = size, 0, False, rng

    def add(self, obs, action, reward, next_obs, done) -> None:
        for row in range(len(obs)):
            i = self.position
            self.obs[i], self.next_obs[i] = obs[row], next_obs[row]
            self.actions[i], self.rewards[i], self.dones[i] = action[row], reward[row], done[row]
            self.position = (i + 1) % self.size
            self.full = self.full or self.position == 0

    def sample(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        rows = self.rng.integers(0, self.size if self.full else self.position, batch_size)
        return tuple(
            torch.as_tensor(array[rows])
            for array in (self.obs, self.actions, self.rewards, self.next_obs, self.dones)
        )


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    slope = (end_e - start_e) / duration
    return max(slope * t + start_e, end_e)


def train(args: Args) -> tuple[QNetwork, int, float]:
    """Train; returns the Q-network, the env steps taken and the seconds it took."""
    configure_threads()  # 1 torch thread on small machines (agents.threads)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    envs = gym.vector.SyncVectorEnv(
        [lambda: make_env(args.preset) for _ in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    observation_size = envs.single_observation_space.shape[0]
    n_actions = envs.single_action_space.n
    q_network = QNetwork(observation_size, n_actions)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate)
    target_network = QNetwork(observation_size, n_actions)
    target_network.load_state_dict(q_network.state_dict())
    buffer = ReplayBuffer(args.buffer_size, observation_size, rng)

    obs, _ = envs.reset(seed=args.seed)
    restarting = np.zeros(args.num_envs, dtype=bool)  # this step only resets that env
    iterations = args.total_timesteps // args.num_envs
    with Stopwatch() as clock:
        for iteration in range(iterations):
            global_step = iteration * args.num_envs
            epsilon = linear_schedule(
                args.start_e, args.end_e, int(args.exploration_fraction * iterations), iteration
            )
            if rng.random() < epsilon:
                actions = rng.integers(0, n_actions, args.num_envs)
            else:
                with torch.no_grad():
                    actions = q_network(torch.as_tensor(obs)).argmax(dim=1).numpy()
            next_obs, rewards, terminations, truncations, _ = envs.step(actions)
            real = ~restarting
            buffer.add(obs[real], actions[real], rewards[real], next_obs[real], terminations[real])
            restarting = terminations | truncations
            obs = next_obs

            if global_step > args.learning_starts and iteration % args.train_frequency == 0:
                b_obs, b_actions, b_rewards, b_next, b_dones = buffer.sample(args.batch_size)
                with torch.no_grad():
                    if args.double_dqn:  # the online network picks, the target evaluates
                        best = q_network(b_next).argmax(dim=1, keepdim=True)
                        target_max = target_network(b_next).gather(1, best).squeeze(1)
                    else:
                        target_max = target_network(b_next).max(dim=1).values
                    td_target = b_rewards + args.gamma * target_max * (1 - b_dones)
                old_val = q_network(b_obs).gather(1, b_actions[:, None]).squeeze(1)
                loss = nn.functional.mse_loss(td_target, old_val)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if iteration % args.target_network_frequency == 0:
                    target_network.load_state_dict(q_network.state_dict())
    envs.close()
    return q_network, iterations * args.num_envs, clock.elapsed


def main(args: Args) -> dict[str, float]:
    q_network, steps, seconds = train(args)

    @torch.no_grad()
    def greedy(observation: np.ndarray) -> np.ndarray:
        return q_network(torch.as_tensor(observation)).argmax(dim=1).numpy()

    return score(greedy, features_config(args.preset), steps, seconds, args.eval_shoppers)


def _flag(text: str) -> bool:
    """A true/false flag (``bool("False")`` would be True)."""
    if text.lower() not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a flag; allowed: true, false, 1, 0")
    return text.lower() in ("true", "1")


def parse_args(defaults: type = Args, argv: list[str] | None = None) -> Any:
    """Command-line flags for every field of the ``defaults`` dataclass (CleanRL's tyro
    does the same from type hints)."""
    parser = argparse.ArgumentParser()
    for name, value in asdict(defaults()).items():
        kind = _flag if isinstance(value, bool) else type(value)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value)
    return defaults(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    print(json.dumps(main(parse_args(Args)), indent=2))
