"""Deletion curves of the explanations (agents/explain.py): are top-attributed items the ones
the score depends on?

    python benchmarks/explain_deletion.py --json benchmarks/results/explain_deletion.json

DQN and the MLP are trained on ``default`` from their presets with ``--budget-scale`` times
the preset's budget (brief: 0.2 = 60,000 DQN shopper-steps, 40,000 logged MLP steps). States
are evaluation shoppers' observations after 1..``--steps`` of the agent's own greedy
recommendations, with more than 5 history entries. In each state the explained item is the
agent's recommendation; removing an entry writes the padding id and event 0 (an empty slot,
as the env encodes it). For k = 1..5: the score drop removing the k top-attributed entries,
the mean drop removing k random entries (``--draws`` draws per state), and their paired
difference, each with a 95% bootstrap CI over states (``recenv.stats``). Scores are read
from the agents' catalog-wide outputs (Q-values, predicted immediate reward). Refuses to
replace an existing results file unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.dqn import DQNAgent
from agents.evaluation import evaluation_env
from benchmarks.timing import write_results
from experiments.agent_runs import scaled_budget
from experiments.factory import build_agent, compose_config, env_config_from, training_env
from recenv.sim.state import EVENT_PAD
from recenv.stats import mean_estimate

KS = (1, 2, 3, 4, 5)


def catalog_score(agent: Any, observation: dict[str, np.ndarray], items: np.ndarray) -> np.ndarray:
    """The agent's own score of one item per row, from its catalog-wide outputs."""
    rows = np.arange(len(items))
    if isinstance(agent, DQNAgent):
        return agent.q_values(observation)[rows, items].astype(float)
    return agent.expected_reward(observation).cpu().numpy()[rows, items].astype(float)


def shopper_states(agent: Any, n_shoppers: int, steps: int, seed: int) -> dict[str, np.ndarray]:
    """Evaluation shoppers' observations after 1..``steps`` greedy steps of ``agent``, with
    more than ``max(KS)`` history entries."""
    env, observation, _ = evaluation_env(agent.env_config, n_shoppers, seed)
    states = []
    for _ in range(steps):
        observation, *_ = env.step(agent.act(observation, deterministic=True))
        states.append(observation)
    batch = {key: np.concatenate([state[key] for state in states]) for key in states[0]}
    keep = (batch["history_events"] > 0).sum(axis=1) > max(KS)
    return {key: value[keep] for key, value in batch.items()}


def removed(observation: dict[str, np.ndarray], mask: np.ndarray, pad_item: int) -> dict:
    """``observation`` with the ``mask`` history entries made empty slots."""
    copy = {key: value.copy() for key, value in observation.items()}
    copy["history"][mask], copy["history_events"][mask] = pad_item, EVENT_PAD
    return copy


def first_k(keys: np.ndarray, k: int) -> np.ndarray:
    """``(n, H)`` mask of each row's ``k`` largest keys."""
    mask = np.zeros(keys.shape, dtype=bool)
    np.put_along_axis(mask, np.argsort(-keys, axis=1)[:, :k], True, axis=1)
    return mask


def deletion_curve(agent: Any, states: dict[str, np.ndarray], draws: int, seed: int) -> dict:
    """Drops for k in KS (top-attributed, random, difference) with CIs over states."""
    items = agent.act(states, deterministic=True)
    start = time.perf_counter()
    explanations = agent.explain(states, items)
    seconds = time.perf_counter() - start
    present = states["history_events"] > 0
    attributions = np.full(present.shape, -np.inf)
    for row, explanation in enumerate(explanations):
        for entry in explanation.history:
            attributions[row, entry.position] = entry.attribution
    pad_item, rng = agent.env_config.catalog.n_items, np.random.default_rng(seed)
    score = catalog_score(agent, states, items)
    curve = {}
    for k in KS:
        top = score - catalog_score(
            agent, removed(states, first_k(attributions, k), pad_item), items
        )
        random = np.mean(
            [
                score
                - catalog_score(
                    agent,
                    removed(
                        states,
                        first_k(np.where(present, rng.random(present.shape), -1), k),
                        pad_item,
                    ),
                    items,
                )
                for _ in range(draws)
            ],
            axis=0,
        )
        curve[str(k)] = {
            name: mean_estimate(values).as_dict()
            for name, values in (("top", top), ("random", random), ("difference", top - random))
        }
    change = np.array([e.score - e.baseline_score for e in explanations])
    deltas = np.abs([e.convergence_delta for e in explanations])
    return {
        "states": len(items),
        "deletion": curve,
        "mean_abs_score_change": float(np.abs(change).mean()),  # |s(x) - s(empty)|
        "max_abs_convergence_delta": float(deltas.max()),
        "explain_ms_per_state": 1e3 * seconds / len(items),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(1)
    results: dict[str, Any] = {"preset": args.preset, "seed": args.seed, "agents": {}}
    for name in ("dqn", "mlp"):
        cfg = compose_config(
            [f"agent={name}", f"env={args.preset}", f"seed={args.seed}", "device=cpu"]
        )
        env_config = env_config_from(cfg)
        agent, budget = (
            build_agent(cfg, env_config),
            scaled_budget(int(cfg.train.total_steps), args.budget_scale),
        )
        start = time.perf_counter()
        agent.learn(training_env(cfg, env_config), budget)
        train_seconds = time.perf_counter() - start
        states = shopper_states(agent, args.shoppers, args.steps, args.state_seed)
        figures = deletion_curve(agent, states, args.draws, args.seed)
        results["agents"][name] = {"train_steps": budget, "train_seconds": train_seconds, **figures}
        print(name, budget, f"{train_seconds:.0f} s", figures["deletion"], flush=True)
    results["settings"] = {key: value for key, value in vars(args).items() if key != "json"}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--budget-scale", type=float, default=0.2)
    parser.add_argument("--shoppers", type=int, default=300, help="evaluation shoppers played")
    parser.add_argument("--steps", type=int, default=4, help="greedy steps whose states count")
    parser.add_argument("--draws", type=int, default=20, help="random removals per state")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--state-seed", type=int, default=7, help="evaluation shoppers' seed")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    args = parser.parse_args(argv)
    if args.json.exists() and not args.overwrite:
        parser.error(f"{args.json} exists; pass --overwrite to replace it")
    write_results(args.json, run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
