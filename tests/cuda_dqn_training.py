"""Child script of tests/test_device_dqn.py: DQN trained with the env on the (simulated)
device beats random on the same evaluation shoppers; prints ok."""

import sys

import recenv
from agents.dqn import DQNAgent
from agents.evaluation import evaluate, paired_difference
from agents.random import RandomAgent
from recenv import ShoppingVectorEnv

config = recenv.make_config("small")
settings = {
    "learning_rate": 1e-3,
    "gamma": 0.97,
    "buffer_size": 20_000,
    "batch_size": 64,
    "learning_starts": 1_000,
    "target_update_interval": 500,
    "exploration_fraction": 0.3,
    "n_steps": 3,
    "embedding_dim": 16,
    "hidden_size": 64,
    "head": "dot",
}
agent = DQNAgent(config, seed=0, device="cpu", **settings)
env = ShoppingVectorEnv(32, config=config, device="cuda", check_actions=False)
assert env.device == "cuda"
agent.learn(env, int(sys.argv[1]))
trained = evaluate(agent, config, 500, 2024)
random = evaluate(RandomAgent(config, seed=0), config, 500, 2024)
gain = paired_difference(trained, random)
print(f"gain {gain.mean:.3f} [{gain.ci_low:.3f}, {gain.ci_high:.3f}]", file=sys.stderr)
assert gain.ci_low > 0, gain
print("ok")
