"""Is SlateQ's learned click model what holds it back? A diagnostic, one training seed.

    python benchmarks/slateq_click_model.py --json benchmarks/results/slateq_click_model.json

Trains SlateQ (``no_click_value=learned``, 5-step returns, ``--steps`` shopper-steps) on
``default`` with slates of 3, then (1) compares its click model with the simulator's true
attractions on 256 validation shoppers three random steps into their sessions (per-shopper
Spearman correlation of ``f(s, i)`` with ``u(s, i) - u_none``, read from the hidden state by
``recenv.sim.expectations``; the position utilities against ``-position_bias log(1 + k)``), and
(2) evaluates the same learned item values acting with the *true* attractions and position
weights (an oracle click model, reading ``info["hidden"]``; a diagnostic, not an agent) against
acting with the learned ones, paired on the same evaluation shoppers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from scipy.stats import spearmanr

import recenv
from agents.base import write_json_atomically
from agents.evaluation import evaluate, paired_difference
from agents.networks import to_tensors
from agents.slateq import SlateQAgent
from recenv import ShoppingVectorEnv
from recenv.sim.core import Simulator
from recenv.sim.expectations import expected_outcomes


class TrueAttractions:
    """Acts with a trained SlateQ's item values and the simulator's true click model."""

    needs_info = True  # the evaluation passes info["hidden"]

    def __init__(self, agent: SlateQAgent) -> None:
        self.agent, self.world = agent, Simulator(agent.env_config, n_shoppers=1)
        choice = agent.env_config.choice
        position = -choice.position_bias * np.log1p(np.arange(agent.slate_size))
        self.weight = torch.tensor(np.exp(position), dtype=torch.float32)

    def act(self, observation, deterministic=True, info=None):
        alone = expected_outcomes(self.world, info["hidden"], observation).click_probability
        # P(click | shown alone) = v / (1 + v) with v = exp(u - u_none)
        true = torch.tensor(alone / np.clip(1 - alone, 1e-9, None), dtype=torch.float32)
        model = self.agent.click_model
        model.attraction, model.position_weight = (lambda _: true), (lambda: self.weight)
        try:
            return self.agent.act(observation, deterministic=True)
        finally:
            del model.attraction, model.position_weight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    parser.add_argument("--steps", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.json and args.json.exists() and not args.overwrite:
        parser.error(f"{args.json} exists; pass --overwrite to replace it")
    torch.set_num_threads(1)
    config = recenv.make_config("default", slate_size=3)
    agent = SlateQAgent(config, seed=args.seed, device="cpu", no_click_value="learned", n_steps=5)
    agent.learn(ShoppingVectorEnv(64, config=config), args.steps)

    env = ShoppingVectorEnv(256, config=config, expose_hidden_state=True, split="validation")
    observation, info = env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        random_slates = np.argsort(rng.random((256, config.catalog.n_items)), axis=1)[:, :3]
        observation, *_, info = env.step(random_slates)
    alone = expected_outcomes(Simulator(config, 1), info["hidden"], observation).click_probability
    true_utility = np.log(np.clip(alone, 1e-12, 1)) - np.log(np.clip(1 - alone, 1e-12, 1))
    with torch.no_grad():
        fitted = agent.click_model.item_utility(to_tensors(observation, agent.device)).numpy()
    rho = [spearmanr(fitted[n], true_utility[n]).statistic for n in range(256)]
    learned = evaluate(agent, config, 1000, 123_456)
    oracle = evaluate(TrueAttractions(agent), config, 1000, 123_456)
    report = {
        "steps": args.steps,
        "seed": args.seed,
        "spearman_mean": float(np.mean(rho)),
        "position_utility_learned": agent.click_model.position_utility().tolist(),
        "position_utility_true": (-config.choice.position_bias * np.log1p(np.arange(3))).tolist(),
        "return_learned_attractions": learned.summary["return"].as_dict(),
        "return_true_attractions": oracle.summary["return"].as_dict(),
        "true_minus_learned": paired_difference(oracle, learned).as_dict(),
    }
    print(report)
    if args.json:
        write_json_atomically(args.json, report)


if __name__ == "__main__":
    main()
