"""The planner against the other references on every preset, paired on the same shoppers.

    python benchmarks/planner_presets.py --json benchmarks/results/planner_presets.json
    python benchmarks/planner_presets.py --presets shops --merge --json ...  # add one preset

For each preset: the mean return of random, the myopic oracle, the heuristic long-term
oracle and the planner on the same evaluation shoppers, and the paired differences
``planner - myopic_oracle`` and ``planner - long_term_oracle`` with 95% CIs. The planner is
meant to be the top reference: these rows show where it is (CI above 0), where it ties (CI
around 0) and where it would not be.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from agents.evaluation import evaluate, paired_difference
from benchmarks.merge import merge_presets
from experiments.factory import build_agent, compose_config, env_config_from

PRESETS = (
    "default",
    "small",
    "large",
    "cold_start",
    "long_tail",
    "search",
    "long_term",
    "sparse",
    "cross_category",
    "shops",
)
AGENTS = ("random", "myopic_oracle", "long_term_oracle", "planner")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--shoppers", type=int, default=300)
    parser.add_argument("--seed", type=int, default=123_456, help="evaluation shoppers' seed")
    parser.add_argument(
        "--merge", action="store_true", help="keep the other presets already in --json"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    report: dict = {"shoppers": args.shoppers, "seed": args.seed, "presets": {}}
    for preset in args.presets:
        start = time.perf_counter()
        results = {}
        for name in AGENTS:
            cfg = compose_config([f"agent={name}", f"env={preset}"])
            config = env_config_from(cfg)
            results[name] = evaluate(build_agent(cfg, config), config, args.shoppers, args.seed)
        report["presets"][preset] = {
            "returns": {name: r.summary["return"].as_dict() for name, r in results.items()},
            **{
                f"planner_minus_{name}": paired_difference(
                    results["planner"], results[name]
                ).as_dict()
                for name in ("myopic_oracle", "long_term_oracle")
            },
        }
        figures = report["presets"][preset]
        print(
            f"{preset:>11}: "
            + "  ".join(f"{n} {r['mean']:.2f}" for n, r in figures["returns"].items())
            + f"  planner-heuristic {figures['planner_minus_long_term_oracle']['mean']:+.2f}"
            f" ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    if args.json:
        if args.merge and args.json.exists():
            report = merge_presets(args.json, report, ("shoppers", "seed"))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
