"""CONTRIBUTING.md stays true: every path it names exists, and its worked scenario runs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

import recenv.sim.config
from recenv import ShoppingEnv, make_config

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "CONTRIBUTING.md").read_text()
PLACEHOLDER = re.compile(r"<[a-z_]+>")


def named_paths() -> list[str]:
    """Repository paths in backticks (``a/b.py``, ``a/b/``), placeholders excluded."""
    found = re.findall(r"`([A-Za-z_][\w./-]*(?:/|\.py|\.md|\.yaml))`", TEXT)
    return sorted({path for path in found if not PLACEHOLDER.search(path) and "*" not in path})


def exists(path: str) -> bool:
    """A path from the root, or a bare file name (``core.py``) of some project file."""
    if "/" in path:
        return (ROOT / path).exists()
    return any(
        found
        for package in ("recenv", "agents", "experiments", "tests")
        for found in (ROOT / package).rglob(path)
    )


def test_the_page_names_real_paths() -> None:
    paths = named_paths()
    assert "recenv/metrics.py" in paths and "tests/test_boundaries.py" in paths
    missing = [path for path in paths if not exists(path)]
    assert missing == []


def test_the_layout_picture_lists_every_simulator_module() -> None:
    modules = {path.name for path in (ROOT / "recenv" / "sim").glob("*.py")} - {"__init__.py"}
    picture = TEXT[TEXT.index("## The layout in one picture") : TEXT.index("## Where a change")]
    internal = {"memory.py", "expectations.py", "planning.py", "streams.py", "threads.py"}
    internal |= {"kernel_cache.py", "borrow.py"}  # the core's helpers, not places to contribute
    assert {name for name in modules - internal if name not in picture} == set()


def test_the_worked_scenario_loads_and_steps(tmp_path: Path, monkeypatch) -> None:
    block = TEXT[TEXT.index("### A new scenario") :]
    start = block.index("```yaml") + len("```yaml")
    example = yaml.safe_load(block[start : block.index("```", start)])
    assert example["defaults"] == ["base_env", "_self_"]
    presets = tmp_path / "env"
    shutil.copytree(recenv.sim.config.PRESET_DIR, presets)
    (presets / "worked.yaml").write_text(yaml.safe_dump(example))
    monkeypatch.setattr(recenv.sim.config, "PRESET_DIR", presets)
    config = make_config("worked")
    assert config.catalog.n_items == example["catalog"]["n_items"]
    assert config.dynamics.boredom == example["dynamics"]["boredom"]
    assert config.history_length == make_config("default").history_length  # the rest: defaults
    env = ShoppingEnv(config)
    env.reset(seed=0)
    env.step(example["catalog"]["n_items"] - 1)  # the last item of the larger catalog
    assert len(env.item_features["category"]) == example["catalog"]["n_items"]


@pytest.mark.parametrize("section", ["### A new agent", "### A new dynamics effect"])
def test_every_section_is_written(section: str) -> None:
    body = TEXT[TEXT.index(section) :].split("\n### ")[0].split("\n## ")[0]
    assert "_SECTION" not in body and len(body.split()) > 40
