"""Property: any config dictionary either validates or raises ``ValueError`` naming a field.

Random nested dictionaries (real and misspelt field names, sections replaced by values,
values of every type: huge, negative, NaN, infinite, numpy scalars, text, containers)
never escape as another exception type (``TypeError``, ``OverflowError``,
``AttributeError``, ``MemoryError`` ...), and a config that validates round-trips.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from recenv.sim.config import EnvConfig, config_from_dict

SECTIONS = {
    spec.name: spec.default_factory
    for spec in dataclasses.fields(EnvConfig)
    if spec.default_factory is not dataclasses.MISSING
}
SCHEMAS = [EnvConfig, *SECTIONS.values()]
QUALIFIED_FIELDS = {
    f"{schema.__name__}.{spec.name}" for schema in SCHEMAS for spec in dataclasses.fields(schema)
}

plausible = st.one_of(
    st.integers(min_value=0, max_value=50), st.floats(min_value=0.0, max_value=1.0)
)
weird = st.one_of(
    st.integers(min_value=-(2**200), max_value=2**200),
    st.sampled_from([10**400, -(10**400), 2**63, 2**64, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([np.int64(7), np.uint64(2**64 - 1), np.float32("nan"), np.bool_(True)]),
    st.sampled_from([decimal.Decimal("1.5"), 1 + 2j, b"bytes", math.inf]),
    st.booleans(),
    st.none(),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
values = st.one_of(plausible, plausible, weird)


def section_strategy(schema: type) -> st.SearchStrategy:
    names = [spec.name for spec in dataclasses.fields(schema)]
    keys = st.one_of(st.sampled_from(names), st.sampled_from(names), st.text(max_size=8))
    return st.dictionaries(keys, values, max_size=4)


def mostly(usual: st.SearchStrategy, rare: st.SearchStrategy) -> st.SearchStrategy:
    """``usual`` nine times in ten, else ``rare``."""
    return st.integers(0, 9).flatmap(lambda draw: rare if draw == 0 else usual)


top_level_names = [spec.name for spec in dataclasses.fields(EnvConfig)]
config_dicts = st.fixed_dictionaries(
    {},
    optional={
        # mostly a section of (real or misspelt) fields, one time in ten a stray value
        **{name: mostly(section_strategy(schema), values) for name, schema in SECTIONS.items()},
        **{name: values for name in top_level_names if name not in SECTIONS},
    },
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(config_dicts)
def test_random_configs_validate_or_raise_a_value_error_naming_a_field(data: dict) -> None:
    try:
        config = config_from_dict(data)
    except ValueError as error:
        message = str(error)
        named = set(re.findall(r"\b\w+Config\.\w+", message)) & QUALIFIED_FIELDS
        assert named or message.startswith("unknown config field '"), message
        return
    assert isinstance(config, EnvConfig)
    assert config_from_dict(dataclasses.asdict(config)) == config  # a valid config round-trips
