"""Timing helpers shared by the benchmark scripts: alternated repeats, median/range summaries,
peak memory of a spawned child, and JSON results that carry the machine they came from.

Why alternated: on a shared machine the load drifts over seconds, so timing A three times and
then B three times compares A's quiet minute with B's busy one. Calling A, B, A, B, ... gives
each side the same conditions round by round; medians and ranges are then comparable, and the
per-round ratios A_i / B_i show how much the comparison itself moves.

Only the standard library is imported here, so a peer's own virtual environment can use it.
"""

from __future__ import annotations

import importlib.metadata
import json
import multiprocessing
import os
import platform
import queue as queue_module
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
VERSIONED_PACKAGES = ("numpy", "numba", "torch", "gymnasium")


def alternate(measures: Mapping[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Call every measure once per round, in the mapping's order, for ``repeats`` rounds.

    Returns each measure's values in round order: ``{name: [round 0, round 1, ...]}``.
    """
    if repeats < 1:
        raise ValueError(f"repeats = {repeats} is out of range; allowed: integers >= 1")
    samples: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(repeats):
        for name, measure in measures.items():
            samples[name].append(float(measure()))
    return samples


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, range and every value of a set of repeats (not the best one: that flatters)."""
    if not values:
        raise ValueError("summary of no values; allowed: at least one value")
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": list(values),
    }


def ratio_summary(numerator: Sequence[float], denominator: Sequence[float]) -> dict[str, Any]:
    """Ratio of the medians, and the range of the per-round ratios of alternated repeats."""
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError(
            f"ratio of {len(numerator)} and {len(denominator)} repeats; "
            "allowed: the same number (>= 1) on both sides, one per round"
        )
    per_round = [a / b for a, b in zip(numerator, denominator, strict=True)]
    return {
        "of_medians": statistics.median(numerator) / statistics.median(denominator),
        "min": min(per_round),
        "max": max(per_round),
        "per_round": per_round,
    }


def rate(work: Callable[[], int], clock: Callable[[], float] = time.perf_counter) -> float:
    """Units per second of one call of ``work``, which returns how many units it did."""
    start = clock()
    units = work()
    return units / (clock() - start)


# -- peak memory in a fresh process -------------------------------------------------------


def _status_mb(field: str) -> float:
    """A ``VmRSS``/``VmHWM``-style field of /proc/self/status, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # reported in kB
    raise RuntimeError(f"/proc/self/status has no {field} line (Linux only)")


def _reset_high_water_mark() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _measure_child(queue: Any, target: Callable[..., object], args: tuple[Any, ...]) -> None:
    try:
        baseline_mb = _status_mb("VmRSS")
        hwm_reset = _reset_high_water_mark()
        baseline_hwm_mb = _status_mb("VmHWM")
        target(*args)
        peak_mb = _status_mb("VmHWM")
        queue.put(
            {
                "baseline_mb": baseline_mb,
                "baseline_hwm_mb": baseline_hwm_mb,
                "hwm_reset": hwm_reset,
                "peak_mb": peak_mb,
                "increase_mb": peak_mb - baseline_mb,
            }
        )
    except BaseException as error:  # report any failure to the parent instead of hanging it
        queue.put({"error": f"{type(error).__name__}: {error}"})


def spawned_peak_memory(target: Callable[..., object], *args: Any) -> dict[str, Any]:
    """Run ``target(*args)`` in a freshly *spawned* interpreter and report its memory (MiB).

    A forked child, or ``ru_maxrss`` of any child, inherits the parent's peak; a spawned
    interpreter's ``VmHWM`` starts from its own pages. ``baseline_mb`` is the child's RSS after
    its imports (the target's module included), ``peak_mb`` its high-water mark once the target
    returns, ``increase_mb`` the difference. ``target`` must be importable (module level).
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_measure_child, args=(queue, target, args))
    child.start()
    while True:
        try:
            report = queue.get(timeout=1.0)
            break
        except queue_module.Empty:
            if not child.is_alive():  # killed (out of memory, a signal) before reporting
                msg = f"the spawned child died with exit code {child.exitcode}"
                raise RuntimeError(msg) from None
    child.join()
    if "error" in report:
        raise RuntimeError(f"the spawned child failed: {report['error']}")
    return report


# -- results with their machine ------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> dict[str, Any]:
    def git(*command: str) -> str:
        return subprocess.run(
            ["git", *command], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def machine_info() -> dict[str, Any]:
    """What a reader needs to judge a figure: CPU, cores, versions, the code's commit."""
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "versions": versions,
        "git": _git_commit(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": [Path(sys.executable).name, *sys.argv],
    }


def write_results(path: Path, results: Mapping[str, Any]) -> None:
    """Write ``{"machine": machine_info(), **results}`` as JSON, atomically (temp, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine_info(), **results}
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as file:
        json.dump(payload, file, indent=2)
        file.write("\n")
    Path(file.name).replace(path)
