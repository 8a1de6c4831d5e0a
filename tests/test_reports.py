"""The benchmark main job and comparison reports, on a tiny budget."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.benchmark import run as benchmark
from experiments.compare import run as compare
from experiments.report import find_runs, interquartile_mean, stratified_interval

TINY = [
    "train.total_steps=2000",
    "train.n_envs=16",
    "eval.n_shoppers=64",
    "eval.interval_shoppers=32",
]


@pytest.fixture(scope="module")
def benchmark_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("benchmark")
    benchmark(
        [
            "--env",
            "small",
            "--agents",
            "random",
            "dqn",
            "--seeds",
            "0",
            "1",
            "--out",
            str(out),
            "--jobs",
            "2",
            "--",
            *TINY,
        ]
    )
    return out


def test_the_benchmark_writes_a_report_with_tables_plots_and_the_tensorboard_command(
    benchmark_folder: Path,
) -> None:
    report = (benchmark_folder / "report.md").read_text()
    assert "## Mean, 95% stratified-bootstrap CI" in report and "## IQM" in report
    assert "| dqn | 2 |" in report and "| random | 2 |" in report
    assert "dqn - random" in report
    assert f"tensorboard --logdir {benchmark_folder / 'runs'}" in report
    for image in ("learning_curves.png", "returns.png"):
        assert (benchmark_folder / image).stat().st_size > 1000
    summary = pd.read_csv(benchmark_folder / "summary.csv")
    row = summary[(summary.agent == "dqn") & (summary.metric == "return")].iloc[0]
    assert row.mean_low <= row["mean"] <= row.mean_high
    assert row.iqm_low <= row.iqm <= row.iqm_high


def test_compare_rebuilds_the_report_from_finished_runs(benchmark_folder: Path, tmp_path: Path):
    runs = find_runs([benchmark_folder / "runs"])
    assert sorted({run.agent for run in runs}) == ["dqn", "random"] and len(runs) == 4
    report = compare(
        [str(benchmark_folder / "runs"), "--out", str(tmp_path), "--reference", "random"]
    )
    assert "random - dqn" in report.read_text()
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        compare([str(tmp_path / "missing")])


def test_interquartile_mean_and_stratified_interval() -> None:
    import numpy as np

    values = np.array([0.0, 1, 2, 3, 4, 5, 6, 100])
    assert interquartile_mean(values) == pytest.approx(3.5)  # mean of 2, 3, 4, 5
    point, low, high = stratified_interval([values, values + 1], np.mean, np.random.default_rng(0))
    assert low <= point <= high
