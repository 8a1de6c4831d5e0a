"""Third-party RL libraries on recenv as is: training speed and return against random.

    python benchmarks/libraries.py --json benchmarks/results/libraries.json

Each example of ``experiments.examples.registry`` trains on ``small`` at its defaults
(20,000 env steps) once per seed (``--seeds``), the libraries alternating round by round
so that load drifts hit them alike. ``steps_per_s`` is the env steps of training divided
by the wall-clock of the training loop (library set-up excluded, evaluation excluded);
``gain_vs_random`` is the paired difference on the same 500 evaluation shoppers (seed 0)
with its 95% CI, one entry per training seed.

JSON: per example ``library, works_without_glue, command``, ``steps_per_s`` (median, range,
values over seeds), ``return`` and ``random_return`` (means over seeds), ``gains`` (per
seed ``{"seed", "mean", "ci_low", "ci_high"}``), ``beats_random_every_seed``; ``machine``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import summary, write_results
from experiments.examples.registry import EXAMPLES


def measure(names: list[str], seeds: list[int]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for seed in seeds:  # rounds: every library once per seed
        for name in names:
            figures = EXAMPLES[name].runner()(seed)
            figures["seed"] = seed
            runs[name].append(figures)
            print(f"{name} seed {seed}: {figures}", flush=True)
    results = {}
    for name, figures in runs.items():
        example = EXAMPLES[name]
        results[name] = {
            "library": example.library,
            "works_without_glue": example.works_without_glue,
            "command": example.command,
            "steps_per_s": summary([one["train_steps_per_second"] for one in figures]),
            "return": statistics.mean(one["return"] for one in figures),
            "random_return": statistics.mean(one["random_return"] for one in figures),
            "gains": [
                {
                    "seed": one["seed"],
                    "mean": one["gain_vs_random"],
                    "ci_low": one["gain_ci_low"],
                    "ci_high": one["gain_ci_high"],
                }
                for one in figures
            ],
            "beats_random_every_seed": all(one["gain_ci_low"] > 0 for one in figures),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--examples", nargs="+", default=list(EXAMPLES), choices=list(EXAMPLES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args()
    results = {
        "preset": "small",
        "seeds": args.seeds,
        "examples": measure(args.examples, args.seeds),
    }
    if args.json:
        write_results(args.json, results)


if __name__ == "__main__":
    main()
