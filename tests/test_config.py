"""Bad configs and bad actions fail early with a ValueError that says what to fix.

Every message must name the offending field (or action), the value given and what is
allowed, so the regexes below check all three; and every shipped preset must work.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import recenv
from recenv import ShoppingEnv, ShoppingVectorEnv, make_config

SMALL = make_config("small")
N_ITEMS = SMALL.catalog.n_items  # 100
N_SHOPPERS = 4
SLATE = 3


def escaped(*parts: str) -> str:
    """A regex matching the literal ``parts`` in order, anything in between."""
    return ".*".join(re.escape(part) for part in parts)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"catalog": {"n_items": -5}},
            escaped("CatalogConfig.n_items = -5", "allowed: [2, 1e+07]"),
            id="negative-n_items",
        ),
        pytest.param(
            {"history_length": 0},
            escaped("EnvConfig.history_length = 0", "allowed: [1, inf]"),
            id="zero-history_length",
        ),
        pytest.param(
            {"max_steps": -1},
            escaped("EnvConfig.max_steps = -1", "allowed: [1, 65535]"),
            id="negative-max_steps",
        ),
        pytest.param(
            {"cart_capacity": 0},
            escaped("EnvConfig.cart_capacity = 0", "allowed: [1, inf]"),
            id="zero-cart_capacity",
        ),
        pytest.param(
            {"slate_size": N_ITEMS + 1},
            escaped(
                f"EnvConfig.slate_size = {N_ITEMS + 1}", f"allowed: [1, catalog.n_items={N_ITEMS}]"
            ),
            id="slate-larger-than-catalog",
        ),
        pytest.param(
            {"catalog": {"n_categories": N_ITEMS + 1}},
            escaped(
                f"CatalogConfig.n_categories = {N_ITEMS + 1}", f"allowed: [1, n_items={N_ITEMS}]"
            ),
            id="more-categories-than-items",
        ),
        pytest.param(
            {"shoppers": {"returning_fraction": 1.5}},
            escaped("ShopperConfig.returning_fraction = 1.5", "allowed: [0, 1]"),
            id="probability-above-one",
        ),
        pytest.param(
            {"catalog": {"clickbait_fraction": -0.1}},
            escaped("CatalogConfig.clickbait_fraction = -0.1", "allowed: [0, 1]"),
            id="probability-below-zero",
        ),
        pytest.param(
            {"dynamics": {"fatigue_decay": 2.0}},
            escaped("DynamicsConfig.fatigue_decay = 2.0", "allowed: [0, 1]"),
            id="decay-above-one",
        ),
        pytest.param(
            {"choice": {"position_bias": -1.0}},
            escaped("ChoiceConfig.position_bias = -1.0", "allowed: [0, inf]"),
            id="negative-position_bias",
        ),
        pytest.param(
            {"shoppers": {"initial_history": SMALL.history_length + 1}},
            escaped(
                f"ShopperConfig.initial_history = {SMALL.history_length + 1}",
                f"allowed: [0, history_length={SMALL.history_length}]",
            ),
            id="history-longer-than-its-buffer",
        ),
        pytest.param(
            {"funnel": {"purchase_reward": "profit"}},
            escaped("FunnelConfig.purchase_reward = 'profit'", "('revenue', 'count')"),
            id="purchase_reward-choice",
        ),
    ],
)
def test_out_of_range_field_names_field_value_and_range(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_config("small", **overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"slate_sise": 2},
            escaped("unknown config field 'slate_sise'", "valid fields of EnvConfig", "slate_size"),
            id="top-level",
        ),
        pytest.param(
            {"catalog": {"n_itemz": 3}},
            escaped("unknown config field 'catalog.n_itemz'", "CatalogConfig", "n_items"),
            id="nested",
        ),
        pytest.param(
            {"funnel": {"reward": 1.0}},
            escaped("unknown config field 'funnel.reward'", "FunnelConfig", "reward_click"),
            id="nested-funnel",
        ),
    ],
)
def test_unknown_field_is_named_with_the_valid_ones(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_config("small", **overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"catalog": {"n_items": "100"}},
            escaped("CatalogConfig.n_items", "expected a number (int)", "'100'"),
            id="string-for-int",
        ),
        pytest.param(
            {"slate_size": 2.5},
            escaped("EnvConfig.slate_size", "expected an integer", "2.5"),
            id="float-for-int",
        ),
        pytest.param(
            {"max_steps": True},
            escaped("EnvConfig.max_steps", "expected a number (int)", "True"),
            id="bool-for-int",
        ),
        pytest.param(
            {"choice": {"no_click_utility": "high"}},
            escaped("ChoiceConfig.no_click_utility", "expected a number (float)", "'high'"),
            id="string-for-float",
        ),
        pytest.param(
            {"expose_hidden_state": "yes"},
            escaped("EnvConfig.expose_hidden_state", "expected true/false", "'yes'"),
            id="string-for-bool",
        ),
        pytest.param(
            {"funnel": {"purchase_reward": 1}},
            escaped("FunnelConfig.purchase_reward", "expected a string", "1"),
            id="int-for-string",
        ),
    ],
)
def test_wrong_type_names_field_expected_type_and_value(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_config("small", **overrides)


def test_unknown_preset_lists_the_available_ones() -> None:
    presets = recenv.available_presets()
    with pytest.raises(ValueError, match=escaped("unknown env preset 'tiny'", str(presets))):
        make_config("tiny")


def test_envs_validate_their_config_too() -> None:
    """The constructors go through the same validation as ``make_config``."""
    with pytest.raises(ValueError, match=escaped("EnvConfig.slate_size = 0", "allowed: [1, inf]")):
        ShoppingEnv(preset="small", slate_size=0)
    with pytest.raises(ValueError, match=escaped("'catalog.n_itemz'", "n_items")):
        ShoppingVectorEnv(2, preset="small", catalog={"n_itemz": 3})


@pytest.mark.parametrize("name", recenv.available_presets())
def test_every_preset_builds_resets_and_steps(name: str) -> None:
    config = make_config(name)
    env = ShoppingEnv(preset=name)
    assert env.config == config
    observation, _ = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    action = 0 if config.slate_size == 1 else np.arange(config.slate_size)
    observation, reward, terminated, truncated, info = env.step(action)
    assert env.observation_space.contains(observation)
    step, visit = observation["session"][0], observation["session"][-1]
    # one step taken, unless that step ended the shopper's first visit and a new one began
    assert (step, visit) in ((1, 0), (0, 1)), (step, visit)
    assert np.isfinite(reward) and not (terminated and truncated)
    assert info["clicked_item"] in (-1, *np.atleast_1d(action))


STRICT = {"slate_repeats": "strict"}  # repeated items raise instead of being replaced


def single_env(slate_size: int) -> ShoppingEnv:
    env = ShoppingEnv(preset="small", slate_size=slate_size, interface=STRICT)
    env.reset(seed=0)
    return env


def vector_env(slate_size: int) -> ShoppingVectorEnv:
    env = ShoppingVectorEnv(N_SHOPPERS, preset="small", slate_size=slate_size, interface=STRICT)
    env.reset(seed=0)
    return env


RANGE = escaped("allowed: item ids [0, 100)")
INTEGER_DTYPE = escaped("integer item ids", "float64")
BOOL_DTYPE = escaped("integer item ids", "bool")


@pytest.mark.parametrize(
    ("action", "message"),
    [
        pytest.param(-1, escaped("action -1 is out of range") + ".*" + RANGE, id="minus-one"),
        pytest.param(N_ITEMS, escaped("action 100 is out of range") + ".*" + RANGE, id="n_items"),
        pytest.param(np.int64(N_ITEMS), escaped("100") + ".*" + RANGE, id="numpy-n_items"),
        pytest.param(np.array([3]), escaped("shape (1,)", "expected ()"), id="wrong-shape"),
        pytest.param(3.0, INTEGER_DTYPE, id="python-float"),
        pytest.param(np.float64(3.0), INTEGER_DTYPE, id="numpy-float"),
        pytest.param(True, escaped("action True", "allowed: item ids [0, 100)"), id="bool"),
        pytest.param(np.bool_(True), BOOL_DTYPE, id="numpy-bool"),
    ],
)
def test_single_env_rejects_bad_item(action: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        single_env(slate_size=1).step(action)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        pytest.param([1, 2, 100], escaped("item id 100") + ".*" + RANGE, id="n_items"),
        pytest.param([-1, 2, 3], escaped("item id -1") + ".*" + RANGE, id="minus-one"),
        pytest.param([1, 2], escaped("shape (2,)", "expected (3,)", "3 item ids"), id="short"),
        pytest.param(5, escaped("shape ()", "expected (3,)"), id="scalar"),
        pytest.param([1.0, 2.0, 3.0], INTEGER_DTYPE, id="float"),
        pytest.param([True, False, True], BOOL_DTYPE, id="bool"),
        pytest.param([4, 7, 4], escaped("slate repeats item 4", "distinct"), id="repeated"),
    ],
)
def test_single_env_rejects_bad_slate(action: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        single_env(slate_size=SLATE).step(action)


def batch(*items: Any) -> list[Any]:
    """A batch of N_SHOPPERS valid item ids [0, 1, 2, ...] with ``items`` at the end."""
    return list(range(N_SHOPPERS - len(items))) + list(items)


@pytest.mark.parametrize(
    ("slate_size", "actions", "message"),
    [
        pytest.param(1, batch(-1), escaped("item id -1") + ".*" + RANGE, id="minus-one"),
        pytest.param(1, batch(N_ITEMS), escaped("item id 100") + ".*" + RANGE, id="n_items"),
        pytest.param(
            1,
            list(range(N_SHOPPERS + 1)),
            escaped("shape (5,)", "expected (4,)", "one action per shopper"),
            id="batch-too-large",
        ),
        pytest.param(1, [0, 1], escaped("shape (2,)", "expected (4,)"), id="batch-too-small"),
        pytest.param(1, 3, escaped("shape ()", "expected (4,)"), id="scalar"),
        pytest.param(1, np.zeros(N_SHOPPERS), INTEGER_DTYPE, id="float"),
        pytest.param(1, np.ones(N_SHOPPERS, dtype=bool), BOOL_DTYPE, id="bool"),
        pytest.param(
            SLATE,
            np.arange(N_SHOPPERS * SLATE).reshape(N_SHOPPERS, SLATE)[:, :2],
            escaped("shape (4, 2)", "expected (4, 3)"),
            id="short-slates",
        ),
        pytest.param(
            SLATE,
            np.arange(SLATE),
            escaped("shape (3,)", "expected (4, 3)"),
            id="one-slate-for-all",
        ),
        pytest.param(
            SLATE,
            [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 9, 10]],
            escaped("slate repeats item 9 for shopper 3", "distinct"),
            id="repeated",
        ),
    ],
)
def test_vector_env_rejects_bad_actions(slate_size: int, actions: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        vector_env(slate_size).step(actions)


@pytest.mark.parametrize("slate_size", [1, SLATE])
def test_rejected_action_leaves_the_session_untouched(slate_size: int) -> None:
    """Validation happens before the step: a bad action does not advance the shopper."""
    env = vector_env(slate_size)
    before = env.simulator.observe()
    bad = np.full(env.action_space.shape, N_ITEMS)
    with pytest.raises(ValueError):
        env.step(bad)
    for key, value in env.simulator.observe().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_nested_override_keeps_the_rest_of_a_given_config() -> None:
    env = ShoppingEnv(config=SMALL, catalog={"clickbait_fraction": 0.2})
    assert env.config.catalog.clickbait_fraction == 0.2
    assert env.config.catalog.n_items == N_ITEMS  # the rest of SMALL's catalog is kept
