"""The CUDA step on a real device: shopper-steps/s against the CPU in the same run, peak
device memory, and CPU/GPU trajectory equality on the hardware.

    python benchmarks/gpu.py --json benchmarks/results/gpu.json          # on a GPU machine
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/gpu.py --smoke              # the script itself

Offline install on a GPU machine that has torch, numba and numba-cuda but no package
index: on a connected machine ``pip download -d wheels -e ".[dev]" gymnasium hydra-core
omegaconf stable-baselines3 scipy pandas pyarrow scikit-learn tqdm matplotlib`` (same
Python and platform), carry ``wheels/`` over, then ``pip install --no-index --find-links
wheels -e . --no-deps`` and ``pip install --no-index --find-links wheels <each listed>``.

Per preset (``--presets``) and batch size (``--sizes``): ``gpu_steps_per_s`` (median of
``--repeats`` timed runs of ``--steps`` kernel steps each, slates drawn once on the device,
synchronised before the clock stops), ``cpu_steps_per_s`` (the numba CPU kernel on every
core, fewer steps at the largest sizes), their ratio, and ``device_memory_mb`` (device
memory in use after building the simulator). ``trajectory_equal``: 20 steps of 4,096
shoppers with slates and restarts, every array compared with the CPU path's (exact for
integers, 1e-6 for floats). ``dqn``: DQN (the test suite's small-budget settings on
``default``) trained for ``--dqn-steps`` shopper-steps of ``--dqn-shoppers`` per step with
the env and the learner on the device, and again with both on the CPU: env-steps/s of
``learn`` and the return each reaches on the same 1,000 evaluation shoppers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import recenv
from benchmarks.timing import write_results
from recenv.sim import cuda as recenv_cuda
from recenv.sim.core import Simulator


def _synchronise() -> None:
    if not recenv_cuda.simulated():
        recenv_cuda.cuda.synchronize()


def _rate(simulator: Any, slates: Any, steps: int, device: bool) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        simulator.step_and_observe(slates)
    if device:
        _synchronise()
    return simulator.n_shoppers * steps / (time.perf_counter() - start)


def throughput(preset: str, n: int, steps: int, repeats: int) -> dict[str, Any]:
    config = recenv.make_config(preset)
    rng = np.random.default_rng(0)
    host_slates = rng.integers(0, config.catalog.n_items, (n, config.slate_size))
    before = _memory_used()
    device = recenv_cuda.CudaSimulator(config, n)
    device.seed(0)
    device.start_sessions(np.arange(n))
    slates = recenv_cuda.as_device(host_slates, np.int64)
    memory = _memory_used() - before
    _rate(device, slates, 2, True)  # compile and warm up
    gpu = [_rate(device, slates, steps, True) for _ in range(repeats)]
    cpu_simulator = Simulator(config, n)
    cpu_simulator.seed(0)
    cpu_simulator.start_sessions(np.arange(n))
    cpu_steps = max(2, steps // max(1, n // 65_536))
    _rate(cpu_simulator, host_slates, 1, False)
    cpu = [_rate(cpu_simulator, host_slates, cpu_steps, False) for _ in range(repeats)]
    return {
        "preset": preset,
        "n_shoppers": n,
        "gpu_steps_per_s": statistics.median(gpu),
        "gpu_values": gpu,
        "cpu_steps_per_s": statistics.median(cpu),
        "cpu_values": cpu,
        "gpu_over_cpu": statistics.median(gpu) / statistics.median(cpu),
        "device_memory_mb": memory / 2**20,
    }


def _memory_used() -> float:
    if recenv_cuda.simulated():
        return 0.0
    free, total = recenv_cuda.cuda.current_context().get_memory_info()
    return float(total - free)


def trajectory_equal(n: int = 4096, steps: int = 20) -> dict[str, Any]:
    config = recenv.make_config("default", slate_size=3)
    simulators = {"cpu": Simulator(config, n), "gpu": recenv_cuda.CudaSimulator(config, n)}
    records: dict[str, list[np.ndarray]] = {"cpu": [], "gpu": []}
    for name, simulator in simulators.items():
        rng = np.random.default_rng(1)
        simulator.seed(3)
        simulator.start_sessions(np.arange(n))
        for _ in range(steps):
            slates = rng.integers(0, config.catalog.n_items, (n, 3))
            restart = rng.random(n) < 0.1
            outcome, observation = simulator.step_and_observe(slates, restart)
            arrays = [*outcome, *observation.values()]
            records[name] += [
                np.array(recenv_cuda.to_host(a)) if name == "gpu" else a.copy() for a in arrays
            ]
    worst = 0.0
    for expected, got in zip(records["cpu"], records["gpu"], strict=True):
        if np.issubdtype(expected.dtype, np.floating):
            worst = max(worst, float(np.max(np.abs(expected - got), initial=0.0)))
        elif not np.array_equal(expected, got):
            return {"equal": False, "first_difference": "integer array"}
    return {"equal": worst <= 1e-6, "max_float_difference": worst, "n": n, "steps": steps}


DQN_SETTINGS = {
    "learning_rate": 1e-3,
    "gamma": 0.97,
    "buffer_size": 200_000,
    "batch_size": 256,
    "learning_starts": 10_000,
    "target_update_interval": 500,
    "exploration_fraction": 0.3,
    "n_steps": 3,
    "validation_interval": 0,
}


def dqn(steps: int, n_shoppers: int, preset: str = "default") -> dict[str, Any]:
    """DQN with env and learner on the device, then both on the CPU; speed and return."""
    from agents.dqn import DQNAgent
    from agents.evaluation import evaluate
    from recenv import ShoppingVectorEnv

    config = recenv.make_config(preset)
    figures: dict[str, Any] = {"steps": steps, "n_shoppers": n_shoppers, "preset": preset}
    for where in ("cuda", "cpu"):
        learner = "cpu" if recenv_cuda.simulated() else where
        agent = DQNAgent(config, seed=0, device=learner, **DQN_SETTINGS)
        env = ShoppingVectorEnv(n_shoppers, config=config, device=where, check_actions=False)
        start = time.perf_counter()
        agent.learn(env, steps)
        _synchronise()
        seconds = time.perf_counter() - start
        result = evaluate(agent, config, 200 if recenv_cuda.simulated() else 1000, 123_456)
        figures[where] = {
            "env_steps_per_s": agent.steps_done / seconds,
            "return": result.summary["return"].mean,
        }
        print(where, figures[where], flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--presets", nargs="+", default=["default", "large"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[4096, 65_536, 1_048_576])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dqn-steps", type=int, default=200_000)
    parser.add_argument("--dqn-shoppers", type=int, default=4096)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (under CUDASIM)")
    args = parser.parse_args()
    if args.smoke:
        args.presets, args.sizes, args.steps, args.repeats = ["small"], [6], 2, 1
        args.dqn_steps, args.dqn_shoppers = 12_000, 32
    if not recenv_cuda.available():
        raise SystemExit("no CUDA device (set NUMBA_ENABLE_CUDASIM=1 with --smoke to try)")
    equality = trajectory_equal(6, 3) if args.smoke else trajectory_equal()
    print("trajectory", equality, flush=True)
    rows = []
    for preset in args.presets:
        for n in args.sizes:
            rows.append(throughput(preset, n, args.steps, args.repeats))
            print(rows[-1], flush=True)
    results = {
        "simulated": recenv_cuda.simulated(),
        "trajectory_equal": equality,
        "throughput": rows,
        "dqn": dqn(args.dqn_steps, args.dqn_shoppers, "small" if args.smoke else "default"),
    }
    if args.json:
        write_results(args.json, results)


if __name__ == "__main__":
    main()
