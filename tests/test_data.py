"""Real logs: the Open Bandit Dataset loader, the generic loader's errors, the calibrated
scenario and the click model; off-policy estimators on simulated logs. (Fidelity replay:
test_fidelity.py; OPE numbers by hand and the OPE command: test_ope_numbers.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import recenv
from recenv.offline.calibration import fit_click_model, replay_click_probability
from recenv.offline.data import LogValidationError, load_event_log, load_obd
from recenv.sim.calibrated import ClickModel, calibration_path

OBD = Path(__file__).resolve().parents[2] / "shared" / "data" / "obd" / "random"
needs_obd = pytest.mark.skipif(not OBD.is_dir(), reason="../shared/data/obd is not present")


@needs_obd
@pytest.mark.parametrize(("campaign", "n_items", "clicks"), [("all", 80, 38), ("men", 34, 46)])
def test_obd_campaigns_load_with_their_documented_figures(
    campaign: str, n_items: int, clicks: int
) -> None:
    log = load_obd(OBD / campaign)
    assert len(log.frame) == 10_000 and log.n_items == n_items and log.n_positions == 3
    assert int(log.frame["click"].sum()) == clicks
    assert set(log.frame["position"]) == {0, 1, 2}
    assert np.allclose(log.frame["propensity"], 1 / n_items)
    assert log.user_columns == [f"user_feature_{k}" for k in range(4)]
    assert log.report.rows_kept == 10_000 and not log.report.skipped


def write_log(tmp_path: Path, rows: list[dict], suffix: str = ".csv") -> Path:
    path = tmp_path / f"log{suffix}"
    frame = pd.DataFrame(rows)
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    return path


GOOD = [
    {"session": 1, "timestamp": 0, "item": 0, "position": 0, "click": 0, "propensity": 0.5},
    {"session": 1, "timestamp": 0, "item": 1, "position": 1, "click": 1, "propensity": 0.5},
    {"session": 2, "timestamp": 1, "item": 2, "position": 0, "click": 0, "propensity": 0.5},
]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"item": 7}, r"row 1, column 'item' = 7 is an unknown item \(allowed: 0..2\)"),
        ({"position": 5}, r"row 1, column 'position' = 5 is out of range \(allowed: 0..1\)"),
        ({"propensity": 0.0}, r"row 1, column 'propensity' = 0.0 is outside \(0, 1\]"),
        ({"propensity": 1.5}, r"row 1, column 'propensity' = 1.5 is outside \(0, 1\]"),
        ({"click": 3}, r"row 1, column 'click' = 3 is not 0 or 1"),
    ],
)
def test_malformed_rows_name_the_row_and_the_column(
    tmp_path: Path, change: dict, message: str
) -> None:
    rows = [dict(row) for row in GOOD]
    rows[1].update(change)
    with pytest.raises(LogValidationError, match=message):
        load_event_log(write_log(tmp_path, rows), n_items=3, n_positions=2)


def test_missing_columns_and_duplicates_are_reported(tmp_path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "position"} for row in GOOD]
    with pytest.raises(LogValidationError, match=r"missing column\(s\) \['position'\]"):
        load_event_log(write_log(tmp_path, rows), n_items=3, n_positions=2)
    with pytest.raises(LogValidationError, match="row 3, column '\\(all\\)' duplicates"):
        load_event_log(write_log(tmp_path, [*GOOD, GOOD[0]]), n_items=3, n_positions=2)


def test_skipping_bad_rows_counts_every_one(tmp_path: Path) -> None:
    bad = [
        {**GOOD[0], "item": 9},
        {**GOOD[1], "propensity": -1},
        GOOD[2],
        GOOD[2],
    ]
    log = load_event_log(
        write_log(tmp_path, [*GOOD, *bad], ".parquet"), n_items=3, n_positions=2, on_error="skip"
    )
    assert log.report.rows_read == 7 and log.report.rows_kept == 3
    assert sum(log.report.skipped.values()) == 4
    assert "3 rows" not in str(log.report) and "skipped" in str(log.report)


def test_an_event_column_and_renamed_columns_load(tmp_path: Path) -> None:
    rows = [
        {"user": "u1", "ts": 0, "sku": 0, "slot": 1, "event": "view"},
        {"user": "u1", "ts": 1, "sku": 1, "slot": 2, "event": "click"},
    ]
    log = load_event_log(
        write_log(tmp_path, rows),
        columns={"session": "user", "timestamp": "ts", "item": "sku", "position": "slot"},
        position_base=1,
    )
    assert log.frame["click"].tolist() == [0, 1] and log.frame["position"].tolist() == [0, 1]


@needs_obd
def test_the_calibrated_scenario_runs_and_clicks_as_its_click_model_says() -> None:
    config = recenv.make_config("obd_men", expose_hidden_state=True)
    env = recenv.ShoppingVectorEnv(20_000, config=config)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    slates = np.argsort(rng.random((20_000, config.catalog.n_items)), axis=1)[:, :3]
    _, reward, *_ = env.step(slates)
    simulated_ctr = reward.sum() / slates.size
    model = ClickModel.load(calibration_path("obd_men"))
    log = load_obd(OBD / "men")
    predicted = replay_click_probability(config, model, log.frame).mean()
    assert simulated_ctr == pytest.approx(predicted, rel=0.25)  # ~240 clicks simulated
    assert simulated_ctr == pytest.approx(log.frame["click"].mean(), rel=0.4)


@needs_obd
def test_a_mismatched_env_config_is_refused() -> None:
    with pytest.raises(ValueError, match=r"catalog\.n_items = 50 does not match calibration"):
        recenv.ShoppingEnv(config=recenv.make_config("obd_men", catalog={"n_items": 50}))


def test_off_policy_estimates_recover_a_simulated_truth() -> None:
    from recenv.offline.ope_validation import validate

    config = recenv.make_config("small", choice={"no_click_utility": 4.0})
    summary = validate(config, n_impressions=20_000, replicates=3, n_bootstrap=200)
    for estimator in ("ips", "snips", "dr"):
        figures = summary["best_slate"][estimator]
        assert abs(figures["mean_relative_error"]) < 0.2, (estimator, figures)
        assert figures["coverage"] >= 2 / 3, (estimator, figures)


def test_click_model_fits_known_position_effects() -> None:
    rng = np.random.default_rng(0)
    n = 60_000
    position = rng.integers(0, 3, n)
    item = rng.integers(0, 5, n)
    logit = -1.0 + np.array([0.0, -0.7, -1.4])[position] + 0.3 * item
    frame = pd.DataFrame(
        {
            "session": np.arange(n),
            "timestamp": np.arange(n),
            "item": item,
            "position": position,
            "click": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
            "user_x": rng.choice(["a", "b"], n),
        }
    )
    from recenv.offline.data.logs import LoggedImpressions

    log = LoggedImpressions(frame, pd.DataFrame(index=range(5)), 3, "synthetic")
    model = fit_click_model(log, category_feature=None)
    assert model.position == pytest.approx([0.0, -0.7, -1.4], abs=0.1)
    assert np.diff(model.item) == pytest.approx([0.3] * 4, abs=0.1)
