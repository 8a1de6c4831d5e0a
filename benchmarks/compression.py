"""Compression for serving on ``large``: int8 quantization and distillation of DQN and SASRec.

    python benchmarks/compression.py --json benchmarks/results/compression.json

Two teachers are trained on ``large`` (100,000 items): DQN and the sequence recommender
(``agent=sasrec``: the MLP with the transformer encoder). Each is served four ways: as
trained, int8-quantized (``agents.compression.quantized``), distilled into a small student
(embedding 8, hidden 32; an MLP-encoder student for SASRec) and that student quantized.
For each: the scoring network's size, ``act`` p50 / p99 for one shopper (one torch thread,
the same observations, variants timed in alternated rounds), and the return on the same
evaluation shoppers, paired with the teacher (the return lost).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.compression import distill, model_bytes, quantized
from agents.dqn import DQNAgent
from agents.evaluation import evaluate, paired_difference, pooled_estimate
from agents.logs import collect_random_logs
from agents.mlp import MLPAgent
from benchmarks.latency import sample_observations, time_calls
from benchmarks.timing import write_results
from recenv import ShoppingVectorEnv, make_config

EVAL_SEED = 2024
STUDENT = {"embedding_dim": 8, "hidden_size": 32}


def teachers(config, dqn_steps: int, log_steps: int) -> dict[str, Any]:
    dqn = DQNAgent(config, seed=0, device="cpu").learn(
        ShoppingVectorEnv(64, config=config), dqn_steps
    )
    sasrec = MLPAgent(config, seed=0, device="cpu", encoder="transformer", selection_shoppers=0)
    sasrec.fit(collect_random_logs(ShoppingVectorEnv(64, config=config), config, log_steps, 0))
    return {"dqn": dqn, "sasrec": sasrec}


def variants(teacher: Any, distill_states: int) -> tuple[dict[str, Any], dict[str, float]]:
    """The teacher served as trained, quantized, distilled, distilled and quantized."""
    settings = {"selection_shoppers": 0} if isinstance(teacher, MLPAgent) else {}
    student = type(teacher)(teacher.env_config, seed=1, device="cpu", **STUDENT, **settings)
    summary = distill(teacher, student, n_states=distill_states, epochs=5, seed=1)
    return {
        "teacher": teacher,
        "int8": quantized(teacher),
        "student": student,
        "student_int8": quantized(student),
    }, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    parser.add_argument("--preset", default="large")
    parser.add_argument("--dqn-steps", type=int, default=60_000)
    parser.add_argument("--log-steps", type=int, default=30_000)
    parser.add_argument("--distill-states", type=int, default=20_000)
    parser.add_argument("--shoppers", type=int, default=300)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternated latency rounds")
    args = parser.parse_args()
    if args.json and args.json.exists() and not args.overwrite:
        parser.error(f"--json {args.json} exists; pass --overwrite to replace it")
    torch.set_num_threads(1)
    config = make_config(args.preset)
    observations = sample_observations(config, args.calls)
    report: dict[str, Any] = {
        "preset": args.preset,
        "command": " ".join(sys.argv[1:]),
        "load_average_at_start": os.getloadavg(),
        "agents": {},
    }
    for name, teacher in teachers(config, args.dqn_steps, args.log_steps).items():
        served, summary = variants(teacher, args.distill_states)
        timings: dict[str, list[tuple[float, float]]] = {variant: [] for variant in served}
        for _ in range(args.rounds):  # alternated, so machine noise hits every variant alike
            for variant, agent in served.items():
                timings[variant].append(time_calls(agent, observations))
        results = {v: evaluate(a, config, args.shoppers, EVAL_SEED) for v, a in served.items()}
        rows = {}
        for variant, agent in served.items():
            p50, p99 = np.median(np.array(timings[variant]), axis=0)
            lost = paired_difference(results[variant], results["teacher"])
            value = pooled_estimate([results[variant]])
            rows[variant] = {
                "bytes": model_bytes(agent),
                "p50_ms": float(p50),
                "p99_ms": float(p99),
                "return": {"mean": value.mean, "ci_low": value.ci_low, "ci_high": value.ci_high},
                "minus_teacher": {
                    "mean": lost.mean,
                    "ci_low": lost.ci_low,
                    "ci_high": lost.ci_high,
                },
            }
            print(name, variant, rows[variant], flush=True)
        report["agents"][name] = {"variants": rows, "distillation": summary}
    report.update(
        budgets={"dqn_steps": args.dqn_steps, "log_steps": args.log_steps},
        shoppers=args.shoppers,
        calls=args.calls,
        rounds=args.rounds,
    )
    if args.json:
        write_results(args.json, report)


if __name__ == "__main__":
    main()
