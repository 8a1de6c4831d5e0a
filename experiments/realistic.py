"""The ``realistic`` preset: a session-fitted world whose recommendations click like a shop's.

    python -m experiments.realistic base=taobao obd=../shared/data/obd/random/all \\
        name=realistic

Starts from a preset fitted on session logs (``experiments.calibrate kind=sessions``: its
funnel, patience, tastes and returning shoppers), shows one recommended item per step (a
widget, instead of a shop page of many), and sets the click level (``choice.
no_click_utility``) so that a uniform-random recommendation is clicked as often as on the
Open Bandit Dataset's uniform-random log (clicks / impressions): a bisection on the
simulated random-policy CTR of 2,000 evaluation shoppers. Writes ``recenv/presets/env/<name>.yaml``
with a header saying where each part comes from; never overwrites an existing preset unless
``overwrite=true``, and a name is one plain word (``experiments.preset_files``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents.evaluation import evaluate
from agents.random import RandomAgent
from experiments.preset_files import check_scenario_name, parse_flag, refuse_existing
from recenv.offline.data import load_obd
from recenv.sim.config import PRESET_DIR, load_preset, make_config

ALLOWED = {"base", "obd", "name", "shoppers", "overwrite"}


def random_ctr(overrides: dict[str, Any], shoppers: int) -> float:
    config = make_config(None, **overrides)
    return evaluate(RandomAgent(config), config, shoppers, 123_456).summary["ctr"].mean


def solve_click_level(overrides: dict[str, Any], target: float, shoppers: int) -> float:
    """The no-click utility at which random recommendations reach ``target`` CTR."""
    low, high = -5.0, 15.0  # CTR falls as the no-click utility rises
    for _ in range(18):
        middle = (low + high) / 2
        trial = {**overrides, "choice": {**overrides.get("choice", {}), "no_click_utility": middle}}
        if random_ctr(trial, shoppers) > target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def realistic(
    base: str, obd: str | Path, name: str, shoppers: int = 2000, overwrite: bool = False
) -> Path:
    """Write the preset ``<name>``: ``base``, one item per step at the OBD click rate."""
    target_path = PRESET_DIR / f"{check_scenario_name(name)}.yaml"
    refuse_existing(name, (target_path,), overwrite)
    log = load_obd(obd)
    target = float(np.mean(log.frame["click"].to_numpy(dtype=float)))
    overrides = load_preset(base)
    overrides.pop("defaults", None)
    overrides["slate_size"] = 1
    level = solve_click_level(overrides, target, shoppers)
    overrides.setdefault("choice", {})["no_click_utility"] = round(level, 4)
    reached = random_ctr(overrides, shoppers)
    header = [
        f"# Realistic rates: `{base}` (fitted on real session logs; see its header) with one",
        "# recommended item per step, clicked at the Open Bandit Dataset's uniform-random rate",
        f"# when random: target {target:.4%} ({Path(obd).name}), reached {reached:.4%} on",
        f"# {shoppers} evaluation shoppers (choice.no_click_utility by bisection). Written by",
        f"# `python -m experiments.realistic base={base} obd=<folder> name={name}`.",
        "defaults:",
        "  - base_env",
        "  - _self_",
    ]
    target_path.write_text("\n".join(header) + "\n" + yaml.safe_dump(overrides, sort_keys=False))
    return target_path


def main(argv: list[str] | None = None) -> Path:
    arguments = dict(arg.split("=", 1) for arg in (sys.argv[1:] if argv is None else argv))
    if set(arguments) - ALLOWED or not {"base", "obd"} <= set(arguments):
        raise SystemExit(
            "usage: python -m experiments.realistic base=PRESET obd=OBD_CAMPAIGN_FOLDER "
            "[name=realistic shoppers=2000 overwrite=false]"
        )
    path = realistic(
        arguments["base"],
        arguments["obd"],
        arguments.get("name", "realistic"),
        int(arguments.get("shoppers", 2000)),
        parse_flag(arguments, "overwrite"),
    )
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
