"""``experiments.simulate``: the printed and written figures are the metric table's, by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments import simulate
from recenv import make_config


def test_simulate_writes_the_hand_computed_figures(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sim.json"
    figures = simulate.main(
        ["--preset", "small", "--shoppers", "300", "--policy", "random", "--json", str(out)]
    )
    assert json.loads(out.read_text())["return"] == figures["return"]
    result = simulate.simulate_sessions("small", 300, "random", 0)
    sessions = result.sessions
    assert figures["return"]["mean"] == pytest.approx(sessions["return"].mean())
    assert figures["ctr"]["mean"] == pytest.approx(
        sessions["clicks"].sum() / sessions["impressions"].sum()
    )
    assert figures["conversion_rate"]["mean"] == pytest.approx((sessions["purchases"] > 0).mean())
    assert figures["carts"]["mean"] == pytest.approx(sessions["carts"].mean())
    # a session shorter than the horizon can only have ended by patience or budget
    max_steps = make_config("small").max_steps
    early, at_horizon = sessions["steps"] < max_steps, sessions["steps"] == max_steps
    assert early.mean() <= figures["terminated"]["mean"] <= early.mean() + at_horizon.mean()
    assert (sessions["terminated"][early] == 1).all()
    printed = capsys.readouterr().out
    assert f"{figures['return']['mean']:9.4f}" in printed


def test_policies_meet_the_same_shoppers() -> None:
    """Paired by construction: the shoppers' first steps see the same hidden draws."""
    first = simulate.simulate_sessions("small", 50, "myopic", 3)
    again = simulate.simulate_sessions("small", 50, "myopic", 3)
    np.testing.assert_array_equal(first.sessions["return"], again.sessions["return"])


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="policy = 'greedy' is not allowed"):
        simulate.simulate_sessions("small", 10, "greedy", 0)
