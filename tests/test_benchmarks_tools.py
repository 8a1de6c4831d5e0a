"""The benchmark helpers measure what they claim: alternated order, median/range arithmetic,
and a spawned child's own peak memory (not its parent's). No assertion on speed."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import (
    alternate,
    rate,
    ratio_summary,
    spawned_peak_memory,
    summary,
    write_results,
)

ALLOCATED_MB = 200


def allocate_and_touch(megabytes: int) -> None:
    """Child work for the memory test: a numpy array whose every page is written."""
    block = np.ones(megabytes * 2**20, dtype=np.uint8)
    block.sum()


def test_alternate_calls_the_measures_in_turn_round_after_round() -> None:
    calls: list[str] = []
    values = itertools.count(1)

    def measure(name: str):
        def run() -> float:
            calls.append(name)
            return float(next(values))

        return run

    samples = alternate({"env": measure("env"), "ceiling": measure("ceiling")}, repeats=3)
    assert calls == ["env", "ceiling"] * 3
    # values are handed out in call order: env gets 1, 3, 5 and ceiling 2, 4, 6
    assert samples == {"env": [1.0, 3.0, 5.0], "ceiling": [2.0, 4.0, 6.0]}


def test_alternate_rejects_no_repeats() -> None:
    with pytest.raises(ValueError, match="repeats = 0"):
        alternate({"a": lambda: 1.0}, repeats=0)


def test_summary_is_median_and_range_not_best() -> None:
    figures = summary([30.0, 10.0, 20.0, 100.0])
    # sorted 10, 20, 30, 100: the median of an even count is (20 + 30) / 2 = 25
    assert figures == {"median": 25.0, "min": 10.0, "max": 100.0, "values": [30, 10, 20, 100]}
    assert summary([4.0, 1.0, 2.0])["median"] == 2.0


def test_ratio_summary_pairs_the_rounds() -> None:
    figures = ratio_summary([10.0, 30.0, 20.0], [5.0, 10.0, 20.0])
    # medians 20 / 10 = 2.0; per round 10/5 = 2.0, 30/10 = 3.0, 20/20 = 1.0
    assert figures["of_medians"] == pytest.approx(2.0)
    assert figures["per_round"] == pytest.approx([2.0, 3.0, 1.0])
    assert (figures["min"], figures["max"]) == pytest.approx((1.0, 3.0))
    with pytest.raises(ValueError, match="the same number"):
        ratio_summary([1.0, 2.0], [1.0])


def test_rate_divides_the_units_by_the_clock() -> None:
    ticks = iter([10.0, 12.5])  # the work takes 2.5 s of the fake clock
    assert rate(lambda: 1000, clock=lambda: next(ticks)) == pytest.approx(400.0)


def test_spawned_child_reports_its_own_allocation() -> None:
    parent_ballast = np.ones(300 * 2**20, dtype=np.uint8)  # a forked child would inherit this
    report = spawned_peak_memory(allocate_and_touch, ALLOCATED_MB)
    del parent_ballast
    assert report["increase_mb"] == pytest.approx(ALLOCATED_MB, rel=0.15)
    assert report["peak_mb"] == pytest.approx(report["baseline_mb"] + report["increase_mb"])
    assert report["baseline_mb"] < 300  # a fresh interpreter with numpy, not the parent


def test_spawned_child_failure_is_reported() -> None:
    with pytest.raises(RuntimeError, match="the spawned child failed: ValueError"):
        spawned_peak_memory(allocate_and_touch, -1)


def test_results_carry_the_machine(tmp_path: Path) -> None:
    path = tmp_path / "out" / "figures.json"
    write_results(path, {"figure": 1.5})
    written = json.loads(path.read_text())
    assert written["figure"] == 1.5
    assert set(written["machine"]) >= {"cpu_model", "cpu_count", "versions", "git"}
    assert written["machine"]["versions"]["numpy"] == np.__version__


def test_merging_presets_keeps_the_files_rows_and_refuses_other_settings(tmp_path: Path) -> None:
    from benchmarks.merge import merge_presets

    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"shoppers": 200, "presets": {"a": 1, "b": 2}, "real": {"x": 3}}))
    merged = merge_presets(path, {"shoppers": 200, "presets": {"b": 5, "c": 6}}, ("shoppers",))
    assert merged == {
        "shoppers": 200,
        "presets": {"a": 1, "b": 5, "c": 6},
        "real": {"x": 3},
        "added": ["b", "c"],
    }
    with pytest.raises(ValueError, match=r"shoppers = 300 differs from the file's 200"):
        merge_presets(path, {"shoppers": 300, "presets": {}}, ("shoppers",))
