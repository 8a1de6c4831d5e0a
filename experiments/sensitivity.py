"""Sensitivity grid: on which dynamics does RL's advantage over simple rules hold?

    python -m experiments.sensitivity                                   # default grid (hours)
    python -m experiments.sensitivity --env small --seeds 0 1 --quick   # smoke run (minutes)
    python -m experiments.sensitivity --knobs clickbait boredom --budget-scale 0.5
    python -m experiments.sensitivity --factorial clickbait boredom fatigue
    python -m experiments.sensitivity --dry-run                         # print the grid only

A *knob* is one mechanism of the simulator: a field of the env config and the value that
switches it off (``KNOBS``: one line each). The default grid varies one knob at a time
around the preset: ``base`` (no override), then per knob ``off``, ``x0.5`` and ``x2`` of its
base value; ``--factorial`` instead crosses on/off of the chosen knobs (2^k cells). A knob
the composed config does not have is skipped with a note, and so is a cell whose values
fail the config's range checks, before any training starts.

In every cell each agent trains with its preset's budget (times ``--budget-scale``) on each
seed and meets the same evaluation shoppers (``experiments.agent_runs``); an agent with
nothing to train that plays the same sessions on two seeds (an oracle reads the hidden
state, not a seed) is not rerun for the other seeds: that evaluation pairs with each.
Per cell: each agent's mean return with its 95% CI over seeds and shoppers, the normalised
score ``(agent - random) / (best oracle - random)``, the ordering, and the paired
differences ``dqn - best_baseline``, ``dqn - myopic_oracle`` and ``best_oracle -
myopic_oracle`` with their CIs; *dqn beats the best baseline* and *a long-term gap exists*
when those CIs lie above zero. ``--out`` receives ``sensitivity.json`` (rewritten after
every cell, so ``--resume`` continues an interrupted grid), ``sensitivity.md`` and
``sensitivity.png`` (``experiments.sensitivity_report``).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from agents.evaluation import EvaluationResult, paired_difference, pooled_estimate
from experiments.agent_runs import scaled_budget, train_and_evaluate
from experiments.factory import CONFIG_DIR, compose_config, env_config_from
from experiments.sensitivity_report import write_outputs, yes_no
from recenv.sim.config import available_presets

Log = Callable[[str], None]
Value = float | int | bool | str


@dataclass(frozen=True)
class Knob:
    """One mechanism: its field under ``env`` and the neutral value that switches it off.

    ``on`` is the strength to use when the preset leaves the mechanism off (base == off);
    without it such a knob has nothing to halve or double and is skipped. A true/false
    field or a named choice is a switch: cells ``off`` / ``on`` only.
    """

    name: str
    path: str
    off: Value = 0.0
    on: Value | None = None


# Adding a mechanism to the grid is one line here; knobs absent from the config are skipped.
KNOBS: tuple[Knob, ...] = (
    Knob("clickbait", "catalog.clickbait_fraction"),
    Knob("boredom", "dynamics.boredom"),
    Knob("fatigue", "dynamics.fatigue_per_exposure"),
    Knob("patience_per_quality", "dynamics.patience_per_quality"),
    Knob("taste_drift", "dynamics.taste_drift_purchase"),
    Knob("satiation", "dynamics.satiation", on=0.5),
    Knob("complements", "dynamics.complement_boost", on=0.5),
    Knob("budget_carry", "shoppers.budget_refill", off=1.0, on=0.4),
    Knob("returning", "episode", off="session", on="shopper"),
    Knob("taste_spread", "shoppers.taste_noise"),
)
STRENGTHS = {"x0.5": 0.5, "x2": 2.0}  # multiples of a knob's base strength
RL_AGENT = "dqn"
DEFAULT_AGENTS = (
    "random",
    "custom_example",
    "rule",
    "myopic_oracle",
    "long_term_oracle",
    "planner",
    "mlp",
    RL_AGENT,
)
AGENT_DIR = CONFIG_DIR / "agent"
QUICK_BUDGET_SCALE = 0.02  # --quick: 2% of each preset's budget (checks the pipeline only)
QUICK_OVERRIDES = ("eval.n_shoppers=200",)
ORACLE, BASELINE = "oracle", "baseline"


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a name and the Hydra env overrides that define it."""

    name: str
    overrides: tuple[str, ...] = ()


def available_agents() -> list[str]:
    """The agent presets of ``conf/agent``."""
    return sorted(path.stem for path in AGENT_DIR.glob("*.yaml"))


def resolve_agents(names: Sequence[str] | None, log: Log = print) -> list[str]:
    """The agents to run: ``names`` (checked), or the defaults whose presets exist; random first."""
    known = available_agents()
    if names is None:
        for missing in [name for name in DEFAULT_AGENTS if name not in known]:
            log(f"note: agent preset {missing!r} is not in conf/agent; left out")
        names = [name for name in DEFAULT_AGENTS if name in known]
    for name in names:
        if name not in known:
            raise ValueError(f"agent = {name!r} is not a preset; choose from {known}")
    return list(dict.fromkeys(["random", *names]))  # random: the floor of the scores


def select_knobs(names: Sequence[str] | None, knobs: Sequence[Knob] = KNOBS) -> list[Knob]:
    """The knobs called ``names`` (by name or config path), all of them for None."""
    if names is None:
        return list(knobs)
    by_name = {knob.name: knob for knob in knobs} | {knob.path: knob for knob in knobs}
    for name in names:
        if name not in by_name:
            raise ValueError(
                f"knob = {name!r} is unknown; choose from {[knob.name for knob in knobs]}"
            )
    return list(dict.fromkeys(by_name[name] for name in names))


def knob_levels(knob: Knob, base: Value) -> dict[str, Value]:
    """The values a knob takes besides its base: ``off``, ``on``, halved and doubled strengths.

    A switch (a true/false or a named choice) has only ``off`` and ``on``.
    """
    on = _on_value(knob, base)
    levels: dict[str, Value] = {} if base == knob.off else {"off": knob.off}
    if on is None:
        return levels
    if on != base:
        levels["on"] = on
    if isinstance(base, (bool, str)):
        return levels
    for label, factor in STRENGTHS.items():
        scaled = on * factor
        levels[label] = round(scaled) if isinstance(base, int) else float(scaled)
    return levels


def _on_value(knob: Knob, base: Value) -> Value | None:
    """The mechanism's strength when on: the base, else ``knob.on`` (a flag: its negation)."""
    if base != knob.off:
        return base
    if knob.on is None and isinstance(base, bool):
        return not base
    return knob.on


def one_at_a_time_grid(
    knobs: Sequence[Knob], overrides: Sequence[str] = (), log: Log = print
) -> list[Cell]:
    """``base`` plus, per knob present in the config, its levels with every other knob at base."""
    cells = [Cell("base")]
    for knob, base in _present(knobs, overrides, log):
        levels = knob_levels(knob, base)
        if not levels:
            log(f"note: knob {knob.name!r} is off here (base {base!r}) and has no 'on'; skipped")
        cells += [
            Cell(f"{knob.name}={label}", (_override(knob, v),)) for label, v in levels.items()
        ]
    return _valid(cells, overrides, log)


def factorial_grid(
    knobs: Sequence[Knob], overrides: Sequence[str] = (), log: Log = print
) -> list[Cell]:
    """Every on/off combination of ``knobs`` (2^k cells); "on" is the base strength."""
    switches = []
    for knob, base in _present(knobs, overrides, log):
        on = _on_value(knob, base)
        if on is None:
            log(f"note: knob {knob.name!r} is off here (base {base!r}) and has no 'on'; skipped")
            continue
        switches.append([(knob, "on", on), (knob, "off", knob.off)])
    cells = []
    for combination in itertools.product(*switches):
        name = ", ".join(f"{knob.name}={label}" for knob, label, _ in combination)
        chosen = tuple(_override(knob, value) for knob, _, value in combination)
        cells.append(Cell(name or "base", chosen))
    return _valid(cells, overrides, log)


def _present(knobs: Sequence[Knob], overrides: Sequence[str], log: Log) -> list[tuple[Knob, Value]]:
    """The knobs the composed env config has, with their base values."""
    env = compose_config(list(overrides)).env
    present = []
    for knob in knobs:
        base = OmegaConf.select(env, knob.path)
        if isinstance(base, (bool, int, float, str)):
            present.append((knob, base))
        elif base is None:
            log(f"note: knob {knob.name!r}: env.{knob.path} is not in this config; skipped")
        else:
            log(f"note: knob {knob.name!r}: env.{knob.path} is {base!r}, not a value; skipped")
    return present


def _override(knob: Knob, value: Value) -> str:
    if isinstance(value, bool):
        text = str(value).lower()
    else:
        text = value if isinstance(value, str) else repr(value)
    return f"env.{knob.path}={text}"


def _valid(cells: list[Cell], overrides: Sequence[str], log: Log) -> list[Cell]:
    """Drop (with a note) the cells whose config fails its range checks, before any work."""
    valid = []
    for cell in cells:
        try:
            env_config_from(compose_config([*overrides, *cell.overrides]))
        except ValueError as error:
            log(f"note: cell {cell.name!r} skipped: {error}")
            continue
        valid.append(cell)
    return valid


def run_cell(
    cell: Cell,
    agents: Sequence[str],
    seeds: Sequence[int],
    overrides: Sequence[str] = (),
    budget_scale: float = 1.0,
    log: Log = print,
) -> tuple[dict[str, list[EvaluationResult]], dict[str, dict[str, Any]]]:
    """Train and evaluate every agent on every seed in one cell.

    Returns per agent one result per seed and its bookkeeping (role, budget, per-seed
    training seconds and shopper-steps). An agent that trains for 0 steps and plays the
    same sessions on the first two seeds (the oracles: they read the hidden state, not a
    seed) is seed-free: that evaluation is repeated for the other seeds, so seeds pair.
    """
    results: dict[str, list[EvaluationResult]] = {}
    runs: dict[str, dict[str, Any]] = {}
    for name in agents:
        done, seed_free = [], False
        for seed in seeds:
            run = train_and_evaluate(name, seed, [*overrides, *cell.overrides], budget_scale)
            done.append(run)
            log(
                f"  {name:>18} seed {seed}: return {run['result'].summary['return'].mean:7.3f}"
                f"  ({run['budget_steps']:,} steps, {run['train_seconds']:.1f} s)"
            )
            if len(done) == 2 and _seed_free(done):
                seed_free = True
                log(f"  {name:>18}: the same sessions on two seeds; reused for the others")
                break
        results[name] = [run["result"] for run in done]
        results[name] += [done[0]["result"]] * (len(seeds) - len(done))
        runs[name] = {
            "role": done[0]["role"],
            "budget_steps": done[0]["budget_steps"],
            "seed_free": seed_free,
            "train_seconds": [round(run["train_seconds"], 1) for run in done],
            "training_shopper_steps": [run["shopper_steps"]["training"] for run in done],
            "selection_shopper_steps": [run["shopper_steps"]["selection"] for run in done],
        }
    return results, runs


def _seed_free(runs: Sequence[Mapping[str, Any]]) -> bool:
    """Untrained and the same recommendations (hence sessions) on two seeds."""
    first, second = (run["result"].sessions for run in runs[:2])
    return runs[0]["budget_steps"] == 0 and all(
        np.array_equal(first[key], second[key]) for key in ("items", "return")
    )


def summarise_cell(
    results: Mapping[str, Sequence[EvaluationResult]],
    roles: Mapping[str, str],
    rl_agent: str = RL_AGENT,
) -> dict[str, Any]:
    """Means with CIs, normalised scores, ordering and the paired tests of one cell."""
    estimates = {name: pooled_estimate(runs) for name, runs in results.items()}
    means = {name: estimate.mean for name, estimate in estimates.items()}

    def best(role: str) -> str | None:
        named = [name for name in results if roles[name] == role]
        return max(named, key=means.__getitem__) if named else None

    best_oracle, best_baseline = best(ORACLE), best(BASELINE)
    floor = means.get("random")
    top = means[best_oracle] if best_oracle else None
    scale = top - floor if floor is not None and top is not None and top > floor else None
    agents = {
        name: {
            "role": roles[name],
            **estimate.as_dict(),
            "normalised": None if scale is None else (estimate.mean - floor) / scale,
            "per_seed_return": [result.summary["return"].mean for result in results[name]],
        }
        for name, estimate in estimates.items()
    }
    long_term = [name for name in results if roles[name] == ORACLE and name != "myopic_oracle"]
    pairs = {
        f"{rl_agent} - best_baseline": (rl_agent, best_baseline),
        f"{rl_agent} - myopic_oracle": (rl_agent, "myopic_oracle"),
        # a gap needs an oracle besides the myopic one (else the best oracle is the myopic)
        "best_oracle - myopic_oracle": (best_oracle if long_term else None, "myopic_oracle"),
    }
    differences = {
        label: paired_difference(results[first], results[second]).as_dict()
        for label, (first, second) in pairs.items()
        if first in results and second in results
    }

    def above_zero(label: str) -> bool | None:
        return differences[label]["ci_low"] > 0 if label in differences else None

    return {
        "agents": agents,
        "best_baseline": best_baseline,
        "best_oracle": best_oracle,
        "ordering": sorted(means, key=means.__getitem__, reverse=True),
        "differences": differences,
        f"{rl_agent}_beats_best_baseline": above_zero(f"{rl_agent} - best_baseline"),
        "long_term_gap": above_zero("best_oracle - myopic_oracle"),
    }


@dataclass(frozen=True)
class Study:
    """What a sensitivity run does: the cells, agents, seeds, shared overrides and budgets."""

    cells: tuple[Cell, ...]
    agents: tuple[str, ...]
    seeds: tuple[int, ...]
    overrides: tuple[str, ...] = ()  # before every cell's own, e.g. ("env=small",)
    budget_scale: float = 1.0
    rl_agent: str = RL_AGENT

    def __post_init__(self) -> None:
        if not self.cells or len({cell.name for cell in self.cells}) < len(self.cells):
            raise ValueError(f"cells = {[c.name for c in self.cells]}: need >= 1, names unique")
        if not self.seeds or len(set(self.seeds)) < len(self.seeds):
            raise ValueError(f"seeds = {list(self.seeds)}: need at least one, all different")
        if "random" not in self.agents:
            raise ValueError(f"agents = {list(self.agents)} must include 'random' (the floor)")
        if self.budget_scale <= 0:
            raise ValueError(f"budget_scale = {self.budget_scale!r} is out of range; allowed: > 0")

    def budgets(self) -> dict[str, int]:
        """Training shopper-steps per agent: its preset's budget times ``budget_scale``."""
        return {
            name: scaled_budget(
                int(compose_config([*self.overrides, f"agent={name}"]).train.total_steps),
                self.budget_scale,
            )
            for name in self.agents
        }

    def settings(self) -> dict[str, Any]:
        """Everything that fixes the results (a resumed run must match it exactly)."""
        composed = compose_config(list(self.overrides))
        return {
            "agents": list(self.agents),
            "seeds": list(self.seeds),
            "overrides": list(self.overrides),
            "budget_scale": self.budget_scale,
            "rl_agent": self.rl_agent,
            "budget_steps": self.budgets(),
            "eval": {"n_shoppers": int(composed.eval.n_shoppers), "seed": int(composed.eval.seed)},
            "cells": [
                {"name": cell.name, "overrides": list(cell.overrides)} for cell in self.cells
            ],
        }


def run_study(
    study: Study, out: Path, overwrite: bool = False, resume: bool = False, log: Log = print
) -> dict[str, Any]:
    """Run every cell, rewriting the three outputs after each; returns the report.

    An existing ``sensitivity.json`` is replaced only with ``overwrite``, or continued with
    ``resume`` (same settings required; finished cells are kept, not rerun).
    """
    if overwrite and resume:
        raise ValueError("overwrite and resume exclude each other; choose one")
    path = Path(out) / "sensitivity.json"
    report: dict[str, Any] = {"settings": study.settings(), "cells": [], "complete": False}
    if path.exists() and resume:
        report["cells"] = _finished_cells(path, report["settings"])
    elif path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} exists; pass --overwrite to replace it or --resume to continue it"
        )
    done = {cell["name"] for cell in report["cells"]}
    started, ran = time.perf_counter(), 0
    for index, cell in enumerate(study.cells, start=1):
        if cell.name in done:
            log(f"[{index}/{len(study.cells)}] {cell.name}: finished earlier, kept")
            continue
        log(f"[{index}/{len(study.cells)}] {cell.name}  {' '.join(cell.overrides) or '(base)'}")
        cell_start = time.perf_counter()
        results, runs = run_cell(
            cell, study.agents, study.seeds, study.overrides, study.budget_scale, log
        )
        roles = {name: run["role"] for name, run in runs.items()}
        summary = summarise_cell(results, roles, study.rl_agent)
        for name, run in runs.items():
            summary["agents"][name].update({k: v for k, v in run.items() if k != "role"})
        seconds = time.perf_counter() - cell_start
        ran += 1
        left = sum(1 for later in study.cells[index:] if later.name not in done)
        elapsed = time.perf_counter() - started
        report["cells"].append(
            {"name": cell.name, "overrides": list(cell.overrides), **summary, "seconds": seconds}
        )
        write_outputs(report, Path(out))
        beats = summary[f"{study.rl_agent}_beats_best_baseline"]
        log(
            f"  -> {' > '.join(summary['ordering'])}; {study.rl_agent} beats the best baseline: "
            f"{yes_no(beats)}; long-term gap: {yes_no(summary['long_term_gap'])} "
            f"({seconds:.0f} s; {elapsed:.0f} s so far, about {elapsed / ran * left:.0f} s left)"
        )
    order = {cell.name: index for index, cell in enumerate(study.cells)}
    report["cells"].sort(key=lambda cell: order[cell["name"]])
    report["complete"] = True
    write_outputs(report, Path(out))
    return report


def _finished_cells(path: Path, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The finished cells of an earlier run with exactly these settings."""
    earlier = json.loads(path.read_text())
    different = sorted(
        key
        for key in {*settings, *earlier["settings"]}
        if earlier["settings"].get(key) != settings.get(key)
    )
    if different:
        raise ValueError(
            f"cannot resume {path}: its settings differ in {different}; "
            "rerun with the same options, or pass --overwrite"
        )
    return list(earlier["cells"])


def build_cells(
    knobs: Sequence[str] | None,
    factorial: Sequence[str] | None,
    overrides: Sequence[str] = (),
    log: Log = print,
) -> list[Cell]:
    """The one-at-a-time grid over ``knobs`` (all by default), or the factorial of ``factorial``."""
    if factorial is not None:
        return factorial_grid(select_knobs(factorial), overrides, log)
    return one_at_a_time_grid(select_knobs(knobs), overrides, log)


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Parse the command line, run the grid and print where the outputs went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="default", help="the env preset of every cell")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--agents", nargs="+", help=f"agent presets (default: {DEFAULT_AGENTS})")
    grid = parser.add_mutually_exclusive_group()
    grid.add_argument("--knobs", nargs="+", help=f"vary only these {[k.name for k in KNOBS]}")
    grid.add_argument("--factorial", nargs="+", help="cross on/off of these knobs instead")
    parser.add_argument("--budget-scale", type=float, help="times each preset's train budget")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: budget scale {QUICK_BUDGET_SCALE} and {' '.join(QUICK_OVERRIDES)}",
    )
    parser.add_argument("--rl-agent", default=RL_AGENT, help="the agent whose advantage is tested")
    parser.add_argument("--out", type=Path, default=Path("outputs/sensitivity"))
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--dry-run", action="store_true", help="print the grid and stop")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest here)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every cell")
    args = parser.parse_args(argv)
    if args.env not in available_presets():
        raise ValueError(f"env = {args.env!r} is not a preset; choose from {available_presets()}")
    budget_scale = args.budget_scale
    if budget_scale is None:
        budget_scale = QUICK_BUDGET_SCALE if args.quick else 1.0
    overrides = (f"env={args.env}", *(QUICK_OVERRIDES if args.quick else ()), *args.overrides)
    log: Log = functools.partial(print, flush=True)
    cells = build_cells(args.knobs, args.factorial, overrides, log)
    study = Study(
        cells=tuple(cells),
        agents=tuple(resolve_agents(args.agents, log)),
        seeds=tuple(args.seeds),
        overrides=overrides,
        budget_scale=budget_scale,
        rl_agent=args.rl_agent,
    )
    budgets = ", ".join(f"{name} {steps:,}" for name, steps in study.budgets().items())
    log(f"training shopper-steps per seed: {budgets}")
    log(f"{len(cells)} cells x {len(study.agents)} agents x {len(study.seeds)} seeds:")
    for cell in cells:
        log(f"  {cell.name:<28} {' '.join(cell.overrides) or '(base)'}")
    if args.dry_run:
        return None
    import torch

    torch.set_num_threads(args.threads)
    report = run_study(study, args.out, args.overwrite, args.resume, log)
    log(f"wrote {args.out}/sensitivity.json, sensitivity.md, sensitivity.png")
    return report


if __name__ == "__main__":
    main()
