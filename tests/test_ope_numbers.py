"""Off-policy estimates checked against numbers computed independently: by hand on a
five-row log, by the textbook formulas in numpy on the real log, and against a simulated
policy's true CTR."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments.factory import build_agent, compose_config, env_config_from, training_env
from experiments.ope import agent_policy, evaluate_off_policy
from recenv.offline.calibration import fit_click_model
from recenv.offline.data import load_obd
from recenv.offline.data.synthetic import first_step_ctr, simulate_log
from recenv.offline.ope import epsilon_greedy_slate_target, off_policy_estimates

OBD = Path(__file__).resolve().parents[2] / "shared" / "data" / "obd" / "random"
needs_obd = pytest.mark.skipif(not OBD.is_dir(), reason="../shared/data/obd is not present")

# Five logged rows over three items. The target is the same on every row,
# pi = [0.6, 0.3, 0.1], and so is the reward model, q = [0.5, 0.2, 0.1].
ITEM = np.array([0, 1, 2, 0, 1])
PROPENSITY = np.array([0.5, 0.25, 0.25, 0.5, 0.2])
CLICK = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
TARGET = np.tile([0.6, 0.3, 0.1], (5, 1))
REWARD_MODEL = np.tile([0.5, 0.2, 0.1], (5, 1))


def test_the_four_estimators_on_a_five_row_log_by_hand() -> None:
    estimates = off_policy_estimates(CLICK, ITEM, PROPENSITY, TARGET, REWARD_MODEL)
    # w = pi[item] / propensity = [0.6/0.5, 0.3/0.25, 0.1/0.25, 0.6/0.5, 0.3/0.2]
    #   = [1.2, 1.2, 0.4, 1.2, 1.5];  w * click = [1.2, 0, 0.4, 0, 1.5], sum 3.1
    assert estimates["ips"].value == pytest.approx(3.1 / 5)  # 0.62
    assert estimates["snips"].value == pytest.approx(3.1 / 5.5)  # sum(w) = 5.5
    # DM = sum_j pi_j q_j = 0.6 * 0.5 + 0.3 * 0.2 + 0.1 * 0.1 = 0.37 on every row
    assert estimates["dm"].value == pytest.approx(0.37)
    # click - q[item] = [0.5, -0.2, 0.9, -0.5, 0.8]; times w: [0.6, -0.24, 0.36, -0.6, 1.2]
    assert estimates["dr"].value == pytest.approx(0.37 + 1.32 / 5)  # 0.634
    for estimate in estimates.values():
        assert estimate.ci_low <= estimate.value <= estimate.ci_high
    # Without a reward model only the importance-weighted estimators are defined.
    assert set(off_policy_estimates(CLICK, ITEM, PROPENSITY, TARGET)) == {"ips", "snips"}


def test_the_bootstrap_interval_of_a_two_row_log_by_hand() -> None:
    # IPS terms w * click = [0, 2]: a resample's mean is 0, 1 or 2 with probabilities
    # 1/4, 1/2, 1/4, so the 2.5% and 97.5% percentiles are exactly 0 and 2.
    two = off_policy_estimates(
        np.array([0.0, 1.0]), np.array([0, 0]), np.full(2, 0.5), np.tile([1.0, 0.0], (2, 1))
    )["ips"]
    assert (two.value, two.ci_low, two.ci_high) == (1.0, 0.0, 2.0)
    # Every row the same: every resample is the point, the interval has no width.
    same = off_policy_estimates(
        np.ones(4), np.zeros(4, dtype=int), np.full(4, 0.5), np.tile([0.5, 0.5], (4, 1))
    )
    assert (same["snips"].ci_low, same["snips"].ci_high) == (1.0, 1.0)  # sum(w) / sum(w)


def test_bad_inputs_are_refused_and_the_epsilon_greedy_target_by_hand() -> None:
    with pytest.raises(ValueError, match=r"row 0: propensity = 0.0 is outside \(0, 1\]"):
        off_policy_estimates(CLICK, ITEM, np.zeros(5), TARGET)
    with pytest.raises(ValueError, match="row 0: target probabilities must be >= 0 and sum"):
        off_policy_estimates(CLICK, ITEM, PROPENSITY, TARGET * 2)
    # Slate [1, 0] at position 0 with epsilon 0.5: item 1 gets 0.5 + 0.5 / 2, item 0 0.5 / 2.
    mixed = epsilon_greedy_slate_target(np.array([[1, 0]]), np.array([0]), 2, 0.5)
    assert mixed.tolist() == [[0.25, 0.75]]


def textbook_estimates(log, target_per_position: np.ndarray) -> dict[str, float]:
    """IPS, SNIPS, DM and DR written out from their formulas (not recenv.offline.ope).

    The reward model is the log's fitted click model, evaluated here from its coefficients:
    ``q[r, j] = sigmoid(b + a_j + g_{k_r} + sum_f w_f[x_rf])``.
    """
    frame = log.frame
    model = fit_click_model(log)
    offset = np.zeros(len(frame))
    for name, levels, weights in zip(
        model.user_features, model.user_levels, model.user_weights, strict=True
    ):
        offset += frame[name].map(dict(zip(levels, weights, strict=True))).fillna(0.0).to_numpy()
    position, item = frame["position"].to_numpy(), frame["item"].to_numpy()
    click, propensity = frame["click"].to_numpy(float), frame["propensity"].to_numpy()
    logit = model.intercept + model.item[None, :] + (model.position[position] + offset)[:, None]
    q = 1.0 / (1.0 + np.exp(-logit))  # (rows, items)
    pi = target_per_position[position]  # (rows, items)
    rows = np.arange(len(frame))
    w = pi[rows, item] / propensity
    dm = (pi * q).sum(axis=1).mean()
    return {
        "ips": float(np.mean(w * click)),
        "snips": float(np.sum(w * click) / np.sum(w)),
        "dm": float(dm),
        "dr": float(dm + np.mean(w * (click - q[rows, item]))),
    }


@needs_obd
def test_the_ope_command_writes_and_prints_the_textbook_estimates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from experiments.ope import main

    out = tmp_path / "ope.json"
    overrides = ["agent=popularity", "env=obd_men", "train.total_steps=5000", "train.n_envs=16"]
    report = main([f"data={OBD / 'men'}", f"out={out}", *overrides])
    printed = capsys.readouterr().out
    stored = json.loads(out.read_text())
    assert stored == json.loads(json.dumps(report))
    log = load_obd(OBD / "men")
    target = np.asarray(stored["target_per_position"])
    assert target.shape == (3, log.n_items) and np.allclose(target.sum(axis=1), 1.0)
    reference = textbook_estimates(log, target)
    for name, value in reference.items():
        figures = stored["off_policy"][name]
        assert figures["value"] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        assert figures["ci_low"] <= figures["value"] <= figures["ci_high"], name
        assert f"| {name} | {value:.4f} |" in printed, name
    simulator = stored["simulator"]
    assert 0 <= simulator["ci_low"] <= simulator["value"] <= simulator["ci_high"] <= 1
    assert stored["logging_policy_ctr"] == pytest.approx(46 / 10_000)  # the men log's clicks
    assert stored["log_rows"] == 10_000


def test_ips_of_the_ope_command_covers_a_simulated_policys_true_ctr() -> None:
    """One slate position: position-wise IPS is then exactly unbiased for the policy's CTR,
    measured by running the policy on 200,000 fresh shoppers (standard error ~0.001).

    With a calibrated 95% interval, 2 or more of 3 independent logs cover the truth except
    with probability 3 * 0.05^2 * 0.95 + 0.05^3 < 1%.
    """
    cfg = compose_config(
        [
            "agent=popularity",
            "env=small",
            "env.shoppers.returning_fraction=0.0",  # no histories: one slate for everyone
            "train.total_steps=5000",
            "train.n_envs=16",
        ]
    )
    config = env_config_from(cfg)
    agent = build_agent(cfg, config).learn(training_env(cfg, config), 5000)
    truth = first_step_ctr(config, agent_policy(agent), 200_000, seed=12_345)
    covered = 0
    for replicate in range(3):
        log = simulate_log(config, 20_000, seed=100 + replicate)
        report = evaluate_off_policy(cfg, log, n_shoppers=5000, seed=replicate, agent=agent)
        assert np.max(report["target_per_position"]) == 1.0  # a deterministic target
        ips = report["off_policy"]["ips"]
        assert ips["ci_high"] - ips["ci_low"] < 0.4 * truth  # informative, not just wide
        covered += ips["ci_low"] <= truth <= ips["ci_high"]
    assert covered >= 2, (truth, covered)
