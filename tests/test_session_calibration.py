"""Worlds fitted on session logs: the return model's likelihood by hand and its recovery of a
known truth, the method of moments recovering a parameter the simulator itself set, and the
guards of the calibration command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from experiments import calibrate_sessions, fidelity_sessions
from experiments import session_calibration as fitting
from recenv.offline import returns
from recenv.offline.data.sessions import SessionLog

HOUR = 3600.0


def log_of(sessions: list[tuple[int, float, bool]]) -> SessionLog:
    """A log with one view per session (and a buy where flagged): (user, start hour, bought)."""
    rows = []
    for user, start, bought in sessions:
        rows.append((user, 1, 1, "view", int(start * HOUR)))
        if bought:
            rows.append((user, 1, 1, "buy", int(start * HOUR) + 10))
    frame = pd.DataFrame(rows, columns=["user", "item", "category", "event", "timestamp"])
    return SessionLog.from_events(frame)


def test_the_likelihood_by_hand() -> None:
    """User 0: sessions at 0 h (bought) and 10 h; user 1: one session at 5 h. Window: 20 h."""
    log = log_of([(0, 0.0, True), (0, 10.0, False), (1, 5.0, False)])
    terms = returns._terms(returns.session_table(log), 20 * HOUR)
    theta = np.array([0.5, 1.0, np.log(8.0), np.log(0.7)])
    p = lambda bought: 1 / (1 + np.exp(-(0.5 + bought)))  # noqa: E731
    gap = (10 * HOUR - 10) / HOUR  # the buy row ends the first session 10 s after its start
    density = scipy_stats.lognorm.pdf(gap, s=0.7, scale=8.0)
    censored = lambda hours: (1 - p(0)) + p(0) * scipy_stats.lognorm.sf(hours, s=0.7, scale=8.0)  # noqa: E731
    expected = np.log(p(1)) + np.log(density) + np.log(censored(10.0)) + np.log(censored(15.0))
    assert -returns._negative_log_likelihood(theta, *terms) == pytest.approx(expected, rel=1e-9)


def synthetic_returns(p: float, median: float, sigma: float, users: int, hours: float, seed: int):
    rng = np.random.default_rng(seed)
    sessions = []
    for user in range(users):
        clock = rng.uniform(0, hours / 2)
        while clock < hours:
            sessions.append((user, clock, False))
            if rng.random() > p:
                break
            clock += rng.lognormal(np.log(median), sigma)
    return log_of(sessions)


def test_the_fit_recovers_a_known_return_model() -> None:
    log = synthetic_returns(0.8, 6.0, 0.9, users=600, hours=24 * 9, seed=3)
    model = returns.fit_return_model(log, 24 * 9 * HOUR)
    assert model.identified
    assert 1 / (1 + np.exp(-model.bias)) == pytest.approx(0.8, abs=0.04)
    assert model.gap_median_hours == pytest.approx(6.0, rel=0.1)
    assert model.gap_log_std == pytest.approx(0.9, rel=0.1)


def test_a_log_where_nobody_leaves_puts_the_return_probability_at_its_cap() -> None:
    log = synthetic_returns(1.0, 6.0, 0.9, users=300, hours=24 * 4, seed=4)
    model = returns.fit_return_model(log, 24 * 4 * HOUR)
    assert not model.identified and model.as_dict()["return_probability_identified"] is False


def test_sessions_per_shopper_follow_the_model() -> None:
    """With p = 0.5 and no window limit, sessions are geometric: mean 1 / (1 - p) = 2."""
    model = returns.ReturnModel(0.0, 0.0, np.log(5.0), 0.5)
    counts = returns.sessions_per_shopper(model, np.zeros(20_000), np.inf, seed=1)
    assert counts.mean() == pytest.approx(2.0, abs=0.05)


SMALL_WORLD = {
    "preset": "small",
    "slate_size": 5,
    "episode": "shopper",
    "max_visits": 4,
    "shoppers": {"return_bias": 1.0, "return_gap_hours": 6.0},
}


def test_the_method_of_moments_recovers_a_parameter_the_simulator_set() -> None:
    """Moments simulated at cart_bias = -1.5 are the target; a fit starting at -2.5 finds it."""
    truth = fitting.simulated_moments(SMALL_WORLD, {"cart_bias": -1.5}, 300, 9.0, seed=7)
    fit = fitting.fit_browsing(truth, SMALL_WORLD, 300, 9.0, 7, 30, names=["cart_bias"])
    assert fit["values"]["cart_bias"] == pytest.approx(-1.5, abs=0.3)
    assert fit["loss"] < 0.05


def test_moments_and_overrides_by_hand() -> None:
    facts = {
        "facts": {
            name: {"value": value}
            for name, value in {
                "events_per_session": 5.0,
                "cart_per_view": 0.1,
                "purchase_per_view": 0.05,
                "sessions_with_purchase": 0.2,
                "category_switch_rate": 0.4,
            }.items()
        },
        "distributions": {
            "hazard": {"value": [0.3, 0.2, 0.1, 0.1, 0.05]},
            "events_per_session_quantiles": {"q": [0.1, 0.5, 0.9], "value": [1, 3, 9]},
            "events_per_session_histogram": {"value": [0.3, 0.15, 0.2, 0.35]},
        },
    }
    assert fitting.moments(facts) == {
        "events_per_session": 5.0,
        "events_median": 3,
        "short_sessions": pytest.approx(0.45),
        "hazard_1": 0.3,
        "hazard_5": 0.05,
        "cart_per_view": 0.1,
        "purchase_per_view": 0.05,
        "sessions_with_purchase": 0.2,
        "category_switch_rate": 0.4,
    }
    assert fitting.overrides_for({"cart_bias": -1.0, "patience_mean": 2.0}) == {
        "funnel": {"cart_bias": -1.0},
        "shoppers": {"patience_mean": 2.0},
    }


@pytest.mark.parametrize("name", ["default", "../x", "a/b"])
def test_the_calibration_never_overwrites_a_shipped_preset_or_writes_outside(name: str) -> None:
    with pytest.raises(ValueError, match=f"name = '{name}'"):
        calibrate_sessions.calibrate_sessions("unused", name)


def test_fidelity_rows_by_hand() -> None:
    real = {
        "facts": {"cart_per_view": {"value": 0.1, "ci_low": 0.08, "ci_high": 0.12}},
        "distributions": {
            "events_per_session_quantiles": {
                "q": [0.5],
                "value": [3.0],
                "ci_low": [3.0],
                "ci_high": [4.0],
            }
        },
    }
    simulated = {
        "facts": {"cart_per_view": {"value": 0.13}},
        "distributions": {"events_per_session_quantiles": {"q": [0.5], "value": [4.0]}},
    }
    rows = fidelity_sessions.compare(real, simulated)
    assert rows["cart_per_view"]["relative_error"] == pytest.approx(0.3)
    assert rows["cart_per_view"]["inside_real_ci"] is False
    assert rows["events_per_session_median"]["relative_error"] == pytest.approx(1 / 3)
    assert rows["events_per_session_median"]["inside_real_ci"] is True
