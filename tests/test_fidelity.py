"""Fidelity replay checked against independent numbers: a tiny group by hand, a log drawn
from a known click model, the real log's CTRs recomputed from the fitted coefficients, and
the whole calibrated env under the log's policy against a closed form and the log's CI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import recenv
from experiments.fidelity import fidelity_report, group_figures
from experiments.fidelity_env import category_policy, paired_difference, run_policy
from recenv.offline.calibration import fit_click_model
from recenv.offline.data import load_obd
from recenv.offline.data.synthetic import logistic_click_log
from recenv.sim.calibrated import ClickModel, calibration_path
from recenv.stats import Estimate

OBD = Path(__file__).resolve().parents[2] / "shared" / "data" / "obd" / "random"
needs_obd = pytest.mark.skipif(not OBD.is_dir(), reason="../shared/data/obd is not present")

# The known click model: 12 items, 3 positions, 2 user groups; CTR about 3.5%.
INTERCEPT = -3.0
ITEM_EFFECT = np.linspace(-0.6, 0.6, 12)
POSITION_EFFECT = np.array([0.0, -0.5, -1.0])
USER_EFFECT = np.array([-0.3, 0.3])


def test_group_figures_by_hand() -> None:
    figures = group_figures(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 1.0, 0.0, 1.0]), 0)
    assert figures["rows"] == 4 and figures["clicks"] == 2
    assert figures["predicted_ctr"] == pytest.approx(0.25)  # (0.1 + 0.2 + 0.3 + 0.4) / 4
    assert figures["observed_ctr"] == 0.5  # 2 clicks / 4 rows
    assert figures["relative_error"] == pytest.approx(-0.5)  # 0.25 / 0.5 - 1
    # A resample of the 4 rows has 0..4 clicks with probabilities (1, 4, 6, 4, 1) / 16:
    # 1/16 > 2.5% on each side, so the observed CI is exactly [0, 1], and with no click in
    # 6.25% of the resamples the relative error has no upper bound.
    assert figures["observed_ci"] == [0.0, 1.0]
    assert figures["relative_error_ci"] is None
    assert 0.1 <= figures["predicted_ci"][0] <= 0.25 <= figures["predicted_ci"][1] <= 0.4

    # Every row clicked at predicted 0.5: every resample gives -0.5, a zero-width interval.
    constant = group_figures(np.full(4, 0.5), np.ones(4), 0)
    assert constant["relative_error"] == pytest.approx(-0.5)
    assert constant["relative_error_ci"] == pytest.approx([-0.5, -0.5])
    no_clicks = group_figures(np.full(4, 0.5), np.zeros(4), 0)
    assert no_clicks["relative_error"] is None and no_clicks["relative_error_ci"] is None


def test_replay_of_a_known_click_model_predicts_the_true_ctrs() -> None:
    """Fit on 90,000 rows drawn from the known model, replay 30,000 fresh ones.

    The true CTR of the replayed rows is the mean of their true click probabilities. The
    fitted level at position k is estimated from that position's clicks, so its relative
    standard error is about ``1 / sqrt(clicks_k)``; the tolerance is 4 of them.
    """
    fit_log = logistic_click_log(INTERCEPT, ITEM_EFFECT, POSITION_EFFECT, USER_EFFECT, 30_000, 0)
    replay_log = logistic_click_log(
        INTERCEPT, ITEM_EFFECT, POSITION_EFFECT, USER_EFFECT, 10_000, seed=1
    )
    report = fidelity_report(fit_log, replay_log, items_match=True, seed=0)
    fit, replay = fit_log.frame, replay_log.frame
    fit_clicks = fit.groupby("position")["click"].sum()
    true_ctr = replay.groupby("position")["true_probability"].mean()
    assert report["predicted_ctr"] == pytest.approx(
        replay["true_probability"].mean(), rel=4 / np.sqrt(fit["click"].sum())
    )
    for position in range(3):
        figures = report["per_position"][str(position)]
        assert figures["predicted_ctr"] == pytest.approx(
            true_ctr[position], rel=4 / np.sqrt(fit_clicks[position])
        )
        # The position effect itself: CTR at k relative to the top position.
        ratio = figures["predicted_ctr"] / report["per_position"]["0"]["predicted_ctr"]
        log_ratio_se = np.sqrt(1 / fit_clicks[0] + 1 / fit_clicks[position])
        assert np.log(ratio) == pytest.approx(
            np.log(true_ctr[position] / true_ctr[0]), abs=4 * log_ratio_se
        )
        rows = replay[replay["position"] == position]
        assert figures["rows"] == len(rows) and figures["clicks"] == rows["click"].sum()
        assert figures["observed_ctr"] == pytest.approx(rows["click"].mean())
        assert figures["relative_error"] == pytest.approx(
            figures["predicted_ctr"] / rows["click"].mean() - 1
        )
    assert report["click_model"]["position_effects"] == pytest.approx(POSITION_EFFECT, abs=0.2)


def predicted_by_hand(model, frame, items_match: bool) -> np.ndarray:
    """``sigmoid(b + a_i + g_k + sum_f w_f[x_f])`` per row from the fitted coefficients;
    across catalogs (``items_match=False``) every item gets the mean appeal ``b + mean(a)``."""
    offset = np.zeros(len(frame))
    for name, levels, weights in zip(
        model.user_features, model.user_levels, model.user_weights, strict=True
    ):
        offset += frame[name].map(dict(zip(levels, weights, strict=True))).fillna(0.0).to_numpy()
    item = model.item[frame["item"].to_numpy()] if items_match else model.item.mean()
    logit = model.intercept + item + model.position[frame["position"].to_numpy()] + offset
    return 1.0 / (1.0 + np.exp(-logit))


@needs_obd
def test_fidelity_on_disjoint_halves_and_across_campaigns(tmp_path: Path) -> None:
    from experiments.fidelity import main

    out = tmp_path / "men_halves.json"
    report = main([f"fit={OBD / 'men'}", f"replay={OBD / 'men'}", "split=0.5", f"out={out}"])
    stored = json.loads(out.read_text())
    assert stored == json.loads(json.dumps(report))
    assert set(stored["per_position"]) == {"0", "1", "2"} and stored["per_popularity_decile"]
    assert out.with_suffix(".png").is_file()
    fit_half, replay_half = load_obd(OBD / "men").split(0.5, seed=0)
    predicted = predicted_by_hand(fit_click_model(fit_half), replay_half.frame, True)
    observed = replay_half.frame["click"]
    assert report["predicted_ctr"] == pytest.approx(predicted.mean(), rel=1e-5)
    assert report["observed_ctr"] == pytest.approx(observed.mean())
    assert report["relative_error"] == pytest.approx(
        predicted.mean() / observed.mean() - 1, abs=1e-5
    )
    low, high = stored["overall"]["observed_ci"]
    assert low <= report["predicted_ctr"] <= high  # the halves agree within sampling noise

    across = main([f"fit={OBD / 'men'}", f"replay={OBD / 'women'}", f"out={tmp_path / 'x.json'}"])
    assert not across["items_match"]
    women = load_obd(OBD / "women").frame
    predicted = predicted_by_hand(fit_click_model(load_obd(OBD / "men")), women, False)
    assert across["predicted_ctr"] == pytest.approx(predicted.mean(), rel=1e-5)
    assert across["observed_ctr"] == pytest.approx(women["click"].mean())
    # (absolute: the error is near 0, and the simulator's tables are float32)
    assert across["relative_error"] == pytest.approx(
        predicted.mean() / women["click"].mean() - 1, abs=1e-5
    )


def test_category_policies_by_hand() -> None:
    """Categories 0 and 1 hold 3 items, category 2 one: with slates of 3 only 0 and 1 can
    be shown; repeating keeps a shopper's first category, rotating alternates them."""
    item_category = np.array([0, 0, 0, 1, 1, 1, 2])
    members = {0: {0, 1, 2}, 1: {3, 4, 5}}
    rng = np.random.default_rng(0)
    repeat = category_policy(item_category, 8, 3, rotate=False, seed=3)
    rotate = category_policy(item_category, 8, 3, rotate=True, seed=3)
    first = repeat(0, rng)
    start = item_category[first[:, 0]]
    assert set(start) == {0, 1}  # 8 shoppers: both eligible categories drawn (seed 3)
    for step in range(4):
        for policy, expected in ((repeat, start), (rotate, (start + step) % 2)):
            slates = policy(step, rng)
            for shopper, slate in enumerate(slates):
                assert set(slate.tolist()) == members[expected[shopper]]  # 3 of 3: all
    with pytest.raises(ValueError, match="slate_size = 4: no category has that many items"):
        category_policy(item_category, 8, 4, rotate=False)


@needs_obd
def test_the_logging_policy_through_the_whole_env_clicks_as_the_log(tmp_path: Path) -> None:
    """``env=obd_men`` under uniform random slates for whole visits, every dynamics on.

    Its item spread is estimated at 0, so every item has the same utility and the CTR has a
    closed form: a profile x clicks position k with ``e^{u_k} / (1 + sum_j e^{u_j})``,
    ``u_k = b + a + g_k + offset_x``; the unidentified dynamics are off, so every step of
    every visit clicks so. The simulated CTR must match it within 4 standard errors (one
    Bernoulli click per slate) and lie inside the logged CTR's 95% CI.
    """
    from experiments.fidelity import main

    out = tmp_path / "men_env.json"
    report = main(["mode=env", "env=obd_men", f"replay={OBD / 'men'}", f"out={out}"])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert out.with_suffix(".png").is_file()
    model = ClickModel.load(calibration_path("obd_men"))
    assert np.ptp(model.item) == 0.0
    utility = (
        model.intercept
        + model.item[0]
        + model.position[None, :]
        + model.user_offset(model.profiles)[:, None]
    )  # (profiles, positions)
    share = np.exp(utility) / (1.0 + np.exp(utility).sum(axis=1, keepdims=True))
    expected = float(model.profile_share @ share.mean(axis=1))
    n_slates = report["n_shoppers"] * report["max_steps"]
    assert report["mean_visit_steps"] == report["max_steps"] == 50  # nothing ends a visit
    slate_rate = 3 * expected
    standard_error = np.sqrt(slate_rate * (1 - slate_rate) / n_slates) / 3
    figures = report["logging_policy"]
    assert figures["simulated_ctr"]["mean"] == pytest.approx(expected, abs=4 * standard_error)
    log = load_obd(OBD / "men").frame
    assert figures["logged_ctr"]["mean"] == pytest.approx(log["click"].mean())  # 46 / 10,000
    assert figures["inside_logged_ci"]
    low, high = figures["logged_ctr"]["ci_low"], figures["logged_ctr"]["ci_high"]
    assert low <= figures["simulated_ctr"]["mean"] <= high
    for position in range(3):
        rows = log["position"] == position
        logged = report["per_position"][str(position)]["logged_ctr"]["mean"]
        assert logged == pytest.approx(log.loc[rows, "click"].mean())


@needs_obd
def test_repeating_a_category_clicks_like_rotating_unless_fatigue_is_switched_on() -> None:
    """``env=obd`` (campaign all: items differ, item spread 0.30) for 4,000 shoppers' whole
    visits: the paired difference of the two policies' CTRs has a CI containing 0; with
    the default scenario's fatigue switched back on, repeating one category clicks less."""
    config = recenv.make_config("obd")
    category = recenv.ShoppingVectorEnv(1, config=config).simulator.catalog.category

    def difference(config) -> Estimate:
        runs = [
            run_policy(config, category_policy(category, 4000, 3, rotate, seed=1), 4000, seed=1)
            for rotate in (False, True)
        ]
        return paired_difference(*runs, seed=1)

    calibrated = difference(config)
    assert calibrated.ci_low <= 0.0 <= calibrated.ci_high, calibrated
    fatigue = recenv.make_config(
        "obd", choice={"fatigue_weight": 1.0}, dynamics={"fatigue_per_exposure": 0.35}
    )
    tired = difference(fatigue)
    assert tired.ci_high < 0.0, tired
