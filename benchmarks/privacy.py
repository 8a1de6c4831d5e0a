"""Privacy against utility: the MLP trained with DP-SGD (Opacus) at several epsilons.

    python benchmarks/privacy.py --json benchmarks/results/privacy.json
    python benchmarks/privacy.py --seeds 0 --epsilons 3 --log-steps 20000 env=small

Per training seed, one log of uniform-random recommendations (``--log-steps`` shopper-steps)
is the private data of every variant: the MLP without DP, with clipping only (noise 0,
epsilon infinite: what clipping alone costs) and at each target epsilon (noise chosen by
Opacus to spend it over ``max_epochs``; delta = 0.1 / training sessions). Per variant: the
accountant's (epsilon, delta), the held-out log's click AUC, log-loss and NDCG@10 (the same
held-out sessions for every variant of a seed), and the return on the same evaluation
shoppers, paired against the non-private MLP (the utility lost) with a two-level 95% CI over
seeds and shoppers. The rule (``agents.rule``, fitted on the same log, not private) is the
best simple baseline on ``default``; random is the floor.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

import recenv
from agents.base import write_json_atomically
from agents.evaluation import evaluate, paired_difference, pooled_estimate
from agents.logs import collect_random_logs
from agents.mlp import MLPAgent
from agents.random import RandomAgent
from agents.rule import RuleAgent

HELD_OUT = ("click_auc", "click_log_loss", "ndcg_at_10")
PRIVACY = ("dp_epsilon", "dp_delta", "dp_noise_multiplier", "dp_sample_rate", "dp_steps")


def variants(epsilons: list[float], max_grad_norm: float) -> dict[str, dict]:
    """Name -> MLP hyperparameters of each variant (the non-private MLP first)."""
    private = {"dp_max_grad_norm": max_grad_norm}
    named = {"mlp": {}, "mlp_clip_only": {"dp": "noise", "dp_noise_multiplier": 0.0, **private}}
    for epsilon in epsilons:
        named[f"mlp_dp_eps{epsilon:g}"] = {
            "dp": "epsilon",
            "dp_target_epsilon": epsilon,
            **private,
        }
    return named


def run_seed(config, seed: int, args, named: dict[str, dict]) -> dict[str, dict]:
    """Fit every variant on one seed's log; evaluate each on the shared shoppers."""
    env = recenv.ShoppingVectorEnv(64, config=config)
    logs = collect_random_logs(env, config, args.log_steps, seed)
    runs = {}
    for name, settings in named.items():
        start = time.perf_counter()
        agent = MLPAgent(config, seed=seed, device="cpu", max_epochs=args.max_epochs, **settings)
        agent.fit(logs)
        seconds = time.perf_counter() - start
        runs[name] = {
            "metrics": agent.metrics,
            "train_seconds": seconds,
            "epochs": agent.epochs_done,
            "evaluation": evaluate(agent, config, args.eval_shoppers, args.eval_seed),
        }
        print(f"seed {seed} {name}: {json.dumps(agent.metrics)} in {seconds:.0f} s", flush=True)
    rule = RuleAgent(config, seed=seed)
    rule.fit(logs)
    runs["rule"] = {"evaluation": evaluate(rule, config, args.eval_shoppers, args.eval_seed)}
    floor = RandomAgent(config, seed=seed)
    runs["random"] = {"evaluation": evaluate(floor, config, args.eval_shoppers, args.eval_seed)}
    return runs


def summarise(per_seed: list[dict[str, dict]], named: dict[str, dict]) -> dict[str, dict]:
    """Per variant: privacy spent, held-out metrics (per seed and mean), pooled return and
    its paired difference against the non-private MLP."""
    report = {}
    for name in [*named, "rule", "random"]:
        results = [runs[name]["evaluation"] for runs in per_seed]
        figures = {
            "return": pooled_estimate(results).as_dict(),
            "return_per_seed": [float(r.sessions["return"].mean()) for r in results],
            "minus_mlp": paired_difference(
                results, [runs["mlp"]["evaluation"] for runs in per_seed]
            ).as_dict(),
        }
        if name in named:
            metrics = [runs[name]["metrics"] for runs in per_seed]
            for key in (*HELD_OUT, *PRIVACY):
                values = [m[key] for m in metrics if key in m]
                if values:
                    figures[key] = float(np.mean(values))
                    figures[f"{key}_per_seed"] = values
            figures["train_seconds"] = [runs[name]["train_seconds"] for runs in per_seed]
            figures["settings"] = named[name]
        report[name] = figures
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--log-steps", type=int, default=50_000, help="logged shopper-steps")
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    parser.add_argument("--eval-shoppers", type=int, default=500)
    parser.add_argument("--eval-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("preset", nargs="?", default="env=default", help="env=<preset>")
    args = parser.parse_args(argv)
    if args.json and args.json.exists() and not args.overwrite:
        parser.error(f"{args.json} exists; pass --overwrite to replace it")
    torch.set_num_threads(args.threads)
    preset = args.preset.removeprefix("env=")
    config = recenv.make_config(preset)
    named = variants(args.epsilons, args.max_grad_norm)
    per_seed = [run_seed(config, seed, args, named) for seed in args.seeds]
    report = {
        "preset": preset,
        "seeds": args.seeds,
        "epsilons": args.epsilons,
        "log_steps": args.log_steps,
        "max_epochs": args.max_epochs,
        "max_grad_norm": args.max_grad_norm,
        "eval_shoppers": args.eval_shoppers,
        "eval_seed": args.eval_seed,
        "threads": args.threads,
        "variants": summarise(per_seed, named),
    }
    print(json.dumps(report["variants"], indent=2))
    if args.json:
        write_json_atomically(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
