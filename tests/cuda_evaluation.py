"""Child script of tests/test_device_dqn.py: the paired evaluation on the (simulated)
device records exactly what the CPU evaluation records; prints ok."""

import numpy as np

import recenv
from agents.dqn import DQNAgent
from agents.evaluation import evaluate
from recenv import ShoppingVectorEnv

SCENARIOS = {  # complements and shops: the scenario records (agents.scenario_records)
    "catalog": {"complements": "random", "n_shops": 4},
    "dynamics": {"satiation": 0.5, "complement_boost": 0.5},
}
for overrides in ({}, {"slate_size": 3}, {"episode": "shopper", "max_visits": 3}, SCENARIOS):
    config = recenv.make_config("small", **overrides)
    agent = DQNAgent(config, seed=0, device="cpu", learning_starts=500, hidden_size=32)
    agent.learn(ShoppingVectorEnv(16, config=config), 3000)
    on_cpu = evaluate(agent, config, 60, 2024)
    on_device = evaluate(agent, config, 60, 2024, device="cuda")
    assert on_cpu.sessions.keys() == on_device.sessions.keys()
    for name, expected in on_cpu.sessions.items():
        np.testing.assert_allclose(on_device.sessions[name], expected, err_msg=name)
    assert on_cpu.summary["return"].mean == on_device.summary["return"].mean
print("ok")
