"""Every config field reaches the compiled kernels, or is documented as acting elsewhere.

``recenv.sim.params`` generates the kernels' ``ModelParams`` from the config; these tests
make the generation's bookkeeping honest: no field is forgotten, none is copied but never
read, and every "acts elsewhere" entry names a module that really reads the field.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest

import recenv
from recenv.sim import params
from recenv.sim.core import Simulator

SIM_DIR = Path(params.__file__).resolve().parent
KERNEL_SOURCE = "\n".join(
    path.read_text() for path in sorted(SIM_DIR.glob("*.py")) if path.name != "params.py"
)
FIELDS = params.config_fields()
SECTIONS = {section for section, _, _ in FIELDS if section}


def outside_entry(section: str, name: str) -> tuple[str, str] | None:
    """The field's own OUTSIDE_KERNEL entry, else its section's."""
    entry = params.OUTSIDE_KERNEL.get(params.dotted(section, name))
    return entry if entry is not None else params.OUTSIDE_KERNEL.get(section)


def module_source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin).read_text()


def test_every_config_field_reaches_a_kernel_or_is_listed_outside() -> None:
    copied = {params.dotted(section, name) for section, name in params.COPIED}
    derived_from = {source for _, sources in params.DERIVED.values() for source in sources}
    for section, name, kind in FIELDS:
        field = params.dotted(section, name)
        outside = outside_entry(section, name) is not None
        assert field in copied or field in derived_from or outside, (
            f"config field {field} ({kind}) reaches no kernel and is not listed in "
            "OUTSIDE_KERNEL: add it there (with the module that reads it) or to DERIVED"
        )
        assert not (field in copied and outside), f"{field} is copied and listed outside"


def test_every_kernel_field_is_read_by_a_kernel() -> None:
    for name in params.ModelParams._fields:
        assert re.search(rf"\bparams\.{name}\b", KERNEL_SOURCE), (
            f"ModelParams.{name} is read by no kernel: list its config field in OUTSIDE_KERNEL"
        )


def test_every_field_outside_the_kernels_is_read_where_its_entry_says() -> None:
    known = {params.dotted(section, name) for section, name, _ in FIELDS} | SECTIONS
    for entry, (module, why) in params.OUTSIDE_KERNEL.items():
        assert entry in known, f"OUTSIDE_KERNEL names {entry}, which is no config field"
        assert why
        names = [name for section, name, _ in FIELDS if section == entry] or [
            entry.rsplit(".", 1)[-1]
        ]
        source = module_source(module)
        for name in names:
            if entry in SECTIONS and params.dotted(entry, name) in params.OUTSIDE_KERNEL:
                continue  # the field's own entry names its module
            assert re.search(rf"\.{name}\b", source), f"{module} never reads {entry}: {name}"
            if entry not in SECTIONS:
                assert not re.search(rf"\bparams\.{name}\b", KERNEL_SOURCE), entry


@pytest.mark.parametrize("preset", ["long_term", "search"])
def test_model_params_carry_the_config_values(preset: str) -> None:
    config = recenv.make_config(preset, dynamics={"promotion_boost": 0.25})
    simulator = Simulator(config, 1)
    values = simulator.params._asdict()
    for section, name in params.COPIED:
        part = getattr(config, section) if section else config
        assert values[name] == getattr(part, name), name
    assert values["episode_is_shopper"] == (config.episode == "shopper")
    assert values["n_items"] == simulator.catalog.n_items
    assert values["min_price"] == float(simulator.catalog.price.min())


def test_a_new_config_field_needs_no_edit_of_params() -> None:
    """``ModelParams`` follows the schema: its copied fields are the schema's scalars."""
    scalars = {
        spec.name
        for section in ("shoppers", "choice", "funnel", "dynamics")
        for spec in dataclasses.fields(getattr(recenv.EnvConfig(), section))
        if spec.type in ("int", "float", "bool")
    }
    outside = {entry.rsplit(".", 1)[-1] for entry in params.OUTSIDE_KERNEL if "." in entry}
    assert scalars - outside <= set(params.ModelParams._fields)
