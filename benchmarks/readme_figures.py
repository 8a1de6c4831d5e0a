"""Regenerate the README's result tables from ``benchmarks/results/*.json``.

    python benchmarks/readme_figures.py           # rewrite every figures block of README.md
    python benchmarks/readme_figures.py --check   # exit 1 (and show the diff) if stale

A block is the text between ``<!-- figures:NAME -->`` and ``<!-- /figures -->``; ``NAME``
picks a renderer below, which reads one results file written by a documented command
(named in the block's first line). ``tests/test_readme_figures.py`` checks that every block
of the README equals its rendering, so no number in those tables can drift from its file.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- figures:(\w+) -->\n)(.*?)(<!-- /figures -->)", re.DOTALL)


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _ci(
    figures: dict, mean: str = "mean", low: str = "ci_low", high: str = "ci_high", digits: int = 2
) -> str:
    return f"{figures[mean]:.{digits}f} [{figures[low]:.{digits}f}, {figures[high]:.{digits}f}]"


def _range(summary: dict, digits: int = 0) -> str:
    """A median with its range: ``median (min-max)``."""
    low, mid, high = (f"{summary[key]:,.{digits}f}" for key in ("min", "median", "max"))
    return f"{mid} ({low}-{high})"


def planner_lines(report: dict) -> list[str]:
    """The planner's paired lead over the other references, when the report has it."""
    leads = [
        f"{key.removeprefix('planner_minus_')} {_ci(value)}"
        for key, value in report.items()
        if key.startswith("planner_minus_")
    ]
    return [f"Planner minus {', '.join(leads)} (paired, same shoppers).", ""] if leads else []


def agents_table(name: str = "agents.json") -> str:
    """``python benchmarks/agents.py --json benchmarks/results/<name> [-- env=...]``."""
    report = _load(name)
    agents = report["agents"]
    seeds = len(report["seeds"])
    overrides = " ".join(report["overrides"])
    own = "".join(
        f" --agent-override {agent} {override}"
        for agent, items in report.get("agent_overrides", {}).items()
        for override in items
    )
    if report["seeds"] != [0, 1, 2, 3, 4]:  # the script's default
        own = " --seeds " + " ".join(str(seed) for seed in report["seeds"]) + own
    lines = [
        f"`python benchmarks/agents.py{own} --json benchmarks/results/{name}"
        f"{' -- ' + overrides if overrides else ''}` ({seeds} seeds):",
        "",
        "| agent | role | mean return [95% CI over seeds and shoppers] | normalised | per seed "
        "| shopper-steps per seed: training + selection | training s per seed | DQN minus agent "
        "[95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, figures in sorted(agents.items(), key=lambda item: -item[1]["mean_return"]):
        difference = report.get(f"dqn_minus_{name}")
        training = figures["training_shopper_steps"]
        selection = figures["selection_shopper_steps"]
        steps = f"{max(training):,} + {max(selection):,}"
        seconds = ", ".join(f"{value:.1f}" for value in figures["train_seconds"])
        lines.append(
            f"| {name} | {figures['role']} | {_ci(figures, 'mean_return')} | "
            f"{figures['normalised']:.3f} | "
            + ", ".join(f"{value:.2f}" for value in figures["per_seed_return"])
            + f" | {steps} | {seconds} | "
            + (
                f"{difference['mean']:+.2f} [{difference['ci_low']:+.2f}, "
                f"{difference['ci_high']:+.2f}]"
                if difference
                else ""
            )
            + " |"
        )
    lines += [
        "",
        *planner_lines(report),
        f"Best simple baseline: `{report['best_baseline']}`. Normalised: (agent - random) / "
        f"({report.get('normalised_by', 'long_term_oracle')} - random). Shopper-steps: the "
        "largest over seeds.",
    ]
    return "\n".join(lines) + "\n"


def slateq_table() -> str:
    """``python benchmarks/slateq.py --json benchmarks/results/slateq.json``."""
    report = _load("slateq.json")
    agents = report["agents"]
    arms = [key.removesuffix("_minus_random") for key in report if key.endswith("_minus_random")]
    lines = [
        f"`python benchmarks/slateq.py --jobs {report['jobs']} --json "
        "benchmarks/results/slateq.json` "
        f"(`{' '.join(report['overrides'])}`; {len(report['seeds'])} training seeds, learners "
        f"{report['learner_steps']:,} shopper-steps each):",
        "",
        "| agent | role | mean return [95% CI] | normalised | per seed | CTR | session length "
        "| training s per seed | "
        + " | ".join(f"{arm} minus agent [95% CI]" for arm in arms)
        + " |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(arms),
    ]
    for name, figures in sorted(agents.items(), key=lambda item: -item[1]["mean_return"]):
        differences = [report.get(f"{arm}_minus_{name}") for arm in arms]
        cells = [
            f"{d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]" if d else ""
            for d in differences
        ]
        lines.append(
            f"| {name} | {figures['role']} | {_ci(figures, 'mean_return')} | "
            f"{figures['normalised']:.3f} | "
            + ", ".join(f"{value:.2f}" for value in figures["per_seed_return"])
            + f" | {figures['ctr']:.3f} | {figures['session_length']:.1f} | "
            + ", ".join(f"{value:.0f}" for value in figures["train_seconds"])
            + " | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        f"Best simple baseline: `{report['best_baseline']}`. Normalised: (agent - random) / "
        f"({report['normalised_by']} - random). Paired differences on the same shoppers, seeds "
        f"paired. Timings: {report['note']}.",
    ]
    return "\n".join(lines) + "\n"


def slateq_click_model_line() -> str:
    """``python benchmarks/slateq_click_model.py --json <results>/slateq_click_model.json``."""
    report = _load("slateq_click_model.json")
    learned = ", ".join(f"{value:.2f}" for value in report["position_utility_learned"])
    true = ", ".join(f"{value:.2f}" for value in report["position_utility_true"])
    return (
        "`python benchmarks/slateq_click_model.py --json "
        "benchmarks/results/slateq_click_model.json` (one seed, "
        f"{report['steps']:,} steps, `no_click_value=learned n_steps=5`): the click model's "
        "utilities rank the items of a shopper with a mean Spearman correlation of "
        f"{report['spearman_mean']:.2f} to the true ones; position utilities {learned} "
        f"(true {true}). Acting with the true attractions and the same learned item values: "
        f"return {_ci(report['return_true_attractions'])} against "
        f"{_ci(report['return_learned_attractions'])} with the learned ones (paired "
        f"difference {_ci(report['true_minus_learned'])}).\n"
    )


def _n(key: str) -> str:
    return f"{int(key):,}"


def before_cell(row: dict, name: str) -> str:
    """``; before X, Nx`` when the row was timed against a baseline tree (``--baseline``)."""
    if "speedup_over_baseline" not in row:
        return ""
    speedup = row["speedup_over_baseline"]
    return (
        f"; before {row[name]['median']:,.0f}, {speedup['of_medians']:.2f}x "
        f"({speedup['min']:.2f}-{speedup['max']:.2f})"
    )


def speed_table() -> str:
    """``python benchmarks/env_throughput.py [--baseline TREE] --json ...env_throughput.json``."""
    figures = _load("env_throughput.json")
    single = figures["single_env"]
    baseline = figures.get("baseline")
    command = "python benchmarks/env_throughput.py"
    if baseline:
        command += f" --baseline <checkout of {baseline['commit'][:7]}>"
    before = (
        "; before = that commit's env in the same rounds, Nx = after / before per round"
        if baseline
        else ""
    )
    lines = [
        f"`{command} --json benchmarks/results/env_throughput.json` "
        f"(median (min-max) of {figures['settings']['repeats']} alternated rounds; "
        f"commit {figures['machine']['git']['commit'][:7]}{before}):",
        "",
        "| measure | default | large (100,000 items) |",
        "|---|---|---|",
        f"| single env, `gymnasium.make`, steps/s (ceiling; ratio{'; before' if baseline else ''})"
        f" | {_range(single['env_steps_per_s'])} ({single['ceiling_steps_per_s']['median']:,.0f}; "
        f"{single['ratio_to_ceiling']['of_medians']:.2f}"
        f"{before_cell(single, 'baseline_env_steps_per_s')}) | |",
    ]
    vector = figures["vector"]
    for size in vector["default"]:
        cells = []
        for preset in ("default", "large"):
            row = vector[preset][size]
            cells.append(
                f"{_range(row['env_shopper_steps_per_s'])} "
                f"({row['ceiling_shopper_steps_per_s']['median']:,.0f}; "
                f"{row['ratio_to_ceiling']['of_medians']:.2f}"
                f"{before_cell(row, 'baseline_env_shopper_steps_per_s')})"
            )
        lines.append(
            f"| vector env N = {_n(size)}, shopper-steps/s (ceiling; ratio"
            f"{'; before' if baseline else ''}) | " + " | ".join(cells) + " |"
        )
    threads = figures.get("threads", {})
    if "skipped" not in threads:
        for size in threads.get("default", {}):
            cells = [
                f"{threads[preset][size]['speedup_2_over_1']['of_medians']:.2f} "
                f"({threads[preset][size]['speedup_2_over_1']['min']:.2f}-"
                f"{threads[preset][size]['speedup_2_over_1']['max']:.2f})"
                for preset in ("default", "large")
            ]
            lines.append(f"| 2 threads / 1 thread, N = {_n(size)} | " + " | ".join(cells) + " |")
    for size, row in figures.get("vector_copy_false", {}).items():
        speedup = row["speedup_copy_false"]
        lines.append(
            f"| vector env N = {_n(size)}, `copy=False` (observation arrays reused), "
            f"shopper-steps/s (x default copies) | {_range(row['copy_false'])} "
            f"({speedup['of_medians']:.2f}x, {speedup['min']:.2f}-{speedup['max']:.2f}) | |"
        )
    memory = figures["peak_memory"]
    old = figures.get("baseline_peak_memory")
    was = f" (before: {old['peak_mb']:.0f} MB; {old['increase_mb']:.0f} MB)" if old else ""
    lines.append(
        f"| peak memory, N = {memory['n_shoppers']:,} shoppers (spawned child: peak; "
        f"increase over its imports) | | {memory['peak_mb']:.0f} MB; "
        f"{memory['increase_mb']:.0f} MB{was} |"
    )
    return "\n".join(lines) + "\n"


def peers_table() -> str:
    """``python benchmarks/peers.py --json benchmarks/results/peers.json``."""
    figures = _load("peers.json")
    lines = [
        "`python benchmarks/peers.py --json benchmarks/results/peers.json` (single env, uniform "
        f"random actions, {figures['settings']['steps']:,} steps per round, "
        f"{figures['settings']['repeats']} alternated rounds; median (min-max)):",
        "",
        "| peer | its env | peer steps/s | recenv steps/s, same rounds | recenv / peer |",
        "|---|---|---|---|---|",
    ]
    for name, peer in figures["peers"].items():
        if peer["status"] != "measured":
            lines.append(f"| {name} | {peer.get('env', '')} | {peer['status']} | | |")
            continue
        ratio = peer["ratio_recenv_over_peer"]
        package = peer["package"]
        lines.append(
            f"| {package} {peer['versions'].get(package, '')} | {peer['env']} | "
            f"{_range(peer['steps_per_s'])} | {_range(peer['recenv_steps_per_s'])} | "
            f"{ratio['of_medians']:.1f} ({ratio['min']:.1f}-{ratio['max']:.1f}) |"
        )
    return "\n".join(lines) + "\n"


def sb3_table() -> str:
    """``python benchmarks/dqn_vs_sb3.py --steps 30000 --repeats 3 --json ...``."""
    figures = _load("dqn_vs_sb3.json")
    rows = (
        ("ours (`agents.dqn`)", "ours", None),
        ("SB3 DQN, our network (`policy: recenv`)", "sb3", "ratio"),
        ("SB3 DQN, default `MultiInputPolicy` (one-hot)", "sb3_default", "ratio_default_policy"),
    )
    lines = [
        f"`python benchmarks/dqn_vs_sb3.py --steps {figures['steps']} --repeats "
        f"{figures['repeats']} --json benchmarks/results/dqn_vs_sb3.json` (preset "
        f"`{figures['preset']}`, {figures['n_envs']} shoppers per step, torch on "
        f"{figures['threads']} thread, {figures['eval_shoppers']:,} evaluation shoppers):",
        "",
        "| learner | parameters | env-steps/s, median (min-max) | ours / this | return, mean "
        "(min-max over repeats) |",
        "|---|---|---|---|---|",
    ]
    for label, key, ratio in rows:
        returns = figures[f"{key}_return"]
        speed = (
            f"{figures[ratio]['median']:.2f}x ({figures[ratio]['min']:.2f}-"
            f"{figures[ratio]['max']:.2f})"
            if ratio
            else ""
        )
        lines.append(
            f"| {label} | {figures['parameters'][key]:,} | "
            f"{_range(figures[f'{key}_steps_per_s'])} | {speed} | {returns['mean']:.2f} "
            f"({returns['min']:.2f}-{returns['max']:.2f}) |"
        )
    difference = figures["ours_minus_sb3_return"]
    default = figures["ours_minus_sb3_default_return"]
    lines += [
        "",
        f"Paired return differences on the same shoppers: ours - SB3 with our network "
        f"{_ci(difference)}, ours - SB3 default {_ci(default)}.",
    ]
    return "\n".join(lines) + "\n"


def serving_table() -> str:
    """``python benchmarks/latency.py`` and ``python benchmarks/load_logs.py``."""
    latency, logs = _load("latency.json"), _load("load_logs.json")
    lines = [
        f"`python benchmarks/latency.py --json benchmarks/results/latency.json` "
        f"(preset `{latency['preset']}`, {latency['calls']:,} calls of `act` for one shopper, "
        "one thread) and `python benchmarks/load_logs.py --json "
        "benchmarks/results/load_logs.json`:",
        "",
        "| measure | p50 ms | p99 ms |",
        "|---|---|---|",
    ]
    for agent, figures in latency["agents"].items():
        lines.append(f"| `{agent}` act | {figures['p50_ms']:.2f} | {figures['p99_ms']:.2f} |")
    lines += [
        "",
        f"Loading and validating {logs['rows']:,} log rows: {logs['csv_seconds']:.2f} s (CSV), "
        f"{logs['parquet_seconds']:.2f} s (Parquet).",
    ]
    return "\n".join(lines) + "\n"


def ope_table() -> str:
    """``python benchmarks/ope_validation.py --json benchmarks/results/ope_validation.json``."""
    figures = _load("ope_validation.json")
    settings = [
        key for key in figures if isinstance(figures[key], dict) and "truth" in figures[key]
    ]
    first = figures[settings[0]]
    lines = [
        f"`python benchmarks/ope_validation.py --json benchmarks/results/ope_validation.json` "
        f"({first['replicates']} replicate logs of {first['impressions']:,} impressions each, "
        f"preset `{figures['preset']}`):",
        "",
        "| setting | target policy (true CTR) | IPS | SNIPS | DM | DR |",
        "|---|---|---|---|---|---|",
    ]
    for setting in settings:
        block = figures[setting]
        for policy, truth in block["truth"].items():
            cells = [
                f"{cell['mean_relative_error']:+.0%} / {cell['relative_rmse']:.0%} / "
                f"{cell['coverage']:.2f}"
                for cell in (block[policy][name] for name in ("ips", "snips", "dm", "dr"))
            ]
            lines.append(f"| {setting} | {policy} ({truth:.4f}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


FIDELITY_RUNS = (  # (file under benchmarks/results/fidelity, fit, replay)
    ("all_halves", "all[a]", "all[b]"),
    ("men_halves", "men[a]", "men[b]"),
    ("women_halves", "women[a]", "women[b]"),
    ("men_to_women", "men", "women"),
    ("women_to_men", "women", "men"),
    ("all_to_men", "all", "men"),
)


def fidelity_table() -> str:
    """``python -m experiments.fidelity fit=... replay=... out=benchmarks/results/fidelity/*``."""
    lines = [
        "| fit on | replay | rows | predicted CTR | observed CTR (95% CI) | relative error "
        "(95% CI) | per position: predicted / observed |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, fit, replay in FIDELITY_RUNS:
        report = _load(f"fidelity/{name}.json")
        overall = report["overall"]
        low, high = overall["observed_ci"]
        error_ci = overall.get("relative_error_ci")
        error = f"{overall['relative_error']:+.0%}" + (
            f" [{error_ci[0]:+.0%}, {error_ci[1]:+.0%}]" if error_ci else ""
        )
        positions = "; ".join(
            f"{group['predicted_ctr']:.2%} / {group['observed_ctr']:.2%}"
            for group in report["per_position"].values()
        )
        lines.append(
            f"| {fit} | {replay} | {overall['rows']:,} | {overall['predicted_ctr']:.2%} | "
            f"{overall['observed_ctr']:.2%} [{low:.2%}, {high:.2%}] | {error} | {positions} |"
        )
    return "\n".join(lines) + "\n"


def long_term_line() -> str:
    """``python -m experiments.simulate --policy P --json benchmarks/results/simulate_P.json``."""
    figures = {
        policy: _load(f"simulate_{policy}.json") for policy in ("random", "myopic", "long_term")
    }
    shoppers = figures["random"]["args"]["shoppers"]
    return (
        f"On `default` ({shoppers:,} evaluation shoppers, `python -m experiments.simulate --policy "
        "P --json benchmarks/results/simulate_P.json`), mean session return [95% CI]: the myopic "
        f"oracle {_ci(figures['myopic']['return'])}, the long-term heuristic oracle "
        f"{_ci(figures['long_term']['return'])}, random {_ci(figures['random']['return'])}.\n"
    )


def ablation_table() -> str:
    """``python benchmarks/ablation.py --json benchmarks/results/ablation.json``."""
    report = _load("ablation.json")
    worlds = report["worlds"]
    agents = list(worlds["all"]["returns"])
    lines = [
        f"`python benchmarks/ablation.py --json benchmarks/results/ablation.json` (preset "
        f"`{report['preset']}`, {report['shoppers']:,} evaluation shoppers; mean return per "
        "episode, paired 95% CIs):",
        "",
        "| world | "
        + " | ".join(agents)
        + " | planner - myopic | heuristic - myopic | share of the planner's lead |",
        "|---|" + "---|" * (len(agents) + 3),
    ]
    for world, figures in worlds.items():
        share = figures.get("share_of_planner_lead")
        lines.append(
            f"| {'all mechanisms' if world == 'all' else 'without ' + world} | "
            + " | ".join(f"{figures['returns'][name]['mean']:.2f}" for name in agents)
            + f" | {_ci(figures['planner_minus_myopic'])} | "
            f"{_ci(figures['long_term_oracle_minus_myopic'])} | "
            + ("" if share is None else f"{share:+.0%}")
            + " |"
        )
    return "\n".join(lines) + "\n"


def config_table() -> str:
    """Every field of ``recenv.sim.config.EnvConfig``: default, allowed values, its comment."""
    import dataclasses
    import inspect

    from recenv.sim import config as module

    field_comment = re.compile(r"^\s+(\w+): [^=]+= .*?#\s*(.*)$")
    lines = ["| field | default | allowed | meaning |", "|---|---|---|---|"]

    def rows(schema: type, prefix: str) -> None:
        comments = {
            match.group(1): match.group(2)
            for match in map(field_comment.match, inspect.getsource(schema).splitlines())
            if match
        }
        for spec in dataclasses.fields(schema):
            default = spec.default
            if dataclasses.is_dataclass(
                spec.default_factory() if default is dataclasses.MISSING else default
            ):
                continue
            bound = schema.bounds.get(spec.name)
            choices = schema.choices.get(spec.name)
            allowed = " / ".join(choices) if choices else bound.describe() if bound else "any"
            shown = '""' if default == "" else default
            lines.append(
                f"| `{prefix}{spec.name}` | {shown} | {allowed} | {comments.get(spec.name, '')} |"
            )

    rows(module.EnvConfig, "")
    for spec in dataclasses.fields(module.EnvConfig):
        if spec.default is dataclasses.MISSING and spec.default_factory is not dataclasses.MISSING:
            rows(type(spec.default_factory()), f"{spec.name}.")
    return "\n".join(lines) + "\n"


def _added(report: dict) -> str:
    """``; X, Y added with --presets X Y --merge`` for presets merged into a results file."""
    added = report.get("added", [])
    if not added:
        return ""
    names = " ".join(added)
    return f"; {', '.join(f'`{name}`' for name in added)} added with `--presets {names} --merge`"


def _share(figures: dict) -> str:
    return f"{figures['mean']:.1%} [{figures['ci_low']:.1%}, {figures['ci_high']:.1%}]"


SCENARIO_COLUMNS = {  # preset -> (metric, column label, format)
    "cross_category": (
        ("cross_category_click_share", "cross-category click share", _share),
        ("cross_category_purchase_share", "cross-category purchase share", _share),
    ),
    "shops": (
        ("shop_purchase_hhi", "purchase HHI over shops", _ci),
        ("shop_reputation_exposure", "reputation shown", _ci),
        ("shop_purchase_reputation", "reputation bought", _ci),
    ),
}


def scenarios_table() -> str:
    """``python benchmarks/scenarios.py --json benchmarks/results/scenarios.json``."""
    report = _load("scenarios.json")
    lines = [
        f"`python benchmarks/scenarios.py --dqn-steps {report['dqn_steps']} --shoppers "
        f"{report['shoppers']} --json benchmarks/results/scenarios.json` ({report['shoppers']:,} "
        f"evaluation shoppers, the same for every agent; learners and baselines over seeds "
        f"{', '.join(map(str, report['seeds']))}, oracles once; 95% CIs over seeds and shoppers, "
        "differences paired):",
    ]
    for preset, figures in report["presets"].items():
        columns = SCENARIO_COLUMNS[preset]
        best = figures["best_baseline"]
        lines += [
            "",
            f"`{preset}`:",
            "",
            "| agent | return | CTR | "
            + " | ".join(label for _, label, _ in columns)
            + f" | return - {best} |",
            "|---|---|---|" + "---|" * (len(columns) + 1),
        ]
        for name, agent in figures["agents"].items():
            lead = figures.get(f"{name}_minus_{best}")
            lines.append(
                f"| {name} | {_ci(agent['return'])} | {agent['ctr']['mean']:.1%} | "
                + " | ".join(form(agent[metric]) for metric, _, form in columns)
                + f" | {_ci(lead['return']) if lead else ''} |"
            )
    return "\n".join(lines) + "\n"


def planner_presets_table() -> str:
    """``python benchmarks/planner_presets.py --json benchmarks/results/planner_presets.json``."""
    report = _load("planner_presets.json")
    lines = [
        f"`python benchmarks/planner_presets.py --shoppers {report['shoppers']} --json "
        "benchmarks/results/planner_presets.json` "
        f"({report['shoppers']:,} evaluation shoppers per preset; paired 95% CIs{_added(report)}):",
        "",
        "| preset | random | myopic | heuristic | planner | planner - myopic "
        "| planner - heuristic |",
        "|---|---|---|---|---|---|---|",
    ]
    for preset, figures in report["presets"].items():
        returns = figures["returns"]
        lines.append(
            f"| `{preset}` | "
            + " | ".join(
                f"{returns[name]['mean']:.2f}"
                for name in ("random", "myopic_oracle", "long_term_oracle", "planner")
            )
            + f" | {_ci(figures['planner_minus_myopic_oracle'])} | "
            f"{_ci(figures['planner_minus_long_term_oracle'])} |"
        )
    return "\n".join(lines) + "\n"


def preset_rates_table() -> str:
    """``python benchmarks/preset_rates.py --json benchmarks/results/preset_rates.json``."""
    report = _load("preset_rates.json")
    columns = (
        ("ctr", "CTR", "{:.2%}"),
        ("carts_per_click", "carts per click", "{:.3f}"),
        ("purchases_per_click", "purchases per click", "{:.3f}"),
        ("episodes_that_buy", "episodes that buy", "{:.1%}"),
        ("steps_per_episode", "steps per episode", "{:.1f}"),
        ("clicks_per_episode", "clicks per episode", "{:.2f}"),
    )
    lines = [
        "`python benchmarks/preset_rates.py --json benchmarks/results/preset_rates.json` "
        f"(uniform-random recommendations, {report['shoppers']:,} evaluation shoppers"
        f"{_added(report)}):",
        "",
        "| preset | " + " | ".join(label for _, label, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for preset, figures in report["presets"].items():
        lines.append(
            f"| `{preset}` | "
            + " | ".join(form.format(figures[key]["mean"]) for key, _, form in columns)
            + " |"
        )
    real = report["real"]
    for campaign in ("obd_all", "obd_men", "obd_women"):
        if campaign in real:
            ctr = real[campaign]["ctr"]
            lines.append(
                f"| real: Open Bandit `{campaign[4:]}`, uniform random | {ctr['mean']:.2%} "
                f"[{ctr['ci_low']:.2%}, {ctr['ci_high']:.2%}] | | | | | |"
            )
    if "taobao" in real:
        taobao = real["taobao"]
        lines.append(
            "| real: Taobao shoppers (views, not impressions) | | "
            f"{taobao['carts_per_view']['mean']:.3f} per view | "
            f"{taobao['purchases_per_view']['mean']:.3f} per view | "
            f"{taobao['sessions_that_buy']['mean']:.1%} of sessions | | "
            f"{taobao['events_per_session']['mean']:.2f} events per session |"
        )
    return "\n".join(lines) + "\n"


def taobao_fidelity_table() -> str:
    """``python -m experiments.fidelity kind=sessions env=... replay=...`` (two runs)."""
    fitted, default = _load("taobao_fidelity.json"), _load("default_fidelity.json")
    lines = [
        f"Held-out real shoppers ({fitted['held_out_users']}, never used in the fit) beside "
        f"`env={fitted['env']}` and `env={default['env']}`, both simulated under the shop-page "
        "policy; `python -m experiments.fidelity kind=sessions env=E "
        "replay=../shared/data/taobao out=benchmarks/results/<E>_fidelity.json`:",
        "",
        f"| fact | real held-out [95% CI] | `{fitted['env']}` | error | `{default['env']}` "
        "| error |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in fitted["facts"].items():
        other = default["facts"].get(name)

        def cell(entry: dict | None) -> str:
            if entry is None:
                return " | "
            error = entry["relative_error"]
            mark = " (in CI)" if entry["inside_real_ci"] else ""
            return f"{entry['simulated']:.4g}{mark} | " + ("" if error is None else f"{error:+.0%}")

        low, high = row["real_ci"]
        lines.append(
            f"| {name} | {row['real']:.4g} [{low:.4g}, {high:.4g}] | {cell(row)} | {cell(other)} |"
        )

    def target_text(name: str, target: dict) -> str:
        error = target["relative_error"]
        shown = "n/a" if error is None else f"{error:+.0%}"
        verdict = "met" if target["met"] else "NOT met"
        return f"{name} {verdict} ({shown}, allowed ±{target['allowed']:.0%})"

    targets = "; ".join(target_text(n, t) for n, t in fitted["targets"].items())
    lines += ["", f"`{fitted['env']}`: {fitted['summary']}. Targets: {targets}."]
    return "\n".join(lines) + "\n"


def obd_click_models_table() -> str:
    """``python benchmarks/obd_click_models.py --json benchmarks/results/obd_click_models.json``."""
    report = _load("obd_click_models.json")
    campaigns = report["campaigns"]
    names = list(campaigns)
    lines = [
        "`python benchmarks/obd_click_models.py --json benchmarks/results/obd_click_models.json`:",
        "",
        "| | " + " | ".join(f"`{name}`" for name in names) + " |",
        "|---|" + "---|" * len(names),
        "| rows (clicks) | "
        + " | ".join(f"{c['rows']:,} ({c['clicks']})" for c in campaigns.values())
        + " |",
        "| item spread, logit [95% profile CI] | "
        + " | ".join(
            f"{c['item_spread']['estimate']:.2f} [{c['item_spread']['ci_low']:.2f}, "
            f"{c['item_spread']['ci_high']:.2f}]"
            for c in campaigns.values()
        )
        + " |",
        "| held-out log-lik, model - constant, nats per row [95% CI] | "
        + " | ".join(
            "{mean:+.1e} [{ci_low:+.1e}, {ci_high:+.1e}]".format(
                **c["held_out"]["difference_per_row"]
            )
            for c in campaigns.values()
        )
        + " |",
    ]
    spreads = sorted(
        {row["item_spread"] for c in campaigns.values() for row in c["power"]["sample"]}
    )
    for spread in spreads:
        cells = []
        for c in campaigns.values():
            row = next(r for r in c["power"]["sample"] if r["item_spread"] == spread)
            cells.append(f"{row['detection_rate']['mean']:.0%}")
        label = "false positives" if spread == 0 else f"spread {spread:g} detected"
        lines.append(f"| 10k rows: {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sensitivity_table() -> str:
    """``python -m experiments.sensitivity ... --out benchmarks/results/sensitivity``."""
    report = _load("sensitivity/sensitivity.json")
    settings = report["settings"]
    knobs = dict.fromkeys(cell["name"].split("=")[0] for cell in settings["cells"][1:])
    command = " ".join(
        [
            "python -m experiments.sensitivity --seeds",
            *map(str, settings["seeds"]),
            "--agents",
            *settings["agents"],
            "--knobs",
            *knobs,
            f"--budget-scale {settings['budget_scale']}",
            "--out benchmarks/results/sensitivity",
            *(item for item in settings["overrides"] if item != "env=default"),
        ]
    )
    lines = [
        f"`{command}` ({len(settings['seeds'])} seeds, "
        f"{settings['eval']['n_shoppers']:,} evaluation shoppers, training budgets x "
        f"{settings['budget_scale']}; heat map: `benchmarks/results/sensitivity/sensitivity.png`"
        f"{'' if report['complete'] else '; the grid is incomplete'}):",
        "",
        "| cell | DQN normalised | best baseline (normalised) | DQN - best baseline [95% CI] "
        "| best oracle - myopic [95% CI] | DQN beats the best baseline | long-term gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell in report["cells"]:
        agents, baseline = cell["agents"], cell["best_baseline"]
        differences = cell["differences"]
        dqn = agents.get("dqn")
        lines.append(
            f"| {cell['name']} | {dqn['normalised']:.2f} | {baseline} "
            f"({agents[baseline]['normalised']:.2f}) | "
            f"{_ci(differences['dqn - best_baseline'])} | "
            f"{_ci(differences['best_oracle - myopic_oracle'])} | "
            f"{'yes' if cell['dqn_beats_best_baseline'] else 'no'} | "
            f"{'yes' if cell['long_term_gap'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def libraries_table() -> str:
    """``python benchmarks/libraries.py --json benchmarks/results/libraries.json``."""
    figures = _load("libraries.json")
    seeds = ", ".join(str(seed) for seed in figures["seeds"])
    lines = [
        "`python benchmarks/libraries.py --json benchmarks/results/libraries.json` (preset "
        f"`{figures['preset']}`, 20,000 training steps, training seeds {seeds}, the same 500 "
        "evaluation shoppers for every run; gain: paired difference against uniform random "
        "with its 95% CI, per seed):",
        "",
        "| library | works with no glue | training steps/s, median (min-max) | return (random) "
        "| gain vs random per seed | command |",
        "|---|---|---|---|---|---|",
    ]
    for example in figures["examples"].values():
        gains = "; ".join(_ci(gain) for gain in example["gains"])
        lines.append(
            f"| {example['library']} | {example['works_without_glue']} | "
            f"{_range(example['steps_per_s'])} | {example['return']:.2f} "
            f"({example['random_return']:.2f}) | {gains} | `{example['command']}` |"
        )
    return "\n".join(lines) + "\n"


def rllib_table() -> str:
    """``python benchmarks/rllib.py --json benchmarks/results/rllib.json``."""
    figures = _load("rllib.json")
    lines = [
        "`python benchmarks/rllib.py --json benchmarks/results/rllib.json` (preset "
        f"`{figures['preset']}`, {figures['steps']:,} env steps, {figures['env_runners']} env "
        f"runners on a local Ray of {figures['cpus']} CPUs, training seed {figures['seed']}, "
        f"{figures['eval_shoppers']:,} evaluation shoppers; random returns "
        f"{figures['random_return']:.2f}, popularity {figures['popularity_return']:.2f}):",
        "",
        "| algorithm | env steps/s, training loop (whole `learn`) | return | minus random "
        "| minus popularity |",
        "|---|---|---|---|---|",
    ]
    for algorithm in ("ppo", "dqn"):
        if algorithm in figures:
            run = figures[algorithm]
            lines.append(
                f"| {algorithm.upper()} | {run['loop_steps_per_s']:,.0f} "
                f"({run['steps_per_s']:,.0f}) | {run['return']:.2f} | "
                f"{_ci(run['minus_random'])} | {_ci(run['minus_popularity'])} |"
            )
    return "\n".join(lines) + "\n"


def threads_table() -> str:
    """``python benchmarks/torch_threads.py --steps 15000 --json ...torch_threads.json``."""
    figures = _load("torch_threads.json")
    lines = [
        f"`python benchmarks/torch_threads.py --steps {figures['steps']} --repeats 3 --json "
        f"benchmarks/results/torch_threads.json` ({figures['cpus']} CPUs; training steps/s, "
        "median (min-max) of alternated repeats, each in a fresh process):",
        "",
        "| learner | 1 thread | 2 threads | 2 / 1 threads |",
        "|---|---|---|---|",
    ]
    for agent, result in figures["agents"].items():
        ratio = result["2 / 1 threads"]
        lines.append(
            f"| `{agent}` | {_range(result['1 threads'])} | {_range(result['2 threads'])} | "
            f"{ratio['of_medians']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f}) |"
        )
    return "\n".join(lines) + "\n"


def explain_deletion_table() -> str:
    """``python benchmarks/explain_deletion.py --json ...explain_deletion.json``."""
    figures = _load("explain_deletion.json")
    agents, settings = figures["agents"], figures["settings"]
    budgets = ", ".join(
        f"{name.upper()} {run['train_steps']:,} {'logged ' if name == 'mlp' else ''}steps"
        for name, run in agents.items()
    )
    lines = [
        "`python benchmarks/explain_deletion.py --json benchmarks/results/explain_deletion.json` "
        f"(`{figures['preset']}`, trained briefly: {budgets}, seed {figures['seed']}; states: "
        f"{settings['shoppers']} evaluation shoppers after 1-{settings['steps']} of the agent's "
        f"greedy steps, those with more than 5 history entries; random removals: "
        f"{settings['draws']} per state; score drops with 95% CIs over states):",
        "",
        "| agent | states | k | drop, top-k attributed removed | drop, k random removed "
        "| difference |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in agents.items():
        for k, row in run["deletion"].items():
            lines.append(
                f"| {name} | {run['states']} | {k} | {_ci(row['top'], digits=4)} | "
                f"{_ci(row['random'], digits=4)} | {_ci(row['difference'], digits=4)} |"
            )
    lines += [""] + [
        f"{name}: mean \\|s(x, j) - s(empty, j)\\| {run['mean_abs_score_change']:.4f}, "
        f"largest \\|convergence delta\\| {run['max_abs_convergence_delta']:.1e}, "
        f"{run['explain_ms_per_state']:.1f} ms per explained state (batched; shared, busy "
        "2-core machine)."
        for name, run in agents.items()
    ]
    return "\n".join(lines) + "\n"


def privacy_table() -> str:
    """``python benchmarks/privacy.py --json ...privacy.json``: epsilon against utility."""
    figures = _load("privacy.json")
    seeds = figures["seeds"]
    command = (
        f"`python benchmarks/privacy.py --json benchmarks/results/privacy.json --seeds "
        f"{' '.join(map(str, seeds))} --log-steps {figures['log_steps']} --max-epochs "
        f"{figures['max_epochs']} --eval-shoppers {figures['eval_shoppers']}`"
    )
    lines = [
        f"{command} (`{figures['preset']}`, {len(seeds)} seed(s), one log of "
        f"{figures['log_steps']:,} random-policy shopper-steps per seed shared by every "
        f"variant, {figures['max_epochs']} epochs, clipping norm {figures['max_grad_norm']:g}, "
        f"the same {figures['eval_shoppers']} evaluation shoppers; training time on a shared, "
        "busy 2-core machine):",
        "",
        "| variant | epsilon (delta) | noise multiplier | click AUC | click log-loss "
        "| NDCG@10 | return [95% CI] | minus MLP, paired [95% CI] | training s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in figures["variants"].items():
        if "dp_epsilon" in row:
            spent = f"{row['dp_epsilon']:.2f} ({row['dp_delta']:.1e})"
            noise = f"{row['dp_noise_multiplier']:.2f}"
        else:
            spent = noise = "no DP" if name.startswith("mlp") else "-"
        held_out = (
            " | ".join(f"{row[key]:.3f}" for key in ("click_auc", "click_log_loss", "ndcg_at_10"))
            if "click_auc" in row
            else "- | - | -"
        )
        seconds = ", ".join(f"{value:.0f}" for value in row.get("train_seconds", [])) or "-"
        difference = _ci(row["minus_mlp"]) if name != "mlp" else ""
        lines.append(
            f"| {name} | {spent} | {noise} | {held_out} | {_ci(row['return'])} | "
            f"{difference} | {seconds} |"
        )
    return "\n".join(lines) + "\n"


def sequence_table() -> str:
    """``python benchmarks/sequence.py --json benchmarks/results/sequence.json ...``."""
    report = _load("sequence.json")
    lines = [
        f"`python benchmarks/sequence.py {report['command']}` (load average at start "
        f"{report['load_average_at_start'][0]:.1f} on 2 cores):",
        "",
        "| preset | encoder | click AUC | NDCG@10 | recall@10 | fit s | return [95% CI] "
        "| SASRec minus it [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for preset, figures in report["presets"].items():
        held_out, returns = figures["held_out"], figures["return"]
        for name in ("mlp", "transformer", "popularity", "random"):
            label = "sasrec (transformer)" if name == "transformer" else name
            if name in held_out:
                rows = held_out[name]
                metrics = " | ".join(
                    f"{sum(rows[key]) / len(rows[key]):.3f}" if key in rows else "-"
                    for key in ("click_auc", "ndcg_at_10", "recall_at_10")
                )
                metrics += f" | {sum(rows['fit_s']) / len(rows['fit_s']):.0f}"
            else:
                metrics = "- | - | - | -"
            lead = figures["sasrec_minus"].get(name)
            lines.append(
                f"| `{preset}` | {label} | {metrics} | {_ci(returns[name])} | "
                f"{_ci(lead) if lead else ''} |"
            )
    dqn = report["dqn_default"]
    latency = report["latency_large"]
    lines += [
        "",
        f"Logs: {report['presets']['default']['log_steps']:,} random shopper-steps per seed, "
        f"seeds {report['presets']['default']['seeds']}; held-out metrics are means over seeds. "
        "`act` for one shopper on `large` (one thread): "
        + ", ".join(
            f"{name} p50 {v['p50_ms']:.2f} ms / p99 {v['p99_ms']:.2f} ms"
            for name, v in latency.items()
        )
        + ".",
        "",
        f"DQN on `default`, {dqn['steps']:,} steps, seeds {dqn['seeds']}: encoder mlp "
        f"{_ci(dqn['return']['mlp'])}, transformer {_ci(dqn['return']['transformer'])};"
        f" transformer minus mlp {_ci(dqn['transformer_minus_mlp'])} (paired); training s "
        + ", ".join(f"{k} {sum(v) / len(v):.0f}" for k, v in dqn["train_s"].items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


def serving_http_table() -> str:
    """``python benchmarks/serving_load.py --json benchmarks/results/serving_load.json``."""
    figures = _load("serving_load.json")
    load = figures["load_average_before"][0], figures["load_average_after"][0]
    lines = [
        "`python benchmarks/serving_load.py --json benchmarks/results/serving_load.json` "
        f"(preset `{figures['preset']}`, a `{figures['agent']['kind']}` agent trained "
        f"{figures['agent']['train_steps']:,} shopper-steps; {figures['requests_per_measurement']} "
        f"requests per measurement, median (min-max) of {figures['repeats']} alternated rounds; "
        f"{figures['note']}, load average {load[0]:.1f} before and {load[1]:.1f} after):",
        "",
        "| endpoint | clients | p50 ms | p99 ms | requests/s | errors |",
        "|---|---|---|---|---|---|",
    ]
    for endpoint, cells in figures["endpoints"].items():
        for clients, cell in cells.items():
            lines.append(
                f"| `/{endpoint}` | {clients} | {_range(cell['p50_ms'], 1)} | "
                f"{_range(cell['p99_ms'], 1)} | {_range(cell['requests_per_s'], 1)} | "
                f"{cell['errors']} |"
            )
    loop = _load("serving_load_event_loop.json")
    before, now = loop["endpoints"]["recommend"], figures["endpoints"]["recommend"]
    lines += [
        "",
        "With `act` on the event loop instead (`async def recommend`, commit "
        f"{loop['machine']['git']['commit'][:7]}, same script, "
        "`serving_load_event_loop.json`): `/recommend` p50 "
        + ", ".join(
            f"{before[c]['p50_ms']['median']:.1f} ms and "
            f"{before[c]['requests_per_s']['median']:.1f} requests/s at {c} "
            f"client{'' if c == '1' else 's'} "
            f"(now {now[c]['p50_ms']['median']:.1f} and {now[c]['requests_per_s']['median']:.1f})"
            for c in now
            if c in before
        )
        + ".",
    ]
    equal = "equal" if figures["served_equals_act"] else "DIFFER from"
    lines += [
        "",
        f"The first 32 served recommendations {equal} the saved agent's own `act`; "
        f"{figures['events_acknowledged']:,} events were acknowledged and "
        f"{figures['events_on_disk']:,} are in the log.",
    ]
    return "\n".join(lines) + "\n"


def compression_table() -> str:
    """``python benchmarks/compression.py --json benchmarks/results/compression.json ...``."""
    report = _load("compression.json")
    lines = [
        f"`python benchmarks/compression.py {report['command']}` (preset `{report['preset']}`, "
        f"{report['shoppers']} paired evaluation shoppers, {report['calls']:,} `act` calls x "
        f"{report['rounds']} alternated rounds, load average at start "
        f"{report['load_average_at_start'][0]:.1f} on 2 cores):",
        "",
        "| agent | served as | size KB | act p50 ms | act p99 ms | return [95% CI] "
        "| minus teacher [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for agent, figures in report["agents"].items():
        for variant, row in figures["variants"].items():
            lines.append(
                f"| {agent} | {variant} | {row['bytes'] / 1024:,.0f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {_ci(row['return'])} | "
                f"{_ci(row['minus_teacher']) if variant != 'teacher' else ''} |"
            )
    return "\n".join(lines) + "\n"


def _signed(figures: dict, digits: int = 3) -> str:
    return (
        f"{figures['mean']:+.{digits}f} [{figures['ci_low']:+.{digits}f}, "
        f"{figures['ci_high']:+.{digits}f}]"
    )


def bandits_obd_table() -> str:
    """``python benchmarks/bandits_obd.py --json benchmarks/results/bandits_obd.json``."""
    report = _load("bandits_obd.json")
    agents, world = report["agents"], report["world"]
    lines = [
        "`python benchmarks/bandits_obd.py --json benchmarks/results/bandits_obd.json` "
        f"({len(report['seeds'])} seeds, the same {report['shoppers']:,} evaluation shoppers; "
        "a session is 50 steps of 3-item slates):",
        "",
        "| agent | role | clicks per session [95% CI over seeds and shoppers] | normalised | CTR "
        "| true p(click) of the shown items | per seed | training shopper-steps | training s "
        "per seed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, figures in sorted(agents.items(), key=lambda item: -item[1]["mean_return"]):
        true = np.mean(figures["true_click_probability"])
        lines.append(
            f"| {name} | {figures['role']} | {_ci(figures, 'mean_return')} | "
            f"{figures['normalised']:.2f} | {figures['ctr']['mean']:.3%} | {true:.3%} | "
            + ", ".join(f"{value:.3f}" for value in figures["per_seed_return"])
            + f" | {max(figures['training_shopper_steps']):,} | "
            + ", ".join(f"{value:.1f}" for value in figures["train_seconds"])
            + " |"
        )
    best = report["best_baseline"]
    lines += [
        "",
        "| bandit | minus random [95% CI] | minus the best baseline "
        f"(`{best}`) | minus the oracle |",
        "|---|---|---|---|",
    ]
    differences = report["differences"]
    for bandit in ("thompson", "epsilon_greedy", "linucb"):
        cells = [
            _signed(differences[f"{bandit}_minus_{other}"])
            for other in ("random", best, report["normalised_by"])
        ]
        lines.append(f"| {bandit} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Thompson sampling minus "
        + ", ".join(
            f"{other} {_signed(differences[f'thompson_minus_{other}'])}"
            for other in ("epsilon_greedy", "linucb")
        )
        + " (paired, same shoppers).",
    ]
    lines += [
        "",
        "| Thompson sampling's training shopper-steps | minus random [95% CI] "
        "| true p(click) of the shown items |",
        "|---|---|---|",
    ]
    for row in report["thompson_curve"]:
        lines.append(
            f"| {row['budget_steps']:,} | {_signed(row['minus_random'])} | "
            f"{np.mean(row['true_click_probability']):.3%} |"
        )
    lines += [
        "",
        f"The world: mean item p(click) {world['mean_click_probability']:.3%}, best three "
        f"{world['top3_click_probability']:.3%}; item effects' SD "
        f"{world['item_effect_sd']:.3f} logit (range {world['item_effect_range'][0]:+.3f} to "
        f"{world['item_effect_range'][1]:+.3f}), fitted on {world['log_rows']:,} rows with "
        f"{world['log_clicks']} clicks. Normalised: (agent - random) / "
        f"({report['normalised_by']} - random).",
    ]
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[], str]] = {
    "privacy": privacy_table,
    "sequence": sequence_table,
    "compression": compression_table,
    "explain_deletion": explain_deletion_table,
    "libraries": libraries_table,
    "rllib": rllib_table,
    "threads": threads_table,
    "obd_click_models": obd_click_models_table,
    "preset_rates": preset_rates_table,
    "taobao_fidelity": taobao_fidelity_table,
    "planner_presets": planner_presets_table,
    "scenarios": scenarios_table,
    "config": config_table,
    "agents": agents_table,
    "agents_long_term": functools.partial(agents_table, "agents_long_term.json"),
    "agents_sparse": functools.partial(agents_table, "agents_sparse.json"),
    "agents_sparse_shaping": functools.partial(agents_table, "agents_sparse_shaping.json"),
    "agents_realistic": functools.partial(agents_table, "agents_realistic.json"),
    "sensitivity": sensitivity_table,
    "ablation": ablation_table,
    "speed": speed_table,
    "peers": peers_table,
    "sb3": sb3_table,
    "serving": serving_table,
    "serving_http": serving_http_table,
    "ope": ope_table,
    "fidelity": fidelity_table,
    "long_term": long_term_line,
    "bandits_obd": bandits_obd_table,
    "slateq": slateq_table,
    "slateq_click_model": slateq_click_model_line,
}


def render(text: str) -> str:
    """``text`` with every figures block replaced by its fresh rendering."""

    def replace(match: re.Match) -> str:
        name = match.group(2)
        if name not in RENDERERS:
            raise ValueError(
                f"README block figures:{name} has no renderer; known: {sorted(RENDERERS)}"
            )
        return match.group(1) + RENDERERS[name]() + match.group(4)

    return BLOCK.sub(replace, text)


def blocks(text: str) -> list[str]:
    return [match.group(2) for match in BLOCK.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale blocks")
    args = parser.parse_args(argv)
    text = README.read_text()
    fresh = render(text)
    if args.check:
        if fresh != text:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(True), fresh.splitlines(True), "README.md", "rendered"
                )
            )
            return 1
        return 0
    README.write_text(fresh)
    print(f"rendered {len(blocks(text))} blocks: {blocks(text)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
