"""Simulator throughput against a bare numpy ceiling kernel, thread scaling, and peak memory.

    python benchmarks/env_throughput.py --json benchmarks/results/env_throughput.json
    python benchmarks/env_throughput.py --quick          # smoke run, about a minute
    git worktree add -f /tmp/before <commit>
    python benchmarks/env_throughput.py --baseline /tmp/before --json ...  # before and after

Every comparison is timed in alternated rounds (A, B, A, B, ...; ``benchmarks/timing.py``)
on objects built once, after a warm-up step, and reported as median and range of the rounds,
never the best one. The ceiling kernel does only the multinomial-logit choice (gather slate
embeddings, score, no-click option, softmax, sample, push into a history ring buffer): the
least work a batched MNL simulator can do per shopper-step.

JSON written by ``--json`` (rates in steps/s or shopper-steps/s; a *summary* is
``{"median", "min", "max", "values"}`` over the rounds; a *ratio* is ``{"of_medians", "min",
"max", "per_round"}``, where min/max range over the per-round ratios A_i / B_i)::

    machine       CPU model, core counts, python/numpy/numba/torch/gymnasium versions,
                  git commit, date, command line
    settings      repeats, step_budget (shopper-steps per timed call), sizes, quick
    peak_memory   preset, n_shoppers, steps, baseline_mb (RSS of a freshly spawned child after
                  its imports), peak_mb (its VmHWM after building the env and stepping it),
                  increase_mb (peak - baseline), baseline_hwm_mb, hwm_reset, method
    single_env    gymnasium.make("recenv/Shopping-v0", preset="default") alternated with the
                  ceiling at N = 1: env_steps_per_s, ceiling_steps_per_s (summaries),
                  ratio_to_ceiling (ratio), steps
    vector        {preset: {N: env_shopper_steps_per_s, ceiling_shopper_steps_per_s,
                  ratio_to_ceiling, steps}}
    threads       {preset: {N: threads_1, threads_2 (summaries of shopper-steps/s),
                  speedup_2_over_1 (ratio), steps}}, or {"skipped": reason}
    vector_copy_false  {N: copy_false, copy_true (summaries of shopper-steps/s on default),
                  speedup_copy_false (ratio), steps}: ShoppingVectorEnv(copy=False) reuses
                  one set of observation arrays

Before and after in one run: ``--baseline TREE`` (a checkout of another commit, e.g. a git
worktree) times that tree's env with this script's code in a worker process whose ``recenv``
is imported from ``TREE`` (``RECENV_BENCH_TREE``; each tree keeps its own compiled-kernel
cache in its own ``__pycache__``), built once like the others; each round then calls this
tree's env, the baseline's and the ceiling in turn. Every env entry gains
``baseline_env_steps_per_s`` (or ``baseline_env_shopper_steps_per_s``), a summary, and
``speedup_over_baseline``, a ratio (this tree / the baseline, per round); the JSON gains
``baseline`` (tree, commit) and ``baseline_peak_memory``.

Threads: ``recenv/sim/threads.py`` splits a step over as many threads as the process may use
CPUs (``os.sched_getaffinity``), from ``recenv.sim.core.PARALLEL_FROM`` shoppers on. The
1-thread env is built while this process is pinned to one CPU, the 2-thread env on two; both
then run unpinned, alternated.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.timing import (  # noqa: E402  (this tree's helpers, whatever tree is measured)
    alternate,
    rate,
    ratio_summary,
    spawned_peak_memory,
    summary,
    write_results,
)

TREE_VARIABLE = "RECENV_BENCH_TREE"  # a worker imports recenv from this tree
if os.environ.get(TREE_VARIABLE):
    sys.path.insert(0, os.environ[TREE_VARIABLE])

import recenv  # noqa: E402

SIZES = (1, 64, 4096, 65536)
PRESETS = ("default", "large")
THREAD_SIZES = (4096, 65536)
REPEATS = 3
STEP_BUDGET = 2_000_000  # shopper-steps per timed call
SINGLE_ENV_STEPS = 50_000
MEMORY_SHOPPERS = 65536
MEMORY_STEPS = 20


class CeilingKernel:
    """The least work a batched MNL recommender simulator can do per shopper-step."""

    def __init__(self, embeddings: NDArray[np.float32], n_shoppers: int, history: int) -> None:
        rng = np.random.default_rng(0)
        self.embeddings = embeddings
        self.taste = rng.standard_normal((n_shoppers, embeddings.shape[1])).astype(np.float32)
        self.history = np.zeros((n_shoppers, history), dtype=np.int64)
        self.position = 0
        self.rows = np.arange(n_shoppers)
        self.rng = rng

    def step(self, slates: NDArray[np.int64]) -> NDArray[np.int64]:
        """One choice per shopper among ``slates`` ``(n, K)`` or none (-1)."""
        shown = self.embeddings.take(slates, axis=0)  # (n, K, d)
        scores = np.matmul(shown, self.taste[:, :, None])[..., 0]
        top = np.maximum(scores.max(axis=1), 0.0)  # the no-click option has utility 0
        weights = np.exp(scores - top[:, None])
        cumulative = np.cumsum(weights, axis=1)
        total = cumulative[:, -1] + np.exp(-top)
        choice = np.count_nonzero(cumulative < (self.rng.random(len(top)) * total)[:, None], 1)
        slate_size = slates.shape[1]
        clicked_item = np.where(
            choice < slate_size, slates[self.rows, np.minimum(choice, slate_size - 1)], -1
        )
        self.history[:, self.position] = clicked_item
        self.position = (self.position + 1) % self.history.shape[1]
        return clicked_item


def random_slates(
    rng: np.random.Generator, n_items: int, n: int, slate_size: int, steps: int
) -> NDArray[np.int64]:
    """``(steps, n, slate_size)`` slates of distinct items (consecutive ids from a random start)."""
    start = rng.integers(0, n_items, size=(steps, n, 1))
    return (start + np.arange(slate_size)) % n_items


def steps_for(n: int, budget: int) -> int:
    """Steps per timed call: about ``budget`` shopper-steps, at least 20, at most 4,000."""
    return max(20, min(4000, budget // n))


@functools.cache
def _world(preset: str) -> Any:
    return recenv.build_world(recenv.make_config(preset))


@contextmanager
def _cpus(count: int) -> Iterator[None]:
    """Pin this thread to ``count`` of its CPUs for the block (the env reads it when built)."""
    allowed = os.sched_getaffinity(0)
    if count > len(allowed):
        raise ValueError(f"threads = {count} exceeds the {len(allowed)} CPUs this process may use")
    os.sched_setaffinity(0, sorted(allowed)[:count])
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def vector_env_measure(
    preset: str, n: int, steps: int, threads: int | None = None, **options: Any
) -> Callable[[], float]:
    """Build a vector env of ``n`` shoppers once; each call of the result times ``steps``.
    ``options`` go to the env (``copy=False``)."""
    if threads is None:
        env = recenv.ShoppingVectorEnv(n, preset=preset, **options)
    else:
        with _cpus(threads):
            env = recenv.ShoppingVectorEnv(n, preset=preset, **options)
        used = getattr(getattr(env.simulator, "_threads", None), "n_threads", threads)
        if used != threads:
            raise RuntimeError(f"asked for {threads} threads, the env splits over {used}")
    env.reset(seed=0)
    config = env.config
    actions = random_slates(
        np.random.default_rng(1), config.catalog.n_items, n, config.slate_size, steps
    )
    if config.slate_size == 1:
        actions = actions[..., 0]
    env.step(actions[0])  # warm-up: compiled kernels load (or compile) on first use

    def work() -> int:
        for action in actions:
            env.step(action)
        return steps * n

    return lambda: rate(work)


def ceiling_measure(preset: str, n: int, steps: int) -> Callable[[], float]:
    """Build the ceiling kernel for ``n`` shoppers once; each call times ``steps``."""
    config = recenv.make_config(preset)
    kernel = CeilingKernel(_world(preset).catalog.embedding, n, config.history_length)
    slates = random_slates(
        np.random.default_rng(1), config.catalog.n_items, n, config.slate_size, steps
    )
    kernel.step(slates[0])

    def work() -> int:
        for slate in slates:
            kernel.step(slate)
        return steps * n

    return lambda: rate(work)


def single_env_measure(steps: int, **overrides: Any) -> Callable[[], float]:
    """``gymnasium.make`` env on ``default``: uniform-random pre-drawn actions (distinct items
    per slate), resets counted in the time."""
    env = gym.make("recenv/Shopping-v0", preset="default", **overrides)
    env.reset(seed=0)
    config = env.unwrapped.config
    rng = np.random.default_rng(1)
    if config.slate_size == 1:
        actions = rng.integers(0, config.catalog.n_items, steps).tolist()
    else:
        n_items, slate_size = config.catalog.n_items, config.slate_size
        actions = [rng.choice(n_items, slate_size, replace=False) for _ in range(steps)]
    env.step(actions[0])

    def work() -> int:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return steps

    return lambda: rate(work)


def step_shoppers(preset: str, n: int, steps: int) -> None:
    """Build ``n`` shoppers on ``preset`` and step them: the peak-memory child's work."""
    env = recenv.ShoppingVectorEnv(n, preset=preset)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        env.step(rng.integers(0, env.config.catalog.n_items, n))


MEASURES: dict[str, Callable[..., Callable[[], float]]] = {
    "single": lambda steps: single_env_measure(steps),
    "vector": vector_env_measure,
}


def build_measure(spec: tuple[Any, ...], baseline: BaselineWorker | None = None):
    """The measure ``("single", steps)`` or ``("vector", preset, n, steps[, threads])``, of
    this tree, or of the baseline tree in its worker."""
    if baseline is not None:
        return baseline.measure(spec)
    kind, *args = spec
    return MEASURES[kind](*args)


class BaselineWorker:
    """This script in a subprocess whose ``recenv`` comes from another tree (``--worker``).

    It builds measures on request and times them one call at a time, so its rounds
    alternate with this process's; requests and answers are JSON lines.
    """

    def __init__(self, tree: Path) -> None:
        if not (tree / "recenv" / "__init__.py").is_file():
            raise ValueError(f"--baseline {tree}: no recenv package there; allowed: a checkout")
        self.tree = tree
        environment = {**os.environ, TREE_VARIABLE: str(tree.resolve())}
        environment.pop("PYTHONPATH", None)
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=environment,
        )
        self._count = 0

    def request(self, **message: Any) -> Any:
        """Send one request, wait for its answer (``value``), raise on the worker's error."""
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the baseline worker has no pipes")
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()
        answer = json.loads(stdout.readline() or '{"error": "worker died"}')
        if "error" in answer:
            raise RuntimeError(f"baseline worker ({self.tree}): {answer['error']}")
        return answer["value"]

    def measure(self, spec: tuple[Any, ...]) -> Callable[[], float]:
        self._count += 1
        name = str(self._count)
        self.request(build=name, spec=list(spec))
        return lambda: float(self.request(run=name))

    def describe(self) -> dict[str, Any]:
        return self.request(describe=True)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)


def serve() -> None:
    """The worker's loop: build measures, run them, report memory and this tree's commit."""
    measures: dict[str, Callable[[], float]] = {}
    for line in sys.stdin:
        message = json.loads(line)
        try:
            if "build" in message:
                measures[message["build"]] = build_measure(tuple(message["spec"]))
                value: Any = None
            elif "run" in message:
                value = measures[message["run"]]()
            elif "memory" in message:
                value = measure_memory(*message["memory"])
            else:
                tree = Path(recenv.__file__).resolve().parent.parent
                commit = subprocess.run(
                    ["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True
                ).stdout.strip()
                value = {"tree": str(tree), "commit": commit or None}
            answer = {"value": value}
        except Exception as error:  # the parent reports it and stops
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def compare(
    first: tuple[str, Callable[[], float]],
    second: tuple[str, Callable[[], float]],
    ratio_name: str,
    repeats: int,
    baseline: tuple[str, Callable[[], float]] | None = None,
) -> dict[str, Any]:
    """Alternate two measures (three with ``baseline``, a measure of the baseline tree);
    summaries of each, the ratio first / second and, with a baseline, first / baseline."""
    measures = dict([first, baseline, second] if baseline else [first, second])
    samples = alternate(measures, repeats)
    a, b = samples[first[0]], samples[second[0]]
    result = {first[0]: summary(a), second[0]: summary(b), ratio_name: ratio_summary(a, b)}
    if baseline:
        before = samples[baseline[0]]
        result[baseline[0]] = summary(before)
        result["speedup_over_baseline"] = ratio_summary(a, before)
    return result


def measure_memory(n: int, steps: int) -> dict[str, Any]:
    """Peak memory of a spawned child; the kernels are compiled (and cached) here first, so
    the child loads them instead of counting the compiler's memory."""
    step_shoppers("large", 4, 2)
    report = spawned_peak_memory(step_shoppers, "large", n, steps)
    print(
        f"memory, N={n} on large: after imports {report['baseline_mb']:.0f} MB, "
        f"peak {report['peak_mb']:.0f} MB, increase {report['increase_mb']:.0f} MB",
        file=sys.stderr,  # a worker's stdout carries its answers
        flush=True,
    )
    method = "VmHWM of a multiprocessing spawn child"
    return {"preset": "large", "n_shoppers": n, "steps": steps, "method": method, **report}


def _before(result: dict[str, Any], name: str) -> str:
    """`` | before X (speedup a (min-max))`` when the result has a baseline."""
    if "speedup_over_baseline" not in result:
        return ""
    speedup = result["speedup_over_baseline"]
    return (
        f" | before {result[name]['median']:,.0f}, speedup {speedup['of_medians']:.2f} "
        f"({speedup['min']:.2f}-{speedup['max']:.2f})"
    )


def measure_single_env(
    steps: int, repeats: int, baseline: BaselineWorker | None = None
) -> dict[str, Any]:
    spec = ("single", steps)
    before = ("baseline_env_steps_per_s", build_measure(spec, baseline)) if baseline else None
    result = compare(
        ("env_steps_per_s", build_measure(spec)),
        ("ceiling_steps_per_s", ceiling_measure("default", 1, steps)),
        "ratio_to_ceiling",
        repeats,
        before,
    )
    print(
        f"single env (gymnasium.make): {result['env_steps_per_s']['median']:,.0f} steps/s "
        f"(range {result['env_steps_per_s']['min']:,.0f}-{result['env_steps_per_s']['max']:,.0f})"
        + _before(result, "baseline_env_steps_per_s"),
        flush=True,
    )
    return {**result, "steps": steps}


def measure_vector(
    sizes: list[int], budget: int, repeats: int, baseline: BaselineWorker | None = None
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for preset in PRESETS:
        results[preset] = {}
        for n in sizes:
            steps = steps_for(n, budget)
            spec = ("vector", preset, n, steps)
            name = "baseline_env_shopper_steps_per_s"
            before = (name, build_measure(spec, baseline)) if baseline else None
            result = compare(
                ("env_shopper_steps_per_s", build_measure(spec)),
                ("ceiling_shopper_steps_per_s", ceiling_measure(preset, n, steps)),
                "ratio_to_ceiling",
                repeats,
                before,
            )
            results[preset][str(n)] = {**result, "steps": steps}
            ratio = result["ratio_to_ceiling"]
            print(
                f"{preset:8s} N={n:6d}: env {result['env_shopper_steps_per_s']['median']:13,.0f}"
                f"  ceiling {result['ceiling_shopper_steps_per_s']['median']:13,.0f}  ratio "
                f"{ratio['of_medians']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})"
                + _before(result, name),
                flush=True,
            )
    return results


def measure_copy_false(sizes: list[int], budget: int, repeats: int) -> dict[str, Any]:
    """``ShoppingVectorEnv(copy=False)`` (observations written into the same arrays every
    step) against the default fresh copies, on ``default``."""
    results: dict[str, Any] = {}
    for n in sizes:
        steps = steps_for(n, budget)
        result = compare(
            ("copy_false", vector_env_measure("default", n, steps, copy=False)),
            ("copy_true", vector_env_measure("default", n, steps)),
            "speedup_copy_false",
            repeats,
        )
        results[str(n)] = {**result, "steps": steps}
        speedup = result["speedup_copy_false"]
        print(
            f"default  N={n:6d}: copy=False {result['copy_false']['median']:13,.0f}  copy=True "
            f"{result['copy_true']['median']:13,.0f}  speedup {speedup['of_medians']:.2f} "
            f"({speedup['min']:.2f}-{speedup['max']:.2f})",
            flush=True,
        )
    return results


def measure_threads(sizes: list[int], budget: int, repeats: int) -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0))
    if usable < 2:
        return {"skipped": f"only {usable} CPU usable by this process"}
    results: dict[str, Any] = {}
    for preset in PRESETS:
        results[preset] = {}
        for n in sizes:
            steps = steps_for(n, budget)
            result = compare(
                ("threads_2", vector_env_measure(preset, n, steps, threads=2)),
                ("threads_1", vector_env_measure(preset, n, steps, threads=1)),
                "speedup_2_over_1",
                repeats,
            )
            results[preset][str(n)] = {**result, "steps": steps}
            speedup = result["speedup_2_over_1"]
            print(
                f"{preset:8s} N={n:6d}: 1 thread {result['threads_1']['median']:13,.0f}  "
                f"2 threads {result['threads_2']['median']:13,.0f}  speedup "
                f"{speedup['of_medians']:.2f} ({speedup['min']:.2f}-{speedup['max']:.2f})",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--quick", action="store_true", help="smoke run: few sizes, short runs")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="alternated rounds (>= 3)")
    parser.add_argument("--sizes", type=int, nargs="+", help="vector env sizes N")
    parser.add_argument(
        "--baseline", type=Path, help="a checkout of another commit to time side by side"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        serve()
        return
    budget, single_steps = STEP_BUDGET, SINGLE_ENV_STEPS
    sizes, thread_sizes = list(SIZES), list(THREAD_SIZES)
    if args.quick:
        budget, single_steps, sizes, thread_sizes = 100_000, 5_000, [1, 4096], [4096]
    sizes = args.sizes or sizes

    baseline = BaselineWorker(args.baseline) if args.baseline else None
    # memory first: the spawned child is independent of this process, but is then also
    # measured on a quiet machine before this process's threads start
    results: dict[str, Any] = {
        "settings": {
            "repeats": args.repeats,
            "step_budget": budget,
            "sizes": sizes,
            "thread_sizes": thread_sizes,
            "quick": args.quick,
        },
        "peak_memory": measure_memory(MEMORY_SHOPPERS, MEMORY_STEPS),
    }
    if baseline:
        results["baseline"] = baseline.describe()
        results["baseline_peak_memory"] = baseline.request(memory=[MEMORY_SHOPPERS, MEMORY_STEPS])
    results["single_env"] = measure_single_env(single_steps, args.repeats, baseline)
    results["vector"] = measure_vector(sizes, budget, args.repeats, baseline)
    results["threads"] = measure_threads(thread_sizes, budget, args.repeats)
    results["vector_copy_false"] = measure_copy_false(thread_sizes, budget, args.repeats)
    if baseline:
        baseline.close()
    if args.json:
        write_results(args.json, results)


if __name__ == "__main__":
    main()
