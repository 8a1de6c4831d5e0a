"""The sensitivity grid: cells from the knob table, the per-cell figures, the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.evaluation import EvaluationResult, evaluate, pooled_estimate
from experiments import sensitivity
from experiments.factory import build_agent, compose_config, env_config_from, training_env
from experiments.sensitivity import Cell, Knob, Study
from recenv.stats import Estimate

SMALL = ("env=small", "eval.n_shoppers=200")
TINY_AGENTS = ("random", "myopic_oracle", "custom_example")
BUDGET_SCALE = 0.02  # custom_example: 2% of its preset's 50,000 steps = 1,000 logged steps


def test_default_knobs_give_off_half_and_double_of_the_composed_base() -> None:
    env = compose_config(list(SMALL)).env
    # the small preset keeps the EnvConfig defaults of these fields (by hand, x0.5 and x2):
    assert env.catalog.clickbait_fraction == 0.1  # 0.05, 0.2
    assert env.dynamics.boredom == 0.08  # 0.04, 0.16
    assert env.dynamics.fatigue_per_exposure == 0.35  # 0.175, 0.7
    assert env.dynamics.patience_per_quality == 0.08  # 0.04, 0.16
    assert env.dynamics.taste_drift_purchase == 0.2  # 0.1, 0.4
    cells = sensitivity.one_at_a_time_grid(sensitivity.KNOBS, SMALL, log=lambda _: None)
    expected = {"base": ()}
    for name, path, values in (
        ("clickbait", "catalog.clickbait_fraction", ("0.0", "0.05", "0.2")),
        ("boredom", "dynamics.boredom", ("0.0", "0.04", "0.16")),
        ("fatigue", "dynamics.fatigue_per_exposure", ("0.0", "0.175", "0.7")),
        ("patience_per_quality", "dynamics.patience_per_quality", ("0.0", "0.04", "0.16")),
        ("taste_drift", "dynamics.taste_drift_purchase", ("0.0", "0.1", "0.4")),
    ):
        for level, value in zip(("off", "x0.5", "x2"), values, strict=True):
            expected[f"{name}={level}"] = (f"env.{path}={value}",)
    # mechanisms off in the preset use their 'on' strength; satiation x2 (1.0) leaves [0, 0.99]
    for name, path, levels in (
        ("satiation", "dynamics.satiation", {"on": "0.5", "x0.5": "0.25"}),
        ("complements", "dynamics.complement_boost", {"on": "0.5", "x0.5": "0.25", "x2": "1.0"}),
        ("budget_carry", "shoppers.budget_refill", {"on": "0.4", "x0.5": "0.2", "x2": "0.8"}),
        ("returning", "episode", {"on": "shopper"}),
        ("taste_spread", "shoppers.taste_noise", {"off": "0.0", "x0.5": "0.25", "x2": "1.0"}),
    ):
        for level, value in levels.items():
            expected[f"{name}={level}"] = (f"env.{path}={value}",)
    assert {cell.name: cell.overrides for cell in cells} == expected
    assert [cell.name for cell in cells][:4] == [
        "base",
        "clickbait=off",
        "clickbait=x0.5",
        "clickbait=x2",
    ]


def test_absent_off_and_out_of_range_knobs_are_skipped_with_a_note() -> None:
    notes: list[str] = []
    knobs = (
        Knob("satiation", "dynamics.need_satiation"),  # not (yet) in the config
        Knob("intent", "shoppers.intent_probability", on=0.4),  # off in the preset: scale 'on'
        Knob("clickbait", "catalog.clickbait_fraction"),
    )
    # with clickbait at 0.6 in every cell, doubling it (1.2) leaves [0, 1]
    overrides = (*SMALL, "env.catalog.clickbait_fraction=0.6")
    cells = sensitivity.one_at_a_time_grid(knobs, overrides, log=notes.append)
    assert {cell.name: cell.overrides for cell in cells} == {
        "base": (),
        "intent=on": ("env.shoppers.intent_probability=0.4",),
        "intent=x0.5": ("env.shoppers.intent_probability=0.2",),
        "intent=x2": ("env.shoppers.intent_probability=0.8",),
        "clickbait=off": ("env.catalog.clickbait_fraction=0.0",),
        "clickbait=x0.5": ("env.catalog.clickbait_fraction=0.3",),
    }
    assert any("satiation" in note and "not in this config" in note for note in notes)
    assert any("clickbait=x2" in note and "clickbait_fraction" in note for note in notes)
    switches = (
        Knob("embeddings", "catalog.observable_embeddings", off=False),  # a flag, off here
        Knob("count", "funnel.purchase_reward", off="revenue", on="count"),  # a named choice
    )
    cells = sensitivity.one_at_a_time_grid(switches, SMALL, log=notes.append)
    assert {cell.name: cell.overrides for cell in cells} == {
        "base": (),
        "embeddings=on": ("env.catalog.observable_embeddings=true",),
        "count=on": ("env.funnel.purchase_reward=count",),
    }
    without_on = sensitivity.one_at_a_time_grid(
        (Knob("intent", "shoppers.intent_probability"),), SMALL, log=notes.append
    )
    assert [cell.name for cell in without_on] == ["base"]


def test_factorial_crosses_on_and_off() -> None:
    knobs = sensitivity.select_knobs(["clickbait", "dynamics.boredom"])
    cells = sensitivity.factorial_grid(knobs, SMALL, log=lambda _: None)
    assert {cell.name: cell.overrides for cell in cells} == {
        "clickbait=on, boredom=on": (
            "env.catalog.clickbait_fraction=0.1",
            "env.dynamics.boredom=0.08",
        ),
        "clickbait=on, boredom=off": (
            "env.catalog.clickbait_fraction=0.1",
            "env.dynamics.boredom=0.0",
        ),
        "clickbait=off, boredom=on": (
            "env.catalog.clickbait_fraction=0.0",
            "env.dynamics.boredom=0.08",
        ),
        "clickbait=off, boredom=off": (
            "env.catalog.clickbait_fraction=0.0",
            "env.dynamics.boredom=0.0",
        ),
    }


def test_bad_options_name_the_value_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"knob = 'nope'.*clickbait"):
        sensitivity.select_knobs(["nope"])
    with pytest.raises(ValueError, match=r"agent = 'nope'.*myopic_oracle"):
        sensitivity.resolve_agents(["nope"])
    with pytest.raises(ValueError, match=r"env = 'nope'.*small"):
        sensitivity.main(["--env", "nope", "--dry-run"])
    with pytest.raises(ValueError, match=r"seeds = \[1, 1\]"):
        Study(cells=(Cell("base"),), agents=("random",), seeds=(1, 1))
    assert sensitivity.resolve_agents(["custom_example"]) == ["random", "custom_example"]


def _result(returns: list[float]) -> EvaluationResult:
    values = np.asarray(returns, dtype=float)
    return EvaluationResult(
        sessions={"return": values},
        n_items=10,
        seed=0,
        summary={"return": Estimate(float(values.mean()), 0.0, 0.0)},
    )


def test_cell_summary_normalises_orders_and_tests_paired_differences() -> None:
    shift = np.linspace(-0.1, 0.1, 50)  # every agent meets the same 50 shoppers
    means = {
        "random": 1.0,
        "custom_example": 2.0,
        "myopic_oracle": 3.0,
        "long_term_oracle": 5.0,
        "dqn": 4.0,
    }
    roles = {
        "random": "baseline",
        "custom_example": "baseline",
        "myopic_oracle": "oracle",
        "long_term_oracle": "oracle",
        "dqn": "learner",
    }
    results = {name: [_result(list(mean + shift))] * 2 for name, mean in means.items()}
    summary = sensitivity.summarise_cell(results, roles)
    normalised = {name: figures["normalised"] for name, figures in summary["agents"].items()}
    # (mean - 1) / (5 - 1): random 0, custom 0.25, myopic 0.5, dqn 0.75, long-term 1
    assert normalised == pytest.approx(
        {
            "random": 0,
            "custom_example": 0.25,
            "myopic_oracle": 0.5,
            "dqn": 0.75,
            "long_term_oracle": 1,
        }
    )
    assert summary["ordering"] == [
        "long_term_oracle",
        "dqn",
        "myopic_oracle",
        "custom_example",
        "random",
    ]
    assert summary["best_baseline"] == "custom_example"
    assert summary["best_oracle"] == "long_term_oracle"
    # identical per-shopper shifts: each paired difference is a constant, its CI a point
    assert summary["differences"]["dqn - best_baseline"]["mean"] == pytest.approx(2.0)
    assert summary["differences"]["dqn - myopic_oracle"]["ci_low"] == pytest.approx(1.0)
    assert summary["differences"]["best_oracle - myopic_oracle"]["mean"] == pytest.approx(2.0)
    assert summary["dqn_beats_best_baseline"] is True
    assert summary["long_term_gap"] is True

    results["dqn"] = results["custom_example"]  # no better than the best baseline
    results["long_term_oracle"] = results["myopic_oracle"]
    summary = sensitivity.summarise_cell(results, roles)
    assert summary["dqn_beats_best_baseline"] is False
    assert summary["long_term_gap"] is False
    del results["dqn"], results["long_term_oracle"]
    summary = sensitivity.summarise_cell(results, roles)
    assert summary["dqn_beats_best_baseline"] is None  # nothing to test without the agents
    assert summary["long_term_gap"] is None


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, single_torch_thread: None) -> Path:
    """The command line on the small preset: 3 agents, 2 seeds, one knob (4 cells)."""
    out = tmp_path_factory.mktemp("sensitivity")
    sensitivity.main(
        [
            "--env", "small",
            "--seeds", "0", "1",
            "--agents", *TINY_AGENTS,
            "--knobs", "clickbait",
            "--budget-scale", str(BUDGET_SCALE),
            "--out", str(out),
            *SMALL[1:],
        ]
    )  # fmt: skip
    return out


def test_tiny_run_writes_the_three_outputs(tiny_run: Path) -> None:
    report = json.loads((tiny_run / "sensitivity.json").read_text())
    assert report["complete"] is True
    assert report["settings"]["seeds"] == [0, 1]
    assert report["settings"]["overrides"] == list(SMALL)
    assert report["settings"]["budget_steps"] == {
        "random": 0, "myopic_oracle": 0, "custom_example": 1000
    }  # fmt: skip
    names = [cell["name"] for cell in report["cells"]]
    assert names == ["base", "clickbait=off", "clickbait=x0.5", "clickbait=x2"]
    assert report["cells"][1]["overrides"] == ["env.catalog.clickbait_fraction=0.0"]
    table = (tiny_run / "sensitivity.md").read_text()
    assert "| cell | random | myopic_oracle | custom_example |" in table
    for name in names:
        assert f"| {name} | 0.00 | 1.00 |" in table  # random scores 0, the only oracle 1
    assert (tiny_run / "sensitivity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tiny_run_scores_random_0_and_the_best_oracle_1(tiny_run: Path) -> None:
    report = json.loads((tiny_run / "sensitivity.json").read_text())
    for cell in report["cells"]:
        agents = cell["agents"]
        assert cell["best_oracle"] == "myopic_oracle"
        assert agents["random"]["normalised"] == 0.0
        assert agents["myopic_oracle"]["normalised"] == pytest.approx(1.0, abs=1e-12)
        assert agents["myopic_oracle"]["seed_free"] is True
        assert cell["dqn_beats_best_baseline"] is None  # dqn did not run


def test_tiny_run_means_are_the_pooled_estimates_of_the_runs(
    tiny_run: Path, single_torch_thread: None
) -> None:
    report = json.loads((tiny_run / "sensitivity.json").read_text())
    cell = next(cell for cell in report["cells"] if cell["name"] == "clickbait=off")
    for name in TINY_AGENTS:
        results = []
        for seed in (0, 1):  # rebuilt and retrained here, without the module's helpers
            cfg = compose_config([*SMALL, *cell["overrides"], f"agent={name}", f"seed={seed}"])
            env_config = env_config_from(cfg)
            agent = build_agent(cfg, env_config)
            if cfg.train.total_steps > 0:
                agent.learn(training_env(cfg, env_config), round(cfg.train.total_steps * 0.02))
            results.append(evaluate(agent, env_config, 200, int(cfg.eval.seed)))
        expected = pooled_estimate(results)
        stored = cell["agents"][name]
        assert (stored["mean"], stored["ci_low"], stored["ci_high"]) == pytest.approx(
            (expected.mean, expected.ci_low, expected.ci_high), rel=1e-12
        )


def _one_cell_study() -> Study:
    return Study(cells=(Cell("base"),), agents=("random",), seeds=(0,), overrides=SMALL)


def test_an_existing_run_is_kept_unless_overwrite_or_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = lambda _: None  # noqa: E731
    sensitivity.run_study(_one_cell_study(), tmp_path, log=quiet)
    written = (tmp_path / "sensitivity.json").read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite"):
        sensitivity.run_study(_one_cell_study(), tmp_path, log=quiet)
    with pytest.raises(FileExistsError, match="--overwrite"):
        sensitivity.main(
            ["--env", "small", "--agents", "random", "--knobs", "clickbait", "--out",
             str(tmp_path), "eval.n_shoppers=200"]
        )  # fmt: skip
    assert (tmp_path / "sensitivity.json").read_bytes() == written

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished cell was run again")

    with monkeypatch.context() as patched:
        patched.setattr(sensitivity, "train_and_evaluate", no_training)
        resumed = sensitivity.run_study(_one_cell_study(), tmp_path, resume=True, log=quiet)
    assert resumed["cells"] == json.loads(written)["cells"]
    other = Study(cells=(Cell("base"),), agents=("random",), seeds=(1,), overrides=SMALL)
    with pytest.raises(ValueError, match=r"differ in \['seeds'\]"):
        sensitivity.run_study(other, tmp_path, resume=True, log=quiet)
    report = sensitivity.run_study(other, tmp_path, overwrite=True, log=quiet)
    assert json.loads((tmp_path / "sensitivity.json").read_text())["settings"]["seeds"] == [1]
    assert report["settings"]["seeds"] == [1]
