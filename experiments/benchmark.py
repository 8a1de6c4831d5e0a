"""The default benchmark (the README's main job): every agent x 3 seeds, then a report.

    python -m experiments.benchmark                       # default scenario, ~7 minutes on 2 cores
    python -m experiments.benchmark --env small --seeds 0 --out outputs/quick

Each (agent, seed) is one ``experiments.train`` run with a budget sized so the whole
benchmark finishes in under 10 minutes on a 2-core CPU (``BUDGETS``; larger budgets
give higher returns, see ``benchmarks/agents.py``). Runs go two at a time (joblib, one
torch thread each), all on the same evaluation shoppers. The report folder then gets
``report.md`` (means with 95% CIs over seeds and shoppers, IQM over runs, normalised
returns, budgets, paired differences to DQN), ``summary.csv``, learning curves of every
learning agent with the oracles and the best simple baseline as reference lines, and the
TensorBoard command.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from joblib import Parallel, delayed

from experiments.factory import compose_config
from experiments.report import write_report
from experiments.run_folder import move_aside

# agent preset -> overrides that size its budget for the benchmark. Offline agents refit on
# their growing log at every evaluation, so every learning agent has a learning curve.
REFIT = "agent.refit_interval=${train.eval_interval}"
BUDGETS: dict[str, list[str]] = {
    "random": [],
    "popularity": ["train.total_steps=100000", "train.eval_interval=20000", REFIT],
    "kmeans": ["train.total_steps=100000", "train.eval_interval=20000", REFIT],
    "mlp": ["train.total_steps=100000", "train.eval_interval=20000", REFIT],
    "custom_example": ["train.total_steps=50000", "train.eval_interval=10000", REFIT],
    "dqn": [
        "train.total_steps=150000",
        "train.eval_interval=15000",
        "agent.validation_interval=25000",
    ],
    "sb3_dqn": ["train.total_steps=15000", "train.eval_interval=3000"],
    "sb3_ppo": ["train.total_steps=20000", "train.eval_interval=4000"],
    "rule": ["train.total_steps=100000", "train.eval_interval=20000", REFIT],
    "myopic_oracle": [],
    "long_term_oracle": [],
    "planner": [],
}
# References whose acts do not depend on the run's seed (the planner's only through its own
# planning streams): one run serves every seed; the report pairs it with each.
ONE_RUN = ("myopic_oracle", "long_term_oracle", "planner")


def run_one(agent: str, seed: int, env: str, out: Path, extra: list[str]) -> str:
    """One training run in its own folder (a worker process; torch on one thread)."""
    import torch

    from experiments.train import run_training

    torch.set_num_threads(1)
    overrides = [f"agent={agent}", f"env={env}", f"seed={seed}", "train.progress=false"]
    cfg = compose_config([*overrides, *BUDGETS.get(agent, []), *extra])
    folder = out / "runs" / f"agent={agent},seed={seed}"
    start = time.perf_counter()
    results = run_training(cfg, folder, agent)
    return (
        f"{agent:>17} seed {seed}: return {results['metrics']['return']['mean']:6.2f} "
        f"({time.perf_counter() - start:5.1f} s)"
    )


def claim_output_folder(out: Path, overwrite: bool) -> None:
    """Refuse, before any run starts, an ``--out`` that holds an earlier benchmark; with
    ``overwrite`` move it aside (``<out>.replaced-<time>``), never delete it."""
    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise SystemExit(
            f"{out} already holds a benchmark; pass --overwrite to move it aside "
            "(nothing is deleted) or choose another --out"
        )
    print(f"moved the earlier benchmark aside to {move_aside(out)}", flush=True)


def run(argv: list[str] | None = None) -> Path:
    """Run the benchmark and write the report; returns the path of ``report.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="default", help="scenario preset (recenv/presets/env)")
    parser.add_argument("--agents", nargs="+", default=list(BUDGETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark"))
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel")
    parser.add_argument(
        "--overwrite", action="store_true", help="move an earlier benchmark in --out aside"
    )
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.agents) - set(BUDGETS) - _presets())
    if unknown:
        raise SystemExit(f"unknown agents {unknown}; presets: {sorted(_presets())}")
    claim_output_folder(args.out, args.overwrite)
    start = time.perf_counter()
    jobs = [
        (agent, seed)
        for seed in args.seeds
        for agent in args.agents
        if agent not in ONE_RUN or seed == args.seeds[0]
    ]
    for line in Parallel(n_jobs=args.jobs, return_as="generator")(
        delayed(run_one)(agent, seed, args.env, args.out, args.overrides) for agent, seed in jobs
    ):
        print(line, flush=True)
    report = write_report([args.out / "runs"], args.out, reference="dqn")
    print(report.read_text())
    print(f"{len(jobs)} runs in {time.perf_counter() - start:.0f} s; report: {report}")
    return report


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``recenv-benchmark``)."""
    run(argv)


def _presets() -> set[str]:
    return {
        path.stem
        for path in (Path(__file__).resolve().parent.parent / "conf" / "agent").glob("*.yaml")
    }


if __name__ == "__main__":
    main()
