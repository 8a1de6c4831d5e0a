"""SlateQ against DQN, the simple baselines and random on a slate scenario, paired.

    python benchmarks/slateq.py --jobs 4 --json benchmarks/results/slateq.json   # 14 min here
    python benchmarks/slateq.py --seeds 0 1 2 --steps 60000 -- env=search

Default scenario: ``env=default env.slate_size=3``, the main benchmark's world
(``benchmarks/agents.py``) with slates of three, so the figures sit beside the single-item
ones. Arms: ``slateq`` (the paper's treatment: no click worth 0, one-step TD),
``slateq_learned_no_click`` (``Q0(s)`` learned, 5-step returns), ``dqn`` (which ranks the
slate by its item Q-values and learns from the first item), the simple baselines (random,
popularity, the logged-reward rule, BoughtAndFresh) and the two oracles (for the
normalised score). The learners train ``--steps`` shopper-steps on the training split of
each seed; the baselines keep their presets' log budgets; every arm meets the same
``eval.n_shoppers`` evaluation shoppers (common random numbers). Per arm: mean return with a
two-level 95% CI (seeds and shoppers), per-seed returns, CTR, session length, training time;
``<slateq arm>_minus_<arm>``: paired differences. ``normalised = (agent - random) / (best
oracle - random)``. An existing ``--json`` file is kept unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from agents.base import write_json_atomically
from agents.evaluation import EvaluationResult, paired_difference, pooled_estimate
from benchmarks.agents import normalise
from experiments.agent_runs import train_and_evaluate

SCENARIO = ["env=default", "env.slate_size=3"]
SLATEQ_ARMS = {
    "slateq": ("slateq", []),
    "slateq_learned_no_click": ("slateq", ["agent.no_click_value=learned", "agent.n_steps=5"]),
}
LEARNERS = {**SLATEQ_ARMS, "dqn": ("dqn", [])}
BASELINES = {name: (name, []) for name in ("random", "popularity", "rule", "custom_example")}
ORACLES = {name: (name, []) for name in ("myopic_oracle", "long_term_oracle")}


def run_one(preset: str, seed: int, overrides: list[str]) -> dict:
    """One arm, one seed, in a worker process with one torch thread."""
    torch.set_num_threads(1)
    return train_and_evaluate(preset, seed, overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=60_000, help="learners' shopper-steps")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (processes)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (default: the scenario)")
    args = parser.parse_args()
    if args.json and args.json.exists() and not args.overwrite:
        parser.error(f"{args.json} exists; pass --overwrite to replace it")
    torch.set_num_threads(1)
    overrides = args.overrides or SCENARIO
    report: dict = {
        "agents": {},
        "seeds": args.seeds,
        "overrides": overrides,
        "learner_steps": args.steps,
    }
    results: dict[str, list[EvaluationResult]] = {}
    plan = {}  # name -> (role, preset, arm overrides, futures per seed)
    # every run is seeded on its own, so running them side by side changes no figure
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        for role, arms in (("learner", LEARNERS), ("baseline", BASELINES), ("oracle", ORACLES)):
            for name, (preset, extra) in arms.items():
                seeds = args.seeds[:1] if role == "oracle" else args.seeds
                budget = [f"train.total_steps={args.steps}"] if role == "learner" else []
                own = [*overrides, *extra, *budget]
                futures = [pool.submit(run_one, preset, seed, own) for seed in seeds]
                plan[name] = (preset, [*extra, *budget], futures)
        for name, (preset, extra, futures) in plan.items():
            runs = [future.result() for future in futures]
            results[name] = [run["result"] for run in runs] * (len(args.seeds) // len(runs))
            estimate = pooled_estimate(results[name])
            report["agents"][name] = {
                "role": runs[0]["role"],
                "preset": preset,
                "overrides": extra,
                "mean_return": estimate.mean,
                "ci_low": estimate.ci_low,
                "ci_high": estimate.ci_high,
                "per_seed_return": [run["result"].summary["return"].mean for run in runs],
                "ctr": pooled_estimate(results[name], "ctr").mean,
                "session_length": pooled_estimate(results[name], "session_length").mean,
                "training_shopper_steps": [run["shopper_steps"]["training"] for run in runs],
                "train_seconds": [round(run["train_seconds"], 1) for run in runs],
            }
            print(
                f"{name:>24}: return {estimate.mean:6.2f} [{estimate.ci_low:.2f}, "
                f"{estimate.ci_high:.2f}]  train {report['agents'][name]['train_seconds']} s",
                flush=True,
            )
    normalise(report)
    agents = report["agents"]
    baselines = [name for name in BASELINES if name != "random"]
    report["best_baseline"] = max(baselines, key=lambda name: agents[name]["mean_return"])
    for arm in SLATEQ_ARMS:
        for name in results:
            if name != arm:
                difference = paired_difference(results[arm], results[name])
                report[f"{arm}_minus_{name}"] = difference.as_dict()
                print(
                    f"{arm} - {name}: {difference.mean:+.2f} "
                    f"[{difference.ci_low:+.2f}, {difference.ci_high:+.2f}]"
                )
    report["jobs"] = args.jobs
    report["note"] = (
        f"a shared, busy 2-core machine, {args.jobs} run(s) side by side, one torch thread each"
    )
    if args.json:
        write_json_atomically(args.json, report)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"{time.perf_counter() - start:.0f} s")
