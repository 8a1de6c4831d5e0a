"""Session logs and their stylized facts: the sessionizer's cut, loader errors, every fact by
hand on a small log, simulated logs against an independent env run, and the real Taobao log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agents.random import RandomAgent
from experiments import stylized_facts as command
from recenv import ShoppingVectorEnv, make_config
from recenv.offline.data import (
    TAOBAO_WINDOW,
    LogValidationError,
    SessionLog,
    load_session_events,
    load_taobao,
    sessionize,
)
from recenv.offline.data.simulated_sessions import simulate_session_log
from recenv.offline.stylized_facts import stylized_facts

TAOBAO = Path(__file__).resolve().parents[2] / "shared" / "data" / "taobao"
needs_taobao = pytest.mark.skipif(not TAOBAO.is_dir(), reason="../shared/data/taobao is absent")

# (user, item, category, behavior, timestamp) in Taobao's format, rows deliberately unsorted.
# Sessions (30-minute cut): A = user 1, t 0..1980 (the last gap is exactly 1800 s: kept);
# B = user 1, t 3781 (1801 s after A: cut); C = user 1, t 10981..10991; D = user 2;
# E = user 3, t 5000; F = user 3, t 23000..23060.
HAND_ROWS = [
    (2, 10, 1, "pv", 400),
    (1, 10, 1, "pv", 0),
    (1, 11, 1, "pv", 60),
    (1, 11, 1, "cart", 120),
    (1, 10, 1, "pv", 180),
    (1, 12, 2, "pv", 1980),
    (1, 13, 2, "pv", 3781),
    (1, 13, 2, "buy", 3781),
    (1, 14, 3, "fav", 10981),
    (1, 14, 3, "pv", 10991),
    (2, 10, 1, "pv", 100),
    (2, 20, 4, "pv", 200),
    (2, 10, 1, "pv", 300),
    (3, 30, 5, "pv", 5000),
    (3, 30, 5, "pv", 23000),
    (3, 30, 5, "cart", 23000),
    (3, 30, 5, "buy", 23060),
]


def write_taobao(tmp_path: Path, rows: list[tuple], name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text("".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


@pytest.fixture
def hand_log(tmp_path: Path) -> SessionLog:
    return load_taobao(write_taobao(tmp_path, HAND_ROWS))


def test_the_sessionizer_cuts_after_more_than_the_gap_and_not_at_it() -> None:
    events = pd.DataFrame(
        {
            "user": [7, 7, 7, 7, 8, 7],
            "timestamp": [0, 1800, 3601, 3601, 3602, 100_000],
            "order": [0, 1, 2, 3, 4, 5],
        }
    )
    cut = sessionize(events.iloc[::-1])  # the sessionizer sorts by user and time itself
    # user 7: gap 1800 (== 30 min) stays, 1801 cuts, 0 stays, 96399 cuts; user 8 its own
    assert cut["session"].tolist() == [0, 0, 1, 1, 2, 3]
    assert cut["user"].tolist() == [7, 7, 7, 7, 7, 8]
    assert cut["order"].tolist() == [0, 1, 3, 2, 5, 4]  # ties keep their (reversed) order
    assert sessionize(events, gap_minutes=29.99)["session"].tolist() == [0, 1, 2, 2, 3, 4]
    with pytest.raises(ValueError, match="gap_minutes = 0"):
        sessionize(events, gap_minutes=0)


def test_the_hand_log_loads_into_six_sessions(hand_log: SessionLog) -> None:
    frame = hand_log.frame
    assert hand_log.n_users == 3 and hand_log.n_sessions == 6
    assert frame.groupby("session")["timestamp"].agg(["min", "max"]).values.tolist() == [
        [0, 1980],
        [3781, 3781],
        [10981, 10991],
        [100, 400],
        [5000, 5000],
        [23000, 23060],
    ]
    assert Counter(frame["event"]) == {"view": 12, "cart": 2, "buy": 2, "fav": 1}


def test_every_fact_of_the_hand_log_equals_its_hand_computed_value(hand_log) -> None:
    report = stylized_facts(hand_log, n_resamples=200)
    facts = {name: fact["value"] for name, fact in report["facts"].items()}
    # session rows A 5, B 2, C 2, D 4, E 1, F 3; views A 4, B 1, C 1, D 4, E 1, F 1 (12)
    assert facts["events_per_session"] == pytest.approx(17 / 6)
    assert facts["cart_per_view"] == pytest.approx(2 / 12)  # carts in A and F
    assert facts["purchase_per_view"] == pytest.approx(2 / 12)  # buys in B and F
    assert facts["fav_per_view"] == pytest.approx(1 / 12)
    assert facts["sessions_with_cart"] == pytest.approx(2 / 6)
    assert facts["sessions_with_purchase"] == pytest.approx(2 / 6)
    # view pairs: A categories 1,1,1,2 (1 switch in 3), D 1,4,1,1 (2 in 3); others none
    assert facts["category_switch_rate"] == pytest.approx(3 / 6)
    # A views 10,11,10,12 (one repeat), D 10,20,10,10 (two repeats)
    assert facts["repeat_view_rate"] == pytest.approx(3 / 12)
    assert facts["sessions_per_shopper"] == pytest.approx((3 + 1 + 2) / 3)
    # gaps: 1980 -> 3781 (1801 s), 3781 -> 10981 (2 h), 5000 -> 23000 (5 h); median 2 h
    assert facts["gap_hours_median"] == pytest.approx(2.0)
    # views per item: 10: 5, 30: 2, 11, 12, 13, 14, 20: 1. Head = ceil(0.2 * 7) = 2 items
    # (10 and 30: 7 views), tail 5 / 12. Gini: sorted 1,1,1,1,1,2,5, sum i x_i = 62,
    # G = 2 * 62 / (7 * 12) - 8 / 7 = 1 / 3.
    assert facts["long_tail_share"] == pytest.approx(5 / 12)
    assert facts["gini_views"] == pytest.approx(1 / 3)
    shapes = report["distributions"]
    # session sizes 1, 2, 2, 3, 4, 5: inverted-CDF quantiles
    assert shapes["events_per_session_quantiles"]["value"] == [1, 2, 2, 4, 5]
    assert shapes["events_per_session_histogram"]["value"][:4] == pytest.approx(
        [1 / 6, 2 / 6, 2 / 6, 1 / 6]  # bins 1, 2, 3-4, 5-9
    )
    assert shapes["gap_hours_quantiles"]["value"] == pytest.approx([1801 / 3600] * 2 + [2, 5, 5])
    # views per session 4, 1, 1, 4, 1, 1: h(1) = 4/6, h(2) = h(3) = 0/2, h(4) = 2/2, then none
    hazard = shapes["hazard"]["value"]
    assert hazard[:4] == pytest.approx([4 / 6, 0, 0, 1]) and set(hazard[4:]) == {None}
    assert report["counts"]["rows_outside_window"] == 0 and report["counts"]["gaps"] == 3
    for fact in report["facts"].values():
        assert fact["ci_low"] <= fact["value"] <= fact["ci_high"]


def test_a_window_drops_and_counts_rows_and_recuts_sessions(hand_log) -> None:
    report = stylized_facts(hand_log, window=(0, 5000), n_resamples=50)
    # kept: A, B (t 3781), D; C (10981+) and E, F (5000+) are outside
    assert report["counts"]["rows_outside_window"] == 6
    assert report["counts"]["sessions"] == 3 and report["counts"]["users"] == 2
    # 2 shoppers, 3 sessions in 5000 s = 5000 / 86400 days
    per_day = report["facts"]["sessions_per_shopper_per_day"]["value"]
    assert per_day == pytest.approx(1.5 * 86_400 / 5000)


@pytest.mark.parametrize(
    ("bad_row", "column", "rule"),
    [
        ((1, 11, 1, "click", 60), r"'behavior' \(field 4\) = 'click'", "not a known event"),
        ((1, 11, 1, "pv", "2017-11-25"), r"'timestamp' \(field 5\) = '2017-11-25'", "Unix"),
        ((1, 11, 1, "pv", "60.5"), r"'timestamp' \(field 5\) = '60.5'", "Unix"),
        ((1, 11, 1, "pv", -5), r"'timestamp' \(field 5\) = '-5'", "Unix"),
        ((1, 11, 1, "pv", 1511544070123), r"'timestamp'", "milliseconds"),
        ((1, "x11", 1, "pv", 60), r"'item' \(field 2\) = 'x11'", "not an integer item id"),
        ((1.5, 11, 1, "pv", 60), r"'user' \(field 1\) = '1.5'", "not an integer user id"),
        ((1, 11, "", "pv", 60), r"'category' \(field 3\) = ''", "not an integer category id"),
    ],
)
def test_taobao_errors_name_the_file_the_row_and_the_column(
    tmp_path: Path, bad_row: tuple, column: str, rule: str
) -> None:
    path = write_taobao(tmp_path, [HAND_ROWS[1], bad_row, HAND_ROWS[2]])
    with pytest.raises(LogValidationError, match=rf"{path}: row 1 \(line 2\), column {column}"):
        load_taobao(path)
    with pytest.raises(LogValidationError, match=rule):
        load_taobao(path)
    skipped = load_taobao(path, on_error="skip")
    assert skipped.report.rows_kept == 2 and sum(skipped.report.skipped.values()) == 1


def test_taobao_window_drops_and_counts_and_folders_are_found(tmp_path: Path) -> None:
    rows = [(1, 2, 3, "pv", TAOBAO_WINDOW[0] - 1), (1, 2, 3, "buy", TAOBAO_WINDOW[0])]
    write_taobao(tmp_path, rows)
    log = load_taobao(tmp_path, window=TAOBAO_WINDOW)  # the folder's single CSV
    assert log.report.rows_read == 2 and log.report.rows_kept == 1
    assert list(log.report.skipped.values()) == [1]
    assert log.frame["event"].tolist() == ["buy"]
    write_taobao(tmp_path, rows, "second.csv")
    with pytest.raises(FileNotFoundError, match=r"exactly one \.csv"):
        load_taobao(tmp_path)
    wide = write_taobao(tmp_path, [(1, 2, 3, "pv", 5, 9)], "wide.txt")  # six fields
    with pytest.raises(LogValidationError, match="not a 5-column Taobao log"):
        load_taobao(wide)


def test_a_generic_event_log_with_favourites_becomes_a_session_log(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "visitor": [5, 5, 5, 6],
            "item": [1, 1, 2, 3],
            "event": ["view", "FAV", "addtocart", "transaction"],
            "ts": ["2017-11-25 10:00:00", "2017-11-25 10:01:00", 1511604180, 1511604180],
        }
    )
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    log = load_session_events(path, columns={"user": "visitor", "timestamp": "ts"})
    assert log.frame["event"].tolist() == ["view", "fav", "cart", "buy"]
    assert log.frame["timestamp"].tolist() == [1511604000, 1511604060, 1511604180, 1511604180]
    assert log.frame["category"].tolist() == [-1] * 4 and log.n_sessions == 2
    assert stylized_facts(log, n_resamples=20)["facts"]["category_switch_rate"]["value"] is None
    frame.loc[2, "event"] = "wishlist"
    frame.to_csv(path, index=False)
    with pytest.raises(LogValidationError, match=rf"{path}: row 2 \(line 4\), column 'event'"):
        load_session_events(path, columns={"user": "visitor", "timestamp": "ts"})


def test_an_impression_log_keeps_only_its_clicks(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"session": [1, 1, 2], "item": [4, 5, 6], "click": [0, 1, 1], "timestamp": [0, 0, 9]}
    )
    frame.to_parquet(path := tmp_path / "impressions.parquet")
    log = load_session_events(path)
    assert log.frame[["user", "item", "event"]].values.tolist() == [[1, 5, "view"], [2, 6, "view"]]
    assert list(log.report.skipped.values()) == [1]  # the impression without a click


def test_split_by_user_is_deterministic_disjoint_and_complete(hand_log) -> None:
    held_out, rest = hand_log.split_by_user(1 / 3, seed=4)
    again, _ = hand_log.split_by_user(1 / 3, seed=4)
    assert held_out.frame.equals(again.frame) and held_out.n_users == 1
    assert set(held_out.frame["user"]).isdisjoint(rest.frame["user"])
    assert len(held_out.frame) + len(rest.frame) == len(hand_log.frame)
    assert sorted(rest.frame["session"].unique()) == list(range(rest.n_sessions))
    shuffled = SessionLog(hand_log.frame.sample(frac=1, random_state=0))
    assert set(shuffled.split_by_user(1 / 3, seed=4)[0].frame["user"]) == set(
        held_out.frame["user"]
    )
    with pytest.raises(ValueError, match=r"share = 1\.0"):
        hand_log.split_by_user(1.0)


@pytest.mark.parametrize("episode", ["session", "shopper"])
def test_a_simulated_log_holds_the_clicks_and_the_bought_items_of_the_run(episode: str) -> None:
    config = make_config("small", episode=episode)
    n_shoppers, seed = 64, 5
    log = simulate_session_log(config, RandomAgent(config, seed=2), n_shoppers, seed)
    # the same shoppers and actions, counted independently from the env's info
    env = ShoppingVectorEnv(n_shoppers, config=config, split="evaluation")
    observation, _ = env.reset(seed=seed)
    agent, active = RandomAgent(config, seed=2), np.ones(n_shoppers, dtype=bool)
    clicked, carted, bought = Counter(), 0, 0
    while active.any():
        observation, _, terminated, truncated, info = env.step(agent.act(observation, True))
        for shopper in np.flatnonzero(active & info["click"]):
            clicked[(shopper, info["clicked_item"][shopper])] += 1
        carted += int((active & info["cart"]).sum())
        bought += int(info["items_bought"][active].sum())
        active &= ~(terminated | truncated)
    frame = log.frame
    views = frame[frame["event"] == "view"]
    assert Counter(zip(views["user"], views["item"], strict=True)) == clicked
    assert (frame["event"] == "cart").sum() == carted
    assert (frame["event"] == "buy").sum() == bought > 0
    category = env.item_features["category"]
    assert (frame["category"] == category[frame["item"]]).all()
    per_session = frame.groupby("session")["event"].agg(lambda events: (events == "view").sum())
    assert len(per_session) == log.n_sessions and (per_session > 0).all()  # no empty session
    if episode == "shopper":
        assert log.n_sessions > log.n_users  # returning shoppers come back after a gap
    again = simulate_session_log(config, RandomAgent(config, seed=2), n_shoppers, seed)
    assert again.frame.equals(frame)


def test_simulated_time_stamps_follow_steps_and_drawn_gaps() -> None:
    config = make_config("small", episode="shopper")
    log = simulate_session_log(
        config, RandomAgent(config, seed=0), 32, 1, step_seconds=10, gap_hours=(5.0, 0.0)
    )
    facts = stylized_facts(log, n_resamples=20)
    # sigma 0: every gap between visits is 5 h; between sessions add the steps from the last
    # event of a visit to its end (and whole visits without a click, rarer than 10%)
    lowest_gaps = facts["distributions"]["gap_hours_quantiles"]["value"][0]
    assert 5.0 < lowest_gaps < 5.0 + config.max_steps * 10 / 3600
    assert (log.frame["timestamp"] % 10 == 0).all()  # visits start at whole gaps of 5 h
    with pytest.raises(ValueError, match="gap_hours"):
        simulate_session_log(config, RandomAgent(config), 4, 0, gap_hours=(0.0, 1.0))


def test_the_command_writes_facts_and_a_comparison_plot(tmp_path: Path) -> None:
    data = write_taobao(tmp_path, HAND_ROWS)
    first = tmp_path / "hand.json"
    command.main([f"data={data}", f"out={first}", "resamples=20"])
    second = tmp_path / "hand_holdout.json"
    report = command.main(
        [f"data={data}", f"out={second}", f"compare={first}", "--holdout", "0.5", "resamples=20"]
    )
    assert json.loads(first.read_text())["facts"]["cart_per_view"]["value"] == pytest.approx(2 / 12)
    assert report["details"]["holdout"]["users"] == 2  # round(0.5 * 3)
    assert second.with_suffix(".png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("policy=nope", "policy = 'nope' is not allowed; choose one of .*'random'"),
        ("data=scenario:nope", "data = 'scenario:nope' is not allowed; choose one of .*'small'"),
        ("shoppers=0", "shoppers = '0' is not allowed; allowed: integers >= 1"),
        ("gap_hours=24", "gap_hours = '24' is not allowed"),
        ("holdout=1.5", "holdout = '1.5' is not allowed; allowed: 0 < share < 1"),
        ("window=5,1", "window = '5,1' is not allowed"),
        ("colour=red", "argument 'colour=red' is not allowed"),
    ],
)
def test_bad_arguments_exit_naming_the_argument(argument: str, message: str) -> None:
    arguments = ["data=scenario:small", argument]
    if argument.startswith("data="):
        arguments = [argument]
    with pytest.raises(SystemExit, match=message):
        command.main(arguments)


@needs_taobao
def test_the_taobao_sample_loads_and_its_facts_are_plausible() -> None:
    log = load_taobao(TAOBAO)
    assert len(log.frame) == 84_287 and log.n_users == 814
    raw = pd.read_csv(
        next(TAOBAO.glob("*.csv")), header=None, names=["user", "item", "cat", "kind", "t"]
    )
    facts = stylized_facts(log, n_resamples=50)["facts"]
    views = (raw["kind"] == "pv").sum()
    assert facts["cart_per_view"]["value"] == pytest.approx((raw["kind"] == "cart").sum() / views)
    assert facts["purchase_per_view"]["value"] == pytest.approx(
        (raw["kind"] == "buy").sum() / views
    )
    assert 2 < facts["events_per_session"]["value"] < 20
    assert 5 < facts["sessions_per_shopper"]["value"] < 50
    assert 0.5 < facts["gap_hours_median"]["value"] < 24
    for name in ("sessions_with_cart", "category_switch_rate", "long_tail_share", "gini_views"):
        assert 0.0 < facts[name]["ci_low"] <= facts[name]["value"] <= facts[name]["ci_high"] < 1.0
