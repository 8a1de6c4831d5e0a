"""``experiments.calibrate`` on a log drawn from known coefficients: the fit recovers them,
the written preset loads, and the calibrated env clicks at the rate its model implies."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import recenv
import recenv.config
from experiments.calibrate import PRESET_DIR, main
from recenv.calibration import CALIBRATION_DIR, ClickModel
from recenv.data.synthetic import first_step, logistic_click_log, uniform_slates

INTERCEPT = -3.0
ITEM_EFFECT = np.linspace(-0.6, 0.6, 12)
POSITION_EFFECT = np.array([0.0, -0.5, -1.0])
USER_EFFECT = np.array([-0.3, 0.3])  # levels "u0", "u1"
NAME = "test_known_click_model"


def click_shares(model: ClickModel) -> tuple[float, float]:
    """The CTR per shown item under uniform random slates, by brute force over all 1,320
    ordered slates and both user profiles: as the simulator's multinomial logit shares one
    click among a slate, and as the log's independent logistic clicks per row."""
    slates = np.array(list(itertools.permutations(range(model.n_items), model.n_positions)))
    shared = independent = 0.0
    for profile, share in zip(model.profiles[:, 0], model.profile_share, strict=True):
        utility = (
            model.intercept + model.item[slates] + model.position + model.user_weights[0][profile]
        )
        weight = np.exp(utility)  # (slates, positions); the no-click option has weight e^0
        shared += share * (weight / (1.0 + weight.sum(axis=1, keepdims=True))).mean()
        independent += share * (1.0 / (1.0 + np.exp(-utility))).mean()
    return float(shared), float(independent)


def test_calibrate_recovers_known_coefficients_and_writes_a_working_preset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = logistic_click_log(INTERCEPT, ITEM_EFFECT, POSITION_EFFECT, USER_EFFECT, 30_000, 0)
    frame = log.frame.drop(columns="true_probability")
    frame.to_parquet(tmp_path / f"{NAME}.parquet")
    out = tmp_path / "scenario"
    main([f"data={tmp_path / f'{NAME}.parquet'}", "format=events", f"out={out}"])
    assert sorted(path.name for path in out.iterdir()) == [f"{NAME}.json", f"{NAME}.yaml"]
    assert not (PRESET_DIR / f"{NAME}.yaml").exists()
    assert not (CALIBRATION_DIR / f"{NAME}.json").exists()
    model = ClickModel.load(out / f"{NAME}.json")

    # The standard error of a logit coefficient is about 1 / sqrt(clicks behind it); each
    # tolerance is 4 of them. Item and user effects are identified up to a constant.
    item_clicks = frame.groupby("item")["click"].sum().to_numpy()
    item_error = (model.item - model.item.mean()) - (ITEM_EFFECT - ITEM_EFFECT.mean())
    assert np.all(np.abs(item_error) <= 4 / np.sqrt(item_clicks)), item_error
    position_clicks = frame.groupby("position")["click"].sum().to_numpy()
    position_se = np.sqrt(1 / position_clicks[0] + 1 / position_clicks)
    position_error = model.position - POSITION_EFFECT
    assert np.all(np.abs(position_error) <= 4 * position_se), position_error
    user_clicks = frame.groupby("user_group")["click"].sum().to_numpy()
    assert model.user_levels == (("u0", "u1"),)
    assert model.user_weights[0][1] - model.user_weights[0][0] == pytest.approx(
        USER_EFFECT[1] - USER_EFFECT[0], abs=4 * np.sqrt((1 / user_clicks).sum())
    )
    level = model.intercept + model.item.mean() + model.user_weights[0].mean()
    assert level == pytest.approx(INTERCEPT, abs=4 / np.sqrt(frame["click"].sum()))

    with monkeypatch.context() as patch:  # make_config looks the preset up in PRESET_DIR
        patch.setattr(recenv.config, "PRESET_DIR", out)
        config = recenv.make_config(NAME)
    assert config.calibration == str(out / f"{NAME}.json")
    assert (config.catalog.n_items, config.slate_size, config.shoppers.n_segments) == (12, 3, 2)

    # The calibrated env's first-step CTR under the log's own (uniform random) policy.
    n_shoppers = 100_000
    _, clicked, _ = first_step(config, n_shoppers, 5, uniform_slates(12, 3))
    env_ctr = clicked.mean()
    shared, independent = click_shares(model)
    slate_rate = 3 * shared  # clicks per slate: a Bernoulli draw
    env_se = np.sqrt(slate_rate * (1 - slate_rate) / n_shoppers) / 3
    assert env_ctr == pytest.approx(shared, abs=4 * env_se)
    # The log's rows click independently; the env shares one click per slate, which costs
    # the factor shared / independent (about 1 - 2 * CTR here). Up to that, the rates match.
    log_ctr = frame["click"].mean()
    log_se = np.sqrt(log_ctr * (1 - log_ctr) / len(frame))
    assert 0.9 < shared / independent < 1.0
    assert env_ctr == pytest.approx(
        log_ctr * shared / independent, abs=4 * np.hypot(env_se, log_se)
    )
