"""Torch threads for our agents: DQN training speed with 1 thread, 2, ... on this machine.

``python benchmarks/torch_threads.py --json benchmarks/results/torch_threads.json`` trains
DQN (``dqn``; ``mlp``: the supervised MLP) on ``default``, or the CleanRL-style examples
(``cleanrl_dqn``, ``cleanrl_ppo``) on ``small``, for ``--steps`` shopper-steps in a fresh
child process per measurement, each with ``RECENV_TORCH_THREADS=n``, alternating the
thread counts round by round (``timing.alternate``). It backs the default of ``agents.threads``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import REPO_ROOT, alternate, ratio_summary, summary, write_results

CHILD = """
import sys, time
import recenv
from recenv import ShoppingVectorEnv
from agents.dqn import DQNAgent
from agents.mlp import MLPAgent
name, steps = sys.argv[1], int(sys.argv[2])
config = recenv.make_config("default")
if name.startswith("cleanrl"):  # the single-file examples on small: their own loop
    from experiments.examples import cleanrl_dqn, cleanrl_ppo
    example = cleanrl_dqn if name == "cleanrl_dqn" else cleanrl_ppo
    _, done, seconds = example.train(example.Args(total_timesteps=steps))
    print(done / seconds)
    raise SystemExit
if name == "dqn":
    agent = DQNAgent(env_config=config, seed=0, device="cpu", learning_starts=1000,
                     validation_interval=10**9)
else:
    agent = MLPAgent(env_config=config, seed=0, device="cpu")
env = ShoppingVectorEnv(16, config=config)
start = time.perf_counter()
agent.learn(env, steps)
print(steps / (time.perf_counter() - start))
"""


def measure(agent: str, threads: int, steps: int) -> float:
    env = {key: value for key, value in os.environ.items() if not key.endswith("NUM_THREADS")}
    env["RECENV_TORCH_THREADS"] = str(threads)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, agent, str(steps)],
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--agents",
        nargs="+",
        default=["dqn", "cleanrl_dqn", "cleanrl_ppo"],
        choices=["dqn", "mlp", "cleanrl_dqn", "cleanrl_ppo"],
    )
    args = parser.parse_args()
    counts = sorted({1, 2, os.cpu_count() or 1})
    figures: dict[str, object] = {"steps": args.steps, "cpus": os.cpu_count(), "agents": {}}
    for agent in args.agents:
        samples = alternate(
            {str(n): (lambda n=n, agent=agent: measure(agent, n, args.steps)) for n in counts},
            args.repeats,
        )
        result = {f"{n} threads": summary(samples[str(n)]) for n in counts}
        for n in counts[1:]:
            result[f"{n} / 1 threads"] = ratio_summary(samples[str(n)], samples["1"])
        figures["agents"][agent] = result
        print(
            agent,
            {
                key: round(value.get("median", value.get("of_medians")), 2)
                for key, value in result.items()
            },
        )
    if args.json:
        write_results(args.json, figures)


if __name__ == "__main__":
    main()
