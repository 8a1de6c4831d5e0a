"""Stylized facts of a real or a simulated session log, with 95% CIs, and a side-by-side plot.

    python -m experiments.stylized_facts data=../shared/data/taobao window=taobao \\
        out=outputs/facts/taobao.json
    python -m experiments.stylized_facts data=scenario:default policy=random shoppers=2000 \\
        out=outputs/facts/default_random.json compare=outputs/facts/taobao.json

``data`` is a Taobao-format CSV (or a folder holding one; ``format=events`` reads a generic
CSV/Parquet event log instead) or ``scenario:<preset>``: a log simulated on that env
preset (``recenv/presets/env``) under ``policy``, an agent preset of ``conf/agent`` (default
``random``), trained first with its preset's budget if it learns. The facts and their
definitions are those of ``recenv.offline.stylized_facts``; the JSON holds every one. With
``compare=<json of another run>`` a PNG next to the JSON sets the two side by side:
events-per-session distributions, hazard curves, gap distributions, and the scalar facts.

Other arguments: ``seed`` (simulated shoppers, agent, bootstrap; 0), ``shoppers`` (2000),
``gap_minutes`` (session cut, 30), ``window`` (``none``, ``taobao`` or ``START,END`` in Unix
seconds: rows outside are dropped and counted), ``step_seconds`` (30) and ``gap_hours``
(``MEDIAN,SIGMA`` of the log-normal gap between visits, ``24,1``), ``holdout=SHARE`` (or
``--holdout SHARE``: the facts of that share of the shoppers, split by user id with
``seed``, for checks on shoppers a calibration never saw), ``resamples`` (2000).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from experiments.factory import (
    CONFIG_DIR,
    build_agent,
    compose_config,
    env_config_from,
    training_env,
)
from recenv.offline.data.sessions import (
    TAOBAO_WINDOW,
    SessionLog,
    Window,
    load_session_events,
    load_taobao,
)
from recenv.offline.data.simulated_sessions import simulate_session_log
from recenv.offline.stylized_facts import stylized_facts
from recenv.sim.config import available_presets

ARGUMENTS = (
    "data",
    "out",
    "format",
    "window",
    "policy",
    "shoppers",
    "seed",
    "gap_minutes",
    "step_seconds",
    "gap_hours",
    "compare",
    "holdout",
    "resamples",
)
SIMULATION_ONLY = ("policy", "shoppers", "step_seconds", "gap_hours")


def agent_presets() -> list[str]:
    """The agent presets a simulated log can run (``conf/agent/*.yaml``)."""
    return sorted(path.stem for path in (CONFIG_DIR / "agent").glob("*.yaml"))


def real_log(data: str, log_format: str, window: Window | None, gap_minutes: float) -> SessionLog:
    """A Taobao-format CSV (file or folder) or a generic event log (``format=events``)."""
    if log_format == "taobao":
        return load_taobao(data, window, gap_minutes)
    return load_session_events(data, window=window, gap_minutes=gap_minutes)


def simulated_log(
    preset: str,
    policy: str,
    n_shoppers: int,
    seed: int,
    gap_minutes: float,
    step_seconds: float,
    gap_hours: tuple[float, float],
) -> tuple[SessionLog, dict[str, Any]]:
    """The session log of ``preset`` under agent preset ``policy`` (trained if it learns)."""
    cfg = compose_config([f"env={preset}", f"agent={policy}", f"seed={seed}"])
    env_config = env_config_from(cfg)
    agent = build_agent(cfg, env_config)
    budget = int(cfg.train.total_steps)
    if budget > 0:
        print(f"training {policy} for {budget} shopper-steps (its preset's budget)")
        agent.learn(training_env(cfg, env_config), budget)
    log = simulate_session_log(
        env_config,
        agent,
        n_shoppers,
        seed,
        step_seconds,
        gap_hours,
        gap_minutes,
        name=f"scenario:{preset} / {policy}",
    )
    return log, {"preset": preset, "policy": policy, "train_steps": budget}


def run(arguments: dict[str, str]) -> dict[str, Any]:
    """Load or simulate the log, compute its facts, write the JSON (and the PNG)."""
    seed = _number(arguments, "seed", 0, int, lambda v: v >= 0, "integers >= 0")
    gap_minutes = _number(arguments, "gap_minutes", 30.0, float, lambda v: v > 0, "numbers > 0")
    resamples = _number(arguments, "resamples", 2000, int, lambda v: v >= 1, "integers >= 1")
    window = _window(arguments.get("window", "none"))
    holdout = _number(arguments, "holdout", None, float, lambda v: 0 < v < 1, "0 < share < 1")
    data = arguments["data"]
    details: dict[str, Any] = {}
    if data.startswith("scenario:"):
        preset = _choice(arguments, "data", data.removeprefix("scenario:"), available_presets())
        policy = _choice(arguments, "policy", arguments.get("policy", "random"), agent_presets())
        shoppers = _number(arguments, "shoppers", 2000, int, lambda v: v >= 1, "integers >= 1")
        step_seconds = _number(arguments, "step_seconds", 30.0, float, lambda v: v > 0, "> 0")
        gap_hours = _gap_hours(arguments.get("gap_hours", "24,1"))
        log, details = simulated_log(
            preset, policy, shoppers, seed, gap_minutes, step_seconds, gap_hours
        )
        details |= {"shoppers": shoppers, "step_seconds": step_seconds, "gap_hours": gap_hours}
    else:
        given = [name for name in SIMULATION_ONLY if name in arguments]
        if given:
            raise SystemExit(f"{', '.join(given)}: only for data=scenario:<preset>")
        log_format = _choice(
            arguments, "format", arguments.get("format", "taobao"), ["events", "taobao"]
        )
        log = real_log(data, log_format, window, gap_minutes)
        details = {"load_report": str(log.report)}
    if holdout is not None:
        log, _ = log.split_by_user(holdout, seed)
        details["holdout"] = {"share": holdout, "seed": seed, "users": log.n_users}
    report = stylized_facts(log, window, seed, resamples)
    report |= {"details": details, "arguments": arguments}
    out = Path(arguments.get("out", "outputs/stylized_facts.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    if "compare" in arguments:
        other = json.loads(Path(arguments["compare"]).read_text())
        plot_comparison(other, report, out.with_suffix(".png"))
        print(f"wrote {out.with_suffix('.png')}")
        print(format_table([other, report]))
    else:
        print(format_table([report]))
    return report


def format_table(reports: Sequence[dict[str, Any]]) -> str:
    """The scalar facts of one or more runs, side by side, each with its 95% CI."""
    lines = ["fact".ljust(30) + "".join(r["source"][:34].ljust(36) for r in reports)]
    for name in reports[0]["facts"]:
        cells = [_cell(r["facts"].get(name)) for r in reports]
        lines.append(name.ljust(30) + "".join(cell.ljust(36) for cell in cells))
    for name in ("events_per_session_quantiles", "gap_hours_quantiles"):
        cells = [_list(r["distributions"][name]["value"]) for r in reports]
        lines.append(name.ljust(30) + "".join(cell.ljust(36) for cell in cells))
    cells = [_list(r["distributions"]["hazard"]["value"][:6]) for r in reports]
    lines.append("hazard k=1..6".ljust(30) + "".join(cell.ljust(36) for cell in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    return run(arguments)


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """``key=value`` pairs (``--key value`` and ``--key=value`` too); unknown keys exit."""
    tokens, pairs = list(argv), {}
    while tokens:
        token = tokens.pop(0)
        if token.startswith("--") and "=" not in token and tokens:
            token = f"{token}={tokens.pop(0)}"
        key, separator, value = token.removeprefix("--").partition("=")
        if not separator or key not in ARGUMENTS:
            raise SystemExit(
                f"argument {token!r} is not allowed; use key=value, key one of {list(ARGUMENTS)}"
            )
        pairs[key] = value
    if "data" not in pairs:
        raise SystemExit("data= is required: a Taobao-format CSV, a folder, or scenario:<preset>")
    return pairs


def _number(
    arguments: dict[str, str],
    key: str,
    default: float | None,
    kind: Callable[[str], Any],
    valid: Callable[[Any], bool],
    allowed: str,
) -> Any:
    if key not in arguments:
        return default
    try:
        value = kind(arguments[key])
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise SystemExit(f"{key} = {arguments[key]!r} is not allowed; allowed: {allowed}")
    return value


def _choice(arguments: dict[str, str], key: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise SystemExit(
            f"{key} = {arguments.get(key, value)!r} is not allowed; choose one of {list(allowed)}"
        )
    return value


def _window(text: str) -> Window | None:
    if text == "none":
        return None
    if text == "taobao":
        return TAOBAO_WINDOW
    start, _, end = text.partition(",")
    try:
        window = (int(start), int(end))
    except ValueError:
        window = None
    if window is None or window[0] >= window[1]:
        raise SystemExit(f"window = {text!r} is not allowed; allowed: none, taobao or START,END")
    return window


def _gap_hours(text: str) -> tuple[float, float]:
    median, _, sigma = text.partition(",")
    try:
        gap = (float(median), float(sigma))
    except ValueError:
        gap = (0.0, -1.0)
    if not (gap[0] > 0 and gap[1] >= 0):
        raise SystemExit(
            f"gap_hours = {text!r} is not allowed; allowed: MEDIAN,SIGMA (median > 0, sigma >= 0)"
        )
    return gap


def _cell(fact: dict[str, float | None] | None) -> str:
    if fact is None or fact["value"] is None:
        return "-"
    return f"{fact['value']:.4g} [{fact['ci_low']:.4g}, {fact['ci_high']:.4g}]"


def _list(values: Sequence[float | None]) -> str:
    return " ".join("-" if value is None else f"{value:.3g}" for value in values)


def plot_comparison(first: dict[str, Any], second: dict[str, Any], path: Path) -> None:
    """Two runs side by side: the three distributions on top, one panel per scalar fact."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = (first, second)
    names = [run["source"] for run in runs]
    scalars = [name for name in first["facts"] if name in second["facts"]]
    rows = 1 + -(-len(scalars) // 5)
    figure = plt.figure(figsize=(16, 3.6 * rows))
    grid = figure.add_gridspec(rows, 15)
    _bars(figure.add_subplot(grid[0, :5]), runs, "events_per_session_histogram", "bins")
    figure.axes[-1].set(title="events per session", xlabel="rows", ylabel="share of sessions")
    axis = figure.add_subplot(grid[0, 5:10])
    for run, colour in zip(runs, COLOURS, strict=True):
        hazard = run["distributions"]["hazard"]
        low, value, high = (_floats(hazard[key]) for key in ("ci_low", "value", "ci_high"))
        axis.plot(hazard["k"], value, marker="o", color=colour, label=run["source"])
        axis.fill_between(hazard["k"], low, high, color=colour, alpha=0.2)
    axis.set(title="hazard of ending after k views", xlabel="k views", ylabel="h(k)")
    axis.legend(fontsize=8)
    _bars(figure.add_subplot(grid[0, 10:]), runs, "gap_hours_histogram", "bins")
    figure.axes[-1].set(title="gap between sessions", xlabel="hours", ylabel="share of gaps")
    for number, name in enumerate(scalars):
        row, column = divmod(number, 5)
        axis = figure.add_subplot(grid[1 + row, 3 * column : 3 * column + 3])
        facts = [run["facts"][name] for run in runs]
        value = _floats([fact["value"] for fact in facts])
        errors = _errors(facts)
        axis.bar([0, 1], value, yerr=errors, color=COLOURS, capsize=4)
        axis.set_xticks([0, 1], ["A", "B"])
        axis.set_title(name, fontsize=9)
    figure.suptitle(f"A: {names[0]}    B: {names[1]}    (95% CIs, shoppers resampled)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


COLOURS = ("tab:blue", "tab:orange")


def _bars(axis: Any, runs: Sequence[dict[str, Any]], key: str, labels: str) -> None:
    """Grouped bars of one binned distribution per run, with CI error bars."""
    width = 0.4
    for offset, (run, colour) in enumerate(zip(runs, COLOURS, strict=True)):
        series = run["distributions"][key]
        facts = [
            dict(zip(("value", "ci_low", "ci_high"), cells, strict=True))
            for cells in zip(series["value"], series["ci_low"], series["ci_high"], strict=True)
        ]
        positions = np.arange(len(series[labels])) + (offset - 0.5) * width
        axis.bar(
            positions,
            _floats(series["value"]),
            width,
            yerr=_errors(facts),
            color=colour,
            capsize=2,
            label=run["source"],
        )
    axis.set_xticks(np.arange(len(series[labels])), series[labels], fontsize=8)
    axis.legend(fontsize=8)


def _floats(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if value is None else value for value in values], dtype=float)


def _errors(facts: Sequence[dict[str, float | None]]) -> np.ndarray:
    """Error-bar lengths below and above each value (0 where a fact is undefined)."""
    value = _floats([fact["value"] for fact in facts])
    low, high = _floats([f["ci_low"] for f in facts]), _floats([f["ci_high"] for f in facts])
    return np.nan_to_num(np.clip(np.stack([value - low, high - value]), 0.0, None))


if __name__ == "__main__":
    main()
