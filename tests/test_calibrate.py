"""``experiments.calibrate`` on logs drawn from known coefficients: the fit recovers them and
their spread (empirical Bayes, an interior optimum of the marginal likelihood), the written
preset loads with the unidentified dynamics off, and the calibrated env clicks at the rate
its model implies."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import recenv
import recenv.sim.config
from experiments.calibrate import PRESET_DIR, UNIDENTIFIED, calibrate, main
from recenv.offline.calibration import (
    encode_log,
    fit_click_model,
    held_out_log_likelihood,
)
from recenv.offline.data.synthetic import first_step, logistic_click_log, uniform_slates
from recenv.offline.random_effects import (
    MAX_SPREAD,
    BinomialCells,
    boundary_critical_value,
    fit_random_effects,
    likelihood_ratio,
    profile_interval,
)
from recenv.sim.calibrated import CALIBRATION_DIR, ClickModel

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
        patch.setattr(recenv.sim.config, "PRESET_DIR", out)
        config = recenv.make_config(NAME)
    assert config.calibration == str(out / f"{NAME}.json")
    assert (config.catalog.n_items, config.slate_size, config.shoppers.n_segments) == (12, 3, 2)
    header = (out / f"{NAME}.yaml").read_text()
    for (section, key), (value, _) in UNIDENTIFIED.items():
        assert getattr(getattr(config, section), key) == value  # switched off ...
        assert f"#   {section}.{key} = {value:g}: no " in header  # ... and listed
    assert f"item {model.item_spread:.3f}" in header and model.estimation == "empirical_bayes"

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


def spread_log(item_spread: float, n_impressions: int, seed: int = 0):
    """40 items with effects drawn N(0, item_spread^2) (seed 11), else the known model."""
    effects = np.random.default_rng(11).normal(0.0, item_spread, 40)
    return effects, logistic_click_log(
        INTERCEPT, effects, POSITION_EFFECT, USER_EFFECT, n_impressions, seed
    )


def test_empirical_bayes_recovers_a_known_item_spread_at_an_interior_optimum() -> None:
    """180,000 rows (~9,000 clicks, ~220 per item) from items of spread 0.8: the estimated
    spread's 95% profile interval holds the truth (and the 40 drawn effects' own SD); the
    estimate is a maximum of the marginal likelihood strictly inside [0, MAX_SPREAD]."""
    effects, log = spread_log(0.8, 60_000)
    cells = encode_log(log).cells()
    fit = fit_random_effects(cells)
    low, high = profile_interval(cells, 0, fit)
    assert low <= 0.8 <= high and low <= effects.std() <= high, (low, high)
    assert high - low < 0.5  # informative: 40 items pin the spread to about +-20%
    spread = fit.spreads[0]
    assert 0.0 < low < spread < high < MAX_SPREAD
    for nearby in (0.9 * spread, 1.1 * spread):  # the others re-estimated: the profile
        assert fit_random_effects(cells, fixed={0: nearby}).log_marginal < fit.log_marginal
    assert likelihood_ratio(cells, 0, fit) > 100 * boundary_critical_value()


def test_no_item_spread_is_estimated_near_zero_and_rarely_detected() -> None:
    """Items all alike: the spread is estimated near 0 (its interval well below the 0.8 of
    the test above), and over 40 such logs the likelihood-ratio test at 5% finds item
    effects in at most 6 (P(>= 7 of 40) = 1.4% for a test of size 5%)."""
    _, log = spread_log(0.0, 60_000)
    cells = encode_log(log).cells()
    fit = fit_random_effects(cells)
    low, high = profile_interval(cells, 0, fit)
    assert fit.spreads[0] < 0.1 and high < 0.15, (fit.spreads, low, high)
    assert np.abs(fit.effects[0]).max() < 0.15  # (a spread of 0.8 puts them beyond +-1)
    rejections = sum(
        likelihood_ratio(encode_log(spread_log(0.0, 5_000, seed)[1]).cells(), 0)
        > boundary_critical_value(0.05)
        for seed in range(40)
    )
    assert rejections <= 6, rejections


def test_a_fixed_penalty_is_scikit_learns_l2_logistic_regression() -> None:
    """``cs=(C,)`` fixes every spread at sqrt(C): the same objective as scikit-learn's L2
    ``LogisticRegression(C)`` on one-hot codes, hence the same coefficients."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    log = logistic_click_log(INTERCEPT, ITEM_EFFECT, POSITION_EFFECT, USER_EFFECT, 5_000, 0)
    model = fit_click_model(log, category_feature=None, cs=(0.5,))
    assert model.spreads == pytest.approx([np.sqrt(0.5)] * 3) and model.estimation == "fixed"
    encoded = encode_log(log)
    one_hot = OneHotEncoder(categories=[np.arange(size) for size in encoded.sizes])
    reference = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000)
    reference.fit(one_hot.fit_transform(encoded.codes), encoded.clicks)
    item, position, user = np.split(reference.coef_[0], [12, 15])
    assert model.item == pytest.approx(item, abs=1e-5)
    assert model.position == pytest.approx(position - position[0], abs=1e-5)
    assert model.user_weights[0] == pytest.approx(user, abs=1e-5)
    assert model.intercept == pytest.approx(reference.intercept_[0] + position[0], abs=1e-5)


def test_held_out_log_likelihood_gains_what_the_true_model_gains() -> None:
    """Out of fold, the fitted model beats the constant CTR by about what the true click
    probabilities do (minus a small cost of estimating ~50 effects on 144,000 rows)."""
    _, log = spread_log(0.8, 60_000)
    model, constant = held_out_log_likelihood(encode_log(log), seed=0)
    frame = log.frame
    truth = frame["true_probability"].to_numpy()
    clicked = frame["click"].to_numpy() == 1
    rate = clicked.mean()
    oracle_gain = np.mean(np.log(np.where(clicked, truth / rate, (1 - truth) / (1 - rate))))
    gain = np.mean(model - constant)
    assert oracle_gain > 0.01  # the items matter: ~0.02 nats per row
    assert gain == pytest.approx(oracle_gain, rel=0.1)
    fold_rates = np.exp(constant[clicked])  # each held-out click scored by its folds' CTR
    assert fold_rates == pytest.approx(rate, rel=0.05)


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    log = logistic_click_log(INTERCEPT, ITEM_EFFECT, POSITION_EFFECT, USER_EFFECT, 1_000, 0)
    with pytest.raises(ValueError, match=r"cs = \(0.0,\); allowed: None, or inverse L2"):
        fit_click_model(log, cs=(0.0,))
    with pytest.raises(ValueError, match=r"codes\[:, 1\] holds 3; allowed: 0..2"):
        BinomialCells.from_rows(np.array([[0, 3]]), np.array([1]), (2, 3))
    cells = encode_log(log).cells()
    with pytest.raises(ValueError, match=r"spreads = \[1.0\]; allowed: 3 values >= 0"):
        fit_random_effects(cells, spreads=np.array([1.0]))
    with pytest.raises(ValueError, match=r"fixed = \{5: 0.0\}; allowed: factors 0..2"):
        fit_random_effects(cells, fixed={5: 0.0})
    with pytest.raises(ValueError, match=r"kind = 'sessions' is not allowed; choose one of"):
        calibrate(tmp_path, kind="sessions")
    old = tmp_path / "old.json"
    old.write_text('{"kind": "click_model", "regularisation": 0.001}')
    with pytest.raises(ValueError, match=r"has no 'spreads'.*experiments\.calibrate"):
        ClickModel.load(old)
    # chi2_1's 90% quantile: the 5% critical value of the chi2_0 / 2 + chi2_1 / 2 mixture
    assert boundary_critical_value(0.05) == pytest.approx(2.7055, abs=1e-4)
