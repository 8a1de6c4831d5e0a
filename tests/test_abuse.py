"""Abuse tests (issue 11): every bad input a user can type raises a clear error, or is
dropped and counted, instead of hanging, allocating gigabytes or passing silently.

One table per category: slate sampling, the env contract (both envs, one rule), configs
and their memory estimate, and log files (impression logs, the Open Bandit Dataset,
session logs). Each row: the bad input and the fragment its error must contain (for logs,
also the file, the row and the column, and how many rows ``on_error="skip"`` drops).
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pandas as pd
import pytest
from gymnasium.error import ResetNeeded

import recenv
import recenv.sim.memory
from recenv.offline.data import LogValidationError, load_event_log, load_obd, load_session_events
from recenv.offline.data.sessions import load_taobao
from recenv.sim.config import EnvConfig, make_config
from recenv.sim.env import ShoppingEnv
from recenv.sim.spaces import SlateSpace
from recenv.sim.vector import ShoppingVectorEnv

# --------------------------------------------------------------------------- slates


def test_slate_samples_are_fast_distinct_and_reproducible() -> None:
    space = SlateSpace(np.full(100, 20_000))
    space.seed(0)
    start = time.perf_counter()
    slates = [space.sample() for _ in range(50)]
    assert time.perf_counter() - start < 1.0  # rejection sampling took 31 s for one at K = 50
    assert all(len(set(slate.tolist())) == 100 for slate in slates)
    assert all(space.contains(slate) for slate in slates)
    space.seed(0)
    assert all(np.array_equal(space.sample(), slate) for slate in slates)
    space.seed(1)
    assert not np.array_equal(space.sample(), slates[0])


def test_batched_slates_of_the_whole_catalog_are_permutations() -> None:
    env = ShoppingVectorEnv(4, preset="small", slate_size=100, catalog={"n_items": 100})
    env.action_space.seed(0)
    slates = env.action_space.sample()
    assert slates.shape == (4, 100)
    assert (np.sort(slates, axis=1) == np.arange(100)).all()  # K = M: every item once
    env.reset(seed=0)
    env.step(slates)  # and the env accepts them


def test_slate_samples_are_uniform_over_ordered_slates() -> None:
    # 4 items, slates of 2: 4 * 3 = 12 ordered slates, each with chance 1/12; 24,000 draws
    # give 2,000 each (binomial sd 43), so every count lies within 10% (4.6 sd).
    space = SlateSpace(np.full((24_000, 2), 4))
    space.seed(0)
    _, counts = np.unique(space.sample(), axis=0, return_counts=True)
    assert len(counts) == 12 and np.allclose(counts, 2_000, rtol=0.1)


def test_make_vec_with_a_slate_of_100_returns_at_once() -> None:
    start = time.perf_counter()
    env = gymnasium.make_vec(
        recenv.ENV_ID,
        num_envs=8,
        vectorization_mode="vector_entry_point",
        preset="small",
        slate_size=100,
        catalog={"n_items": 20_000},
    )
    env.action_space.seed(0)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert time.perf_counter() - start < 30.0  # it never returned before


# --------------------------------------------------------------------------- env contract


def finish_episode(env: ShoppingEnv) -> tuple[bool, bool]:
    terminated = truncated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(0)
    return terminated, truncated


@pytest.mark.parametrize(
    ("overrides", "ended_by"),
    [
        ({"max_steps": 3}, "truncated"),
        ({"shoppers": {"patience_mean": 0.01, "patience_std": 0.0}}, "terminated"),
    ],
)
def test_the_single_env_refuses_to_step_after_the_episode_ended(
    overrides: dict, ended_by: str
) -> None:
    env = ShoppingEnv(preset="small", **overrides)
    env.reset(seed=0)
    terminated, truncated = finish_episode(env)
    assert {"terminated": terminated, "truncated": truncated}[ended_by]
    with pytest.raises(ResetNeeded, match=r"after the episode ended .* call reset\(\)"):
        env.step(0)
    env.reset()  # the next session steps again
    env.step(0)


def test_the_single_env_refuses_to_step_before_reset() -> None:
    with pytest.raises(ResetNeeded, match=r"step\(\) called before reset\(\)"):
        ShoppingEnv(preset="small").step(0)


def test_the_vector_env_keeps_its_autoreset() -> None:
    env = ShoppingVectorEnv(2, preset="small", max_steps=2)
    env.reset(seed=0)
    ended = []
    for _ in range(3):
        _, _, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.int64))
        ended.append(terminated | truncated)
    assert ended[1].all() and not ended[2].any()  # step 3 starts the next sessions


BOTH_ENVS = [
    pytest.param(lambda: ShoppingEnv(preset="small"), id="single"),
    pytest.param(lambda: ShoppingVectorEnv(2, preset="small"), id="vector"),
]
BAD_RESETS = [
    pytest.param(
        {"options": {"sesion_index": 1}}, r"unknown reset options \['sesion_index'\]", id="typo"
    ),
    pytest.param({"options": ["session_index"]}, "reset options must be a dict", id="not-a-dict"),
    pytest.param({"seed": -1}, r"seed = -1 is out of range; allowed: integers >= 0", id="negative"),
    pytest.param({"seed": 1.5}, r"seed = 1\.5 is out of range", id="float"),
    pytest.param({"seed": True}, r"seed = True is out of range", id="bool"),
    pytest.param({"seed": "3"}, r"seed = '3' is out of range", id="string"),
    pytest.param(
        {"options": {"session_index": 2**64}},
        r"options\['session_index'\] = 18446744073709551616 is out of range",
        id="session-beyond-uint64",
    ),
    pytest.param(
        {"options": {"session_index": -1}},
        r"options\['session_index'\] = -1",
        id="session-negative",
    ),
]


@pytest.mark.parametrize("make_env", BOTH_ENVS)
@pytest.mark.parametrize(("reset", "message"), BAD_RESETS)
def test_both_envs_reject_bad_reset_arguments_alike_and_change_nothing(
    make_env: Any, reset: dict, message: str
) -> None:
    env = make_env()
    env.reset(seed=0)
    keys, sessions = env.simulator.state.key.copy(), env.simulator.state.session.copy()
    with pytest.raises(ValueError, match=message):
        env.reset(**reset)
    assert (env.simulator.state.key == keys).all()  # checked before anything changed
    assert (env.simulator.state.session == sessions).all()


@pytest.mark.parametrize("make_env", BOTH_ENVS)
def test_every_seed_size_is_its_own_run(make_env: Any) -> None:
    env = make_env()
    keys = {}
    for seed in (0, 2**32, 2**64, 2**64 + 1, np.int64(7), np.uint64(2**63)):
        env.reset(seed=seed)
        keys[int(seed)] = env.simulator.state.key.copy()
    assert len({tuple(key.tolist()) for key in keys.values()}) == len(keys)  # 2**64 is not 0
    env.reset(seed=7)
    assert (env.simulator.state.key == keys[7]).all()  # a numpy seed is its int


# --------------------------------------------------------------------------- configs

BAD_CONFIGS = [
    pytest.param(
        {"catalog": {"price_log_std": 1e3}},
        "CatalogConfig.price_log_std = 1000.0 gives non-finite prices",
        id="infinite-prices",
    ),
    pytest.param(
        {"catalog": {"price_log_mean": -100.0}},
        "CatalogConfig.price_log_mean = -100.0 gives non-finite prices",
        id="vanishing-prices",
    ),
    pytest.param(
        {"shoppers": {"budget_log_mean": 1e3}},
        "ShopperConfig.budget_log_mean = 1000.0 gives non-finite budgets",
        id="infinite-budgets",
    ),
    pytest.param(
        {"shoppers": {"budget_log_std": 20.0}},
        "ShopperConfig.budget_log_std = 20.0 gives non-finite budgets",
        id="budget-spread",
    ),
    pytest.param(
        {"shoppers": {"price_sensitivity_std": 1e3}},
        "ShopperConfig.price_sensitivity_std = 1000.0 gives non-finite price sensitivities",
        id="infinite-sensitivity",
    ),
    pytest.param(
        {"catalog": 5}, "EnvConfig.catalog: expected a CatalogConfig or a mapping", id="section-int"
    ),
    pytest.param(
        {"catalog": {"n_itemz": 5}}, "unknown config field 'catalog.n_itemz'", id="nested-typo"
    ),
    pytest.param(
        {"slate_size": 2.0}, "EnvConfig.slate_size: expected an integer", id="float-count"
    ),
    pytest.param(
        {"slate_size": np.bool_(True)}, "EnvConfig.slate_size: expected a number", id="bool-count"
    ),
    pytest.param(
        {"choice": {"no_click_utility": 10**400}},
        "ChoiceConfig.no_click_utility",
        id="huge-int-float",
    ),
    pytest.param({"history_length": 10**30}, "EnvConfig.history_length = 10", id="astronomic"),
    pytest.param(
        {"expose_hidden_state": "yes"},
        "EnvConfig.expose_hidden_state: expected true/false",
        id="bool-text",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_CONFIGS)
def test_bad_configs_name_the_field_without_warnings(overrides: dict, message: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning (overflow) on the way
        with pytest.raises(ValueError, match=re.escape(message)):
            ShoppingEnv(preset="small", **overrides)


@pytest.mark.parametrize("name", ["../agent/dqn", "small/../small", "/etc/passwd", "small.yaml", 3])
def test_preset_names_cannot_leave_their_folder(name: Any) -> None:
    with pytest.raises(ValueError, match="unknown env preset"):
        make_config(name)


def test_nested_sections_and_numpy_counts_are_accepted() -> None:
    config = EnvConfig(catalog={"n_items": 50}, slate_size=np.int64(3), history_length=np.uint8(7))
    assert config.catalog.n_items == 50 and type(config.slate_size) is int
    assert config.history_length == 7
    env = ShoppingVectorEnv(np.int64(2), config=config)
    assert env.num_envs == 2 and type(env.num_envs) is int


@pytest.mark.parametrize(
    ("num_envs", "message"),
    [
        (0, "num_envs = 0 is out of range; allowed: integers >= 1"),
        (np.int64(-3), "num_envs = -3 is out of range"),
        (2.0, "num_envs: expected an integer, got 2.0"),
        (True, "num_envs: expected an integer, got True"),
    ],
)
def test_bad_vector_sizes_are_named(num_envs: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ShoppingVectorEnv(num_envs, preset="small")


@pytest.mark.parametrize(
    ("slate_size", "action", "message"),
    [
        (1, np.uint64(2**64 - 1), "action 18446744073709551615 is out of range"),
        (1, np.int8(-1), "action -1 is out of range"),
        (3, np.array([1, 2, 2**64 - 1], dtype=np.uint64), "item id 18446744073709551615"),
        (3, np.array([1, 2, 200], dtype=np.uint8), "item id 200"),
        (3, np.array([1, 2, -100], dtype=np.int8), "item id -100"),
    ],
)
def test_actions_of_any_integer_dtype_are_reported_with_their_true_value(
    slate_size: int, action: Any, message: str
) -> None:
    env = ShoppingEnv(preset="small", slate_size=slate_size)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=re.escape(message)):
        env.step(action)
    assert env.step(np.uint16(5) if slate_size == 1 else np.array([1, 2, 3], np.uint64))


# --------------------------------------------------------------------------- memory

GIB = 2**30


@pytest.mark.parametrize(
    ("overrides", "num_envs", "field"),
    [
        ({"history_length": 10**8}, 1, "EnvConfig.history_length = 100000000"),
        ({"cart_capacity": 10**9}, 1, "EnvConfig.cart_capacity = 1000000000"),
        ({"shoppers": {"n_segments": 10**7}}, 1, "ShopperConfig.n_segments = 10000000"),
        (
            {"catalog": {"n_items": 10**7, "embedding_dim": 1024}},
            1,
            "CatalogConfig.n_items = 10000000",
        ),
        ({}, 10**8, "num_envs = 100000000"),
    ],
)
def test_sizes_beyond_memory_fail_up_front_naming_field_and_bytes(
    monkeypatch: pytest.MonkeyPatch, overrides: dict, num_envs: int, field: str
) -> None:
    monkeypatch.setattr(recenv.sim.memory, "memory_limit", lambda: 4 * GIB)
    start = time.perf_counter()
    with pytest.raises(
        ValueError, match=re.escape(field) + r" would need about [\d.]+ GiB of memory \(\d+ bytes"
    ):
        ShoppingVectorEnv(num_envs, preset="small", **overrides)
    assert time.perf_counter() - start < 5.0  # an estimate, not an allocation


def test_the_memory_estimate_bounds_what_a_simulator_allocates() -> None:
    config = make_config("small", history_length=200_000)
    needed = recenv.sim.memory.memory_needed(config, n_shoppers=4)
    state = ShoppingVectorEnv(4, config=config).simulator.state
    assert sum(array.nbytes for array in state) < needed < 40 * sum(a.nbytes for a in state)


def test_ordinary_scenarios_fit_easily() -> None:
    assert recenv.sim.memory.memory_needed(make_config("default"), 10_000) < GIB


# --------------------------------------------------------------------------- log files

HEADER = "session,timestamp,item,position,click,propensity,user_feature_0"
ROWS = ["1,0,0,0,0,0.5,a", "1,0,1,1,1,0.5,a", "2,60,2,0,0,0.5,b"]


def write(tmp_path: Path, text: str | bytes, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def with_row(index: int, row: str) -> str:
    rows = list(ROWS)
    rows[index] = row
    return "\n".join([HEADER, *rows]) + "\n"


# (file text, load_event_log keywords, error fragments, rows skipped with on_error="skip";
# None: the whole file is bad, so skipping cannot help)
EVENT_LOGS = [
    pytest.param(
        "session,timestamp,item,position,event\n1,0,0,0,view\n1,0,1,1,clk\n",
        {},
        ["row 1", "column 'event' = 'clk' is not a known event", "accepted: 0, 0.0, 1"],
        1,
        id="unknown-event",
    ),
    pytest.param(
        with_row(1, "1,not-a-date,1,1,1,0.5,a"),
        {},
        ["row 1", "column 'timestamp' = 'not-a-date' is not a date or a Unix timestamp"],
        1,
        id="bad-timestamp",
    ),
    pytest.param(
        with_row(2, "2,1511544070123,2,0,0,0.5,b"),
        {},
        ["row 2", "column 'timestamp' = 1511544070123 is after 2100"],
        1,
        id="millisecond-timestamp",
    ),
    pytest.param(
        with_row(2, "2,60,1000000000,0,0,0.5,b"),
        {},
        ["row 2", "column 'item' = 1000000000 is beyond the largest catalog (allowed: 0..9999999)"],
        1,
        id="huge-item-id",
    ),
    pytest.param(
        with_row(2, "2,60,5,0,0,0.5,b"),
        {"n_items": 3},
        ["row 2", "column 'item' = 5 is an unknown item (allowed: 0..2)"],
        1,
        id="beyond-given-n-items",
    ),
    pytest.param(
        "\n".join([HEADER, *ROWS, "3,70,1,0"]),  # cut while written: no newline, 4 fields
        {},
        ["row 3", "column '(all)' is cut short"],
        1,
        id="truncated-mid-row",
    ),
    pytest.param(
        with_row(1, "1,0,1,1,1,0.5,"),
        {},
        ["row 1", "column 'user_feature_0' = nan is missing"],
        1,
        id="nan-feature",
    ),
    pytest.param(
        "\n".join([HEADER, "1,0,0,1,0,0.5,a", "1,0,1,0,1,0.5,a", "2,60,2,2,0,0.5,b"]),
        {"position_base": 1},
        ["row 1", "column 'position' = 0 is out of range (allowed: 1..2)"],
        1,
        id="position-0-of-1-based",
    ),
    pytest.param(
        HEADER + "\n", {}, ["no rows (the file holds a header only)"], None, id="header-only"
    ),
    pytest.param("", {}, ["the file is empty"], None, id="empty"),
    pytest.param("\n\n", {}, ["no data"], None, id="blank-lines"),
    pytest.param(
        (HEADER + "\n" + ROWS[0] + "\n2,60,2,0,0,0.5,\xe9\n").encode("latin-1"),
        {},
        ["line 3, field 7 (row 1, column 'user_feature_0') is not UTF-8 text (byte 0xe9"],
        None,
        id="not-utf8",
    ),
    pytest.param(
        "\n".join([HEADER, ROWS[0], ROWS[1] + ",extra,fields"]) + "\n",
        {},
        ["not a well-formed CSV file", "line 3"],
        None,
        id="ragged",
    ),
    pytest.param(
        "session,timestamp,item,position\n1,0,0,0\n",
        {},
        ["missing column(s) ['click']"],
        None,
        id="no-click-column",
    ),
]


@pytest.mark.parametrize(("text", "keywords", "fragments", "skipped"), EVENT_LOGS)
def test_malformed_event_logs_name_file_row_and_column(
    tmp_path: Path, text: str | bytes, keywords: dict, fragments: list[str], skipped: int | None
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(LogValidationError) as error:
        load_event_log(path, **keywords)
    assert str(path) in str(error.value)
    for fragment in fragments:
        assert fragment in str(error.value)
    if skipped is None:
        with pytest.raises(LogValidationError):
            load_event_log(path, on_error="skip", **keywords)
        return
    log = load_event_log(path, on_error="skip", **keywords)
    assert sum(log.report.skipped.values()) == skipped
    assert log.report.rows_kept == log.report.rows_read - skipped == len(log.frame)
    assert log.n_items < 10**7  # a stray id never sizes the item table


def test_event_logs_with_dates_parse_them(tmp_path: Path) -> None:
    dates = ["2019-11-24", "2019-11-24 00:00:01+00:00", "2019-11-24T00:01:00Z"]
    rows = [
        row.replace(f",{time},", f",{date},", 1)
        for row, time, date in zip(ROWS, (0, 0, 60), dates, strict=True)
    ]
    log = load_event_log(write(tmp_path, "\n".join([HEADER, *rows]) + "\n"))
    assert isinstance(log.frame["timestamp"].dtype, pd.DatetimeTZDtype)
    assert log.frame["timestamp"].diff().dt.total_seconds().tolist()[1:] == [1.0, 59.0]


@pytest.mark.parametrize(
    ("keyword", "value"), [("n_items", 0), ("n_items", 10**9), ("n_positions", -1)]
)
def test_given_sizes_are_range_checked(tmp_path: Path, keyword: str, value: int) -> None:
    path = write(tmp_path, with_row(0, ROWS[0]))
    with pytest.raises(
        ValueError, match=rf"{keyword} = {value} is out of range; allowed: \[1, 10000000\]"
    ):
        load_event_log(path, **{keyword: value})


OBD_HEADER = ",timestamp,item_id,position,click,propensity_score,user_feature_0"
OBD_ROWS = [
    "0,2019-11-24 00:00:00.004146+00:00,1,1,0,0.5,u1",
    "1,2019-11-24 00:00:00.004146+00:00,0,2,1,0.5,u1",
    "2,2019-11-24 00:00:01.5+00:00,1,3,0,0.5,u2",
]
ITEMS = ",item_id,item_feature_0,item_feature_1\n0,0,-0.5,abc\n1,1,0.25,def\n"


def obd_folder(tmp_path: Path, log: str | bytes, items: str = ITEMS) -> Path:
    folder = tmp_path / "men"
    folder.mkdir()
    write(folder, log, "men.csv")
    write(folder, items, "item_context.csv")
    return folder


def obd_with_row(index: int, row: str) -> str:
    rows = list(OBD_ROWS)
    rows[index] = row
    return "\n".join([OBD_HEADER, *rows]) + "\n"


OBD_LOGS = [
    pytest.param(
        obd_with_row(1, "1,2019-11-24 00:00:00+00:00,0,0,1,0.5,u1"),
        ITEMS,
        ["men.csv: row 1", "column 'position' = 0 is out of range (allowed: 1..3)"],
        1,
        id="position-0",
    ),
    pytest.param(
        "\n".join([OBD_HEADER, *OBD_ROWS]) + "\n3,2019-11-24 00:00:02+00:00,1",
        ITEMS,
        ["men.csv: row 3", "column '(all)' is cut short"],
        1,
        id="truncated-mid-row",
    ),
    pytest.param(
        obd_with_row(2, "2,yesterday-ish,1,3,0,0.5,u2"),
        ITEMS,
        ["men.csv: row 2", "column 'timestamp' = 'yesterday-ish' is not a date"],
        1,
        id="bad-timestamp",
    ),
    pytest.param(
        obd_with_row(0, "0,2019-11-24 00:00:00+00:00,1,1,0,0.5,"),
        ITEMS,
        ["men.csv: row 0", "column 'user_feature_0' = nan is missing"],
        1,
        id="nan-user-feature",
    ),
    pytest.param(
        obd_with_row(0, "0,2019-11-24 00:00:00+00:00,1,1,0,,u1"),
        ITEMS,
        ["men.csv: row 0", "column 'propensity' = nan is outside (0, 1]"],
        1,
        id="nan-propensity",
    ),
    pytest.param(
        obd_with_row(0, "0,2019-11-24 00:00:00+00:00,7,1,0,0.5,u1"),
        ITEMS,
        ["men.csv: row 0", "column 'item' = 7 is an unknown item (allowed: 0..1)"],
        1,
        id="unknown-item",
    ),
    pytest.param(
        "\n".join([OBD_HEADER.replace(",click", ""), "0,2019-11-24,1,1,0.5,u1"]),
        ITEMS,
        ["men.csv: missing column(s) ['click']"],
        None,
        id="no-click",
    ),
    pytest.param(
        "\n".join([OBD_HEADER.replace(",propensity_score", ""), "0,2019-11-24,1,1,0,u1"]),
        ITEMS,
        ["men.csv: missing column(s) ['propensity_score']"],
        None,
        id="no-propensity",
    ),
    pytest.param(
        "\n".join([OBD_HEADER, *OBD_ROWS]),
        ",item_id,item_feature_0,item_feature_1\n0,0,-0.5,abc\n1,1,,def\n",
        ["item_context.csv: row 1 (line 3), column 'item_feature_0' = nan is not a finite number"],
        None,
        id="nan-item-feature",
    ),
    pytest.param(
        "\n".join([OBD_HEADER, *OBD_ROWS]),
        ",item_id,item_feature_0,item_feature_1\n0,0,-0.5,abc\n1,1,big,def\n",
        ["item_context.csv: row 1 (line 3), column 'item_feature_0' = 'big' is not a finite"],
        None,
        id="text-item-feature",
    ),
    pytest.param(
        "\n".join([OBD_HEADER, *OBD_ROWS]),
        ",item_id,item_feature_0,item_feature_1\n0,0,-0.5,abc\n1,1,0.2,\n",
        ["item_context.csv: row 1 (line 3), column 'item_feature_1' = nan is missing"],
        None,
        id="missing-item-hash",
    ),
    pytest.param(
        "\n".join([OBD_HEADER, *OBD_ROWS]),
        ",item_id,item_feature_0\n0,0,-0.5\n1,5,0.25\n",
        ["item_context.csv: column 'item_id' must hold each id 0..1 once"],
        None,
        id="item-id-gap",
    ),
    pytest.param("", ITEMS, ["men.csv: the file is empty"], None, id="empty"),
    pytest.param(OBD_HEADER + "\n", ITEMS, ["men.csv: no rows"], None, id="header-only"),
    pytest.param(
        ("\n".join([OBD_HEADER, OBD_ROWS[0], OBD_ROWS[1] + "\xff"]) + "\n").encode("latin-1"),
        ITEMS,
        ["men.csv: line 3, field 7 (row 1, column 'user_feature_0') is not UTF-8 text (byte 0xff"],
        None,
        id="not-utf8",
    ),
]


@pytest.mark.parametrize(("log", "items", "fragments", "skipped"), OBD_LOGS)
def test_malformed_obd_folders_name_file_row_and_column(
    tmp_path: Path, log: str | bytes, items: str, fragments: list[str], skipped: int | None
) -> None:
    folder = obd_folder(tmp_path, log, items)
    with pytest.raises(LogValidationError) as error:
        load_obd(folder)
    assert str(folder) in str(error.value)
    for fragment in fragments:
        assert fragment in str(error.value)
    if skipped is None:
        with pytest.raises(LogValidationError):
            load_obd(folder, on_error="skip")
        return
    loaded = load_obd(folder, on_error="skip")
    assert sum(loaded.report.skipped.values()) == skipped
    assert len(loaded.frame) == loaded.report.rows_read - skipped


def test_a_good_obd_folder_loads_0_based_with_parsed_times(tmp_path: Path) -> None:
    log = load_obd(obd_folder(tmp_path, "\n".join([OBD_HEADER, *OBD_ROWS]) + "\n"))
    assert log.frame["position"].tolist() == [0, 1, 2] and log.n_items == 2
    assert log.frame["timestamp"].iloc[2] == pd.Timestamp("2019-11-24 00:00:01.5", tz="UTC")
    assert log.frame["user_feature_0"].tolist() == ["u1", "u1", "u2"]


TAOBAO_ROWS = ["1,11,5,pv,1511544000", "1,12,5,buy,1511544060", "2,11,5,pv,1511550000"]

# (file text, loader, error fragments, rows skipped)
SESSION_LOGS = [
    pytest.param(
        "\n".join(TAOBAO_ROWS) + "\n3,11,5,p",
        "taobao",
        ["row 3 (line 4), column '(all)' is cut short"],
        1,
        id="taobao-truncated",
    ),
    pytest.param(
        "\n".join([*TAOBAO_ROWS, "99999999999999999999,11,5,pv,1511550000"]),
        "taobao",
        ["row 3 (line 4), column 'user' (field 1) = '99999999999999999999' is not a 64-bit"],
        1,
        id="taobao-huge-id",
    ),
    pytest.param("", "taobao", ["the file is empty"], None, id="taobao-empty"),
    pytest.param(
        ("\n".join(TAOBAO_ROWS[:2]) + "\n2,11,5,p\xe9,1511550000\n").encode("latin-1"),
        "taobao",
        ["line 3, field 4 is not UTF-8 text (byte 0xe9"],
        None,
        id="taobao-not-utf8",
    ),
    pytest.param(
        "\n".join([*TAOBAO_ROWS[:2], "2,11,5,pv,1511550000,9"]),
        "taobao",
        ["not a well-formed CSV file", "line 3"],
        None,
        id="taobao-ragged",
    ),
    pytest.param(
        "user,item,event,timestamp\n", "events", ["no rows"], None, id="events-header-only"
    ),
    pytest.param(
        "user,item,event,timestamp\n1,11,view,2017-11-25\n1,12,clk,2017-11-25\n",
        "events",
        ["row 1 (line 3), column 'event' = 'clk' is not a known event (allowed: "],
        1,
        id="events-unknown-event",
    ),
    pytest.param(
        "user,item,event,timestamp\n1,11,view,2017-11-25\n1,12,view,someday\n",
        "events",
        ["row 1 (line 3), column 'timestamp' = 'someday' is not a Unix timestamp"],
        1,
        id="events-bad-date",
    ),
]


@pytest.mark.parametrize(("text", "loader", "fragments", "skipped"), SESSION_LOGS)
def test_malformed_session_logs_name_file_row_and_column(
    tmp_path: Path, text: str | bytes, loader: str, fragments: list[str], skipped: int | None
) -> None:
    load = load_taobao if loader == "taobao" else load_session_events
    path = write(tmp_path, text)
    with pytest.raises(LogValidationError) as error:
        load(path)
    assert str(path) in str(error.value)
    for fragment in fragments:
        assert fragment in str(error.value)
    if skipped is None:
        with pytest.raises(LogValidationError):
            load(path, on_error="skip")
        return
    log = load(path, on_error="skip")
    assert sum(log.report.skipped.values()) == skipped
    assert len(log.frame) == log.report.rows_read - skipped
