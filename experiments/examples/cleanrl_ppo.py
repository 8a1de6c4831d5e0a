"""A CleanRL-style single-file PPO on recenv: Gymnasium's own ``SyncVectorEnv`` of
``gymnasium.make("recenv/Shopping-v0")``, an actor-critic MLP, GAE and the clipped
objective. Written here in CleanRL's manner (one file, every detail visible).

**Autoreset.** Gymnasium 1.x vector envs autoreset on the *next* step (``NEXT_STEP``):
after a session ends, the following ``step`` ignores the action and returns the first
observation of a new session with reward 0. Such a step is not a transition of the
policy: it is excluded from the loss (``valid``) and it breaks the advantage chain. The
step that ends a session returns the real last observation, so a session cut by the
horizon (truncated, not terminated) is bootstrapped from ``V(last observation)``.

Run: ``python -m experiments.examples.cleanrl_ppo --total-timesteps 20000``
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

from agents.threads import configure_threads
from experiments.examples.cleanrl_dqn import parse_args
from experiments.examples.scoring import Stopwatch, features_config, make_env, score


@dataclass
class Args:
    preset: str = "small"
    seed: int = 1
    total_timesteps: int = 20_000
    num_envs: int = 8
    num_steps: int = 64
    learning_rate: float = 1e-3
    gamma: float = 0.9
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    eval_shoppers: int = 500


class ActorCritic(nn.Module):
    def __init__(self, observation_size: int, n_actions: int) -> None:
        super().__init__()

        def mlp(out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Linear(observation_size, 128),
                nn.Tanh(),
                nn.Linear(128, 128),
                nn.Tanh(),
                nn.Linear(128, out),
            )

        self.actor, self.critic = mlp(n_actions), mlp(1)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x).squeeze(-1)

    def act(self, x: torch.Tensor, action: torch.Tensor | None = None):
        distribution = Categorical(logits=self.actor(x))
        if action is None:
            action = distribution.sample()
        return action, distribution.log_prob(action), distribution.entropy(), self.value(x)


def advantages(rollout: dict[str, torch.Tensor], args: Args) -> torch.Tensor:
    """GAE over the rollout: restart steps get no advantage and cut the chain."""
    delta = (
        rollout["rewards"]
        + args.gamma * rollout["next_values"] * (1 - rollout["terminated"])
        - rollout["values"]
    )
    result = torch.zeros_like(delta)
    running = torch.zeros(delta.shape[1])
    for t in reversed(range(len(delta))):
        running = delta[t] + args.gamma * args.gae_lambda * (1 - rollout["done"][t]) * running
        running = running * rollout["valid"][t]
        result[t] = running
    return result


def train(args: Args) -> tuple[ActorCritic, int, float]:
    """Train; returns the actor-critic, the env steps taken and the seconds it took."""
    configure_threads()  # 1 torch thread on small machines (agents.threads)
    torch.manual_seed(args.seed)
    envs = gym.vector.SyncVectorEnv(
        [lambda: make_env(args.preset) for _ in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    observation_size = envs.single_observation_space.shape[0]
    agent = ActorCritic(observation_size, envs.single_action_space.n)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    shape = (args.num_steps, args.num_envs)
    names = ("rewards", "values", "next_values", "logprobs", "terminated", "done", "valid")
    obs_buffer = torch.zeros((*shape, observation_size))
    actions_buffer = torch.zeros(shape, dtype=torch.long)

    obs, _ = envs.reset(seed=args.seed)
    obs = torch.as_tensor(obs)
    restarting = np.zeros(args.num_envs, dtype=bool)
    batch_size = args.num_envs * args.num_steps
    updates = args.total_timesteps // batch_size
    with Stopwatch() as clock:
        for _ in range(updates):
            rollout = {name: torch.zeros(shape) for name in names}
            for step in range(args.num_steps):
                with torch.no_grad():
                    action, logprob, _, value = agent.act(obs)
                next_obs, reward, terminated, truncated, _ = envs.step(action.numpy())
                next_obs = torch.as_tensor(next_obs)
                with torch.no_grad():
                    next_value = agent.value(next_obs)
                obs_buffer[step], actions_buffer[step] = obs, action
                for name, row in (
                    ("rewards", torch.as_tensor(reward, dtype=torch.float32)),
                    ("values", value),
                    ("next_values", next_value),
                    ("logprobs", logprob),
                    ("terminated", torch.as_tensor(terminated, dtype=torch.float32)),
                    ("done", torch.as_tensor(terminated | truncated, dtype=torch.float32)),
                    ("valid", torch.as_tensor(~restarting, dtype=torch.float32)),
                ):
                    rollout[name][step] = row
                restarting = terminated | truncated
                obs = next_obs

            advantage = advantages(rollout, args)
            returns = advantage + rollout["values"]
            flat = {
                "obs": obs_buffer.reshape(batch_size, -1),
                "actions": actions_buffer.reshape(-1),
                "logprobs": rollout["logprobs"].reshape(-1),
                "advantages": advantage.reshape(-1),
                "returns": returns.reshape(-1),
                "valid": rollout["valid"].reshape(-1).bool(),
            }
            flat = {name: array[flat["valid"]] for name, array in flat.items()}
            optimise(agent, optimizer, flat, args)
    envs.close()
    return agent, updates * batch_size, clock.elapsed


def optimise(agent: ActorCritic, optimizer, batch: dict[str, torch.Tensor], args: Args) -> None:
    """The clipped PPO update over shuffled minibatches of the valid steps."""
    size = len(batch["actions"])  # the valid steps: it varies with the restarts
    for _ in range(args.update_epochs):
        for rows in torch.tensor_split(torch.randperm(size), args.num_minibatches):
            _, logprob, entropy, value = agent.act(batch["obs"][rows], batch["actions"][rows])
            ratio = (logprob - batch["logprobs"][rows]).exp()
            advantage = batch["advantages"][rows]
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
            policy_loss = torch.max(
                -advantage * ratio,
                -advantage * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef),
            ).mean()
            value_loss = 0.5 * ((value - batch["returns"][rows]) ** 2).mean()
            loss = policy_loss - args.ent_coef * entropy.mean() + args.vf_coef * value_loss
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
            optimizer.step()


def main(args: Args) -> dict[str, float]:
    agent, steps, seconds = train(args)

    @torch.no_grad()
    def greedy(observation: np.ndarray) -> np.ndarray:
        return agent.actor(torch.as_tensor(observation)).argmax(dim=1).numpy()

    return score(greedy, features_config(args.preset), steps, seconds, args.eval_shoppers)


if __name__ == "__main__":
    print(json.dumps(main(parse_args(Args)), indent=2))
