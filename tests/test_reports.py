"""Reports show the numbers of the metric table: results.json, report.md and TensorBoard agree
on hand-computed values; the benchmark main job and compare run end to end on a tiny budget."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.evaluation import EvaluationResult
from experiments.benchmark import run as benchmark
from experiments.compare import run as compare
from experiments.factory import compose_config
from experiments.report import find_runs, write_report
from experiments.tracking import TensorBoardLogger
from experiments.train import new_trainer_state, record_evaluation, run_results, write_run_outputs
from recenv import metrics

TINY = [
    "train.total_steps=2000",
    "train.n_envs=16",
    "eval.n_shoppers=64",
    "eval.interval_shoppers=32",
]

# Four hand-made sessions on a 6-item catalog (3 categories of 2 items; items 0 and 1 are
# the head, the top 20% of 6 items by rank).
CATEGORY = np.array([0, 0, 1, 1, 2, 2])
RANK = np.arange(6)
RAW = {
    "return": np.array([2.0, 0.0, 4.0, 6.0]),
    "steps": np.array([2.0, 1.0, 2.0, 3.0]),
    "clicks": np.array([1.0, 0.0, 1.0, 2.0]),
    "revenue": np.array([1.0, 0.0, 0.0, 5.0]),
    "purchases": np.array([1.0, 0.0, 0.0, 1.0]),
    "items": np.array([[0, 1, -1], [2, -1, -1], [2, 4, -1], [5, 5, 3]]),
    "new_clicks": np.array([0.0, 0.0, 0.0, 1.0]),  # items 4 and 5 are released late
}
RELEASE = np.array([0, 0, 0, 0, 2, 2])
HAND = {  # computed by hand from RAW
    "return": 12 / 4,
    "ctr": 4 / 8,  # 4 clicks over 8 impressions (not the mean of the session ratios: 0.5417)
    "conversion_rate": 2 / 4,
    "revenue": 6 / 4,
    "session_length": 8 / 4,
    "intra_list_diversity": (0 + 0 + 1 + 2 / 3) / 4,  # same / none / different / 4 of 6 pairs
    "long_tail_share": 6 / 8,  # 2, 2, 4, 5, 5, 3 are outside the head
    "new_item_share": 3 / 8,  # 4, 5, 5
    "new_item_ctr": 1 / 3,
    "coverage": 6 / 6,  # every item 0..5 was shown at least once
}
SCALES = (1.0, 2.0, 3.0, 10.0)  # four seeds of "handmade": returns scaled by these


def handmade_run(folder: Path, agent: str, seed: int, scale: float, role: str) -> None:
    """A run folder written by the harness's own writers from hand-made sessions."""
    sessions = metrics.session_table(
        {**RAW, "return": RAW["return"] * scale}, CATEGORY, RANK, 3, RELEASE
    )
    result = EvaluationResult(sessions=sessions, n_items=6, seed=123_456)
    result.summary = metrics.summarise([sessions], 6)
    cfg = compose_config(["env=small", f"seed={seed}", "eval.n_shoppers=4"])
    results = run_results(cfg, agent, new_trainer_state(), result)
    results["agent_role"] = role
    folder.mkdir(parents=True)
    logger = TensorBoardLogger(folder)
    record_evaluation(logger, result, 100)
    write_run_outputs(folder, results, result, logger, {"agent": agent})
    logger.close()


@pytest.fixture(scope="module")
def handmade(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("handmade")
    for seed, scale in enumerate(SCALES):
        handmade_run(root / f"handmade_{seed}", "handmade", seed, scale, "learner")
    handmade_run(root / "random_0", "random", 0, 0.5, "baseline")
    handmade_run(root / "oracle_0", "oracle", 0, 20.0, "oracle")
    return root


def tensorboard_scalars(folder: Path) -> dict[str, float]:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: accumulator.Scalars(tag)[-1].value for tag in accumulator.Tags()["scalars"]}


def report_cells(report: str, section: str, agent: str) -> dict[str, str]:
    """The cells of ``agent``'s row in the table under the heading starting with ``section``."""
    block = report.split(f"## {section}")[1].split("\n## ")[0]
    header = next(line for line in block.splitlines() if line.startswith("| agent"))
    row = next(line for line in block.splitlines() if line.startswith(f"| {agent} |"))
    names = [cell.strip() for cell in header.strip("|").split("|")]
    return dict(zip(names, [cell.strip() for cell in row.strip("|").split("|")], strict=True))


def test_results_json_and_tensorboard_show_the_hand_computed_metrics(handmade: Path) -> None:
    folder = handmade / "handmade_0"
    stored = json.loads((folder / "results.json").read_text())
    logged = tensorboard_scalars(folder)
    for name, expected in HAND.items():
        assert stored["metrics"][name]["mean"] == pytest.approx(expected), name
        assert logged[f"eval/{name}"] == pytest.approx(expected, rel=1e-6), name  # float32
    assert (
        stored["metric_definitions"]["ctr"]["aggregation"] == "ratio of sums: clicks / impressions"
    )


def test_report_shows_the_hand_computed_metrics(handmade: Path, tmp_path: Path) -> None:
    report = write_report([handmade], tmp_path, reference="handmade").read_text()
    mean_of_seeds = {
        name: expected * (np.mean(SCALES) if name == "return" else 1.0)
        for name, expected in HAND.items()
    }
    cells = report_cells(report, "Mean over runs", "handmade")
    assert cells["runs"] == "4"
    for name, expected in mean_of_seeds.items():
        assert cells[name].split(" [")[0] == f"{expected:.4g}", name
    # IQM over the four runs' returns 3, 6, 9, 30: the mean of the middle two
    iqm = report_cells(report, "IQM over runs", "handmade")
    assert iqm["return"].split(" [")[0] == f"{(6 + 9) / 2:.4g}"
    # normalised: (mean - random) / (oracle - random) = (12 - 1.5) / (60 - 1.5)
    assert cells["normalised return"] == f"{(12 - 1.5) / (60 - 1.5):.3f}"
    summary = pd.read_csv(tmp_path / "summary.csv").set_index(["agent", "metric"])
    for name, expected in mean_of_seeds.items():
        assert summary.loc[("handmade", name), "mean"] == pytest.approx(expected), name
    # paired: handmade - random on the same shoppers, seeds paired (random reused):
    # mean over seeds of 3 * (scale - 0.5) = 3 * (4 - 0.5)
    paired = re.search(r"\| handmade - random \| ([+-][\d.]+) \|", report)
    assert paired and float(paired.group(1)) == pytest.approx(3 * (np.mean(SCALES) - 0.5), 1e-3)


def test_two_level_interval_covers_the_spread_of_seeds(handmade: Path, tmp_path: Path) -> None:
    """Seed returns 3, 6, 9, 30 with every shopper identical up to scale: a resample of
    seeds alone spans at least [3, 30] / 4 draws' means: far wider than shoppers alone."""
    write_report([handmade], tmp_path)
    summary = pd.read_csv(tmp_path / "summary.csv").set_index(["agent", "metric"])
    row = summary.loc[("handmade", "return")]
    assert row.mean_low <= 6.0 and row.mean_high >= 20.0


@pytest.fixture(scope="module")
def benchmark_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("benchmark")
    benchmark(
        [
            "--env",
            "small",
            "--agents",
            "random",
            "popularity",
            "dqn",
            "myopic_oracle",
            "--seeds",
            "0",
            "1",
            "--out",
            str(out),
            "--jobs",
            "2",
            "--",
            *TINY,
            "train.eval_interval=500",
        ]
    )
    return out


def test_the_benchmark_report_reads_the_runs_it_made(benchmark_folder: Path) -> None:
    report = (benchmark_folder / "report.md").read_text()
    runs = find_runs([benchmark_folder / "runs"])
    dqn = [run for run in runs if run.agent == "dqn"]
    expected = np.mean([run.results["metrics"]["return"]["mean"] for run in dqn])
    cells = report_cells(report, "Mean over runs", "dqn")
    assert cells["return"].split(" [")[0] == f"{expected:.4g}"
    budget = report_cells(report, "Budget", "dqn")
    training = np.mean([run.results["budget"]["training_shopper_steps"] for run in dqn])
    assert budget["training shopper-steps"] == f"{training:,.0f}"
    assert "dqn - random" in report
    assert f"tensorboard --logdir {benchmark_folder / 'runs'}" in report
    curves_of = {run.agent: len(run.results["evaluations"]) for run in runs}
    assert curves_of["dqn"] >= 3 and curves_of["popularity"] >= 3  # learning curves have points


def test_a_second_benchmark_into_the_same_folder_is_refused_before_any_run(
    tmp_path: Path,
) -> None:
    out = tmp_path / "bench"
    (out / "runs" / "agent=random,seed=0").mkdir(parents=True)
    (out / "report.md").write_text("earlier report")
    arguments = ["--env", "small", "--agents", "random", "--seeds", "0", "--out", str(out)]
    with pytest.raises(SystemExit, match=f"{out} already holds a benchmark; pass --overwrite"):
        benchmark(arguments)
    assert (out / "report.md").read_text() == "earlier report"  # untouched
    benchmark([*arguments, "--overwrite", "--", *TINY])
    (aside,) = tmp_path.glob("bench.replaced-*")
    assert (aside / "report.md").read_text() == "earlier report"  # moved, not deleted
    assert (aside / "runs" / "agent=random,seed=0").is_dir()
    assert "earlier report" not in (out / "report.md").read_text()


def test_compare_rebuilds_the_report_from_finished_runs(benchmark_folder: Path, tmp_path: Path):
    runs = find_runs([benchmark_folder / "runs"])
    assert sorted({run.agent for run in runs}) == ["dqn", "myopic_oracle", "popularity", "random"]
    report = compare(
        [str(benchmark_folder / "runs"), "--out", str(tmp_path), "--reference", "random"]
    )
    assert "random - dqn" in report.read_text()
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        compare([str(tmp_path / "missing")])
