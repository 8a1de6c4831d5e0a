"""Comparison reports from finished runs: tables with 95% CIs, plots, the TensorBoard command.

A run is any folder with ``results.json`` (written by ``experiments.train``). Runs are
grouped by agent name; the seeds of an agent are its runs. Every number comes from the
metric table of ``recenv.metrics`` (the definitions ``results.json`` and TensorBoard use):

* **Mean**: the mean over an agent's runs of each run's metric, with a 95% two-level
  bootstrap CI (runs resampled, and the shared evaluation shoppers resampled), so the
  interval covers training-seed noise as well as shopper noise.
* **IQM** (rliable, Agarwal et al. 2021): the interquartile mean over *runs* of the run
  metric, with a 95% bootstrap over runs; never over sessions, where binary or mostly-zero
  outcomes collapse to 0 or 1.
* **Normalised return**: ``(agent - random) / (best oracle - random)`` when both are present.
* **Paired differences** to a reference agent on the same shoppers (seeds paired).
* **Budget**: the shopper-steps each agent consumed (training, model selection) and its
  wall time, from ``results.json``.
* **Explanations** (``experiments.report_explanations``): why each learned agent's saved
  final agent recommended what it did to a few evaluation shoppers, in
  ``explanations.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments.report_explanations import write_explanations
from experiments.run_folder import REPLACED
from recenv import metrics
from recenv.stats import iqm_over_runs

ORACLE, BASELINE, LEARNER = "oracle", "baseline", "learner"


@dataclass
class Run:
    """One finished run: its folder, ``results.json`` and per-session outcomes."""

    folder: Path
    results: dict
    sessions: dict[str, NDArray]

    @property
    def agent(self) -> str:
        return str(self.results["agent"])

    @property
    def role(self) -> str:
        """``oracle``, ``baseline`` (a simple rule) or ``learner``, as the agent declared."""
        return str(self.results.get("agent_role", LEARNER))

    @property
    def n_items(self) -> int:
        return int(self.results["n_items"])

    @property
    def shoppers_key(self) -> tuple[int, int, str]:
        """Runs with equal keys met the same evaluation shoppers."""
        return (
            int(self.results["eval_seed"]),
            int(self.results["eval_shoppers"]),
            str(self.results.get("env", "")),
        )


def find_runs(roots: list[Path]) -> list[Run]:
    """Every run folder under ``roots`` (searched recursively), sorted by agent and seed.

    Runs moved aside by ``train.overwrite=true`` (``<folder>.replaced-<time>``) are skipped
    below a root, so a sweep folder compares each run once.
    """
    runs = []
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"no such run folder: {root}")
        for path in sorted(root.rglob("results.json")):
            folder = path.parent
            if any(REPLACED in part for part in folder.relative_to(root).parts):
                continue
            sessions_file = folder / "eval_sessions.npz"
            if not sessions_file.is_file():
                raise ValueError(f"run {folder} has results.json but no eval_sessions.npz")
            with np.load(sessions_file, allow_pickle=False) as stored:
                sessions = {key: stored[key] for key in stored.files}
            runs.append(Run(folder, json.loads(path.read_text()), sessions))
    if not runs:
        raise ValueError(f"no finished runs (results.json) under {[str(r) for r in roots]}")
    return sorted(runs, key=lambda run: (run.agent, run.results["seed"]))


def summary_table(runs: list[Run], seed: int = 0) -> pd.DataFrame:
    """One row per (agent, metric): mean (two-level CI) and IQM over runs (CI over runs)."""
    rows = []
    for agent, group in _by_agent(runs).items():
        _check_same_shoppers(agent, group)
        sessions = [run.sessions for run in group]
        for chosen in metrics.METRICS:
            mean = metrics.estimate(chosen.name, sessions, group[0].n_items, seed=seed)
            per_run = [metrics.value(chosen.name, run.sessions, run.n_items) for run in group]
            iqm = iqm_over_runs(per_run, seed=seed)
            rows.append(
                {
                    "agent": agent,
                    "role": group[0].role,
                    "metric": chosen.name,
                    "runs": len(group),
                    "mean": mean.mean,
                    "mean_low": mean.ci_low,
                    "mean_high": mean.ci_high,
                    "iqm": iqm.mean,
                    "iqm_low": iqm.ci_low,
                    "iqm_high": iqm.ci_high,
                    "per_run": " ".join(f"{value:.4g}" for value in per_run),
                }
            )
    return _with_normalised_return(pd.DataFrame(rows))


def _with_normalised_return(summary: pd.DataFrame) -> pd.DataFrame:
    """Add ``normalised``: (return - random) / (best oracle - random), when both ran."""
    returns = summary[summary.metric == "return"].set_index("agent")
    oracles = returns[returns.role == ORACLE]
    summary["normalised"] = np.nan
    if "random" not in returns.index or oracles.empty:
        return summary
    floor, top = returns.loc["random", "mean"], oracles["mean"].max()
    if top <= floor:
        return summary
    mask = summary.metric == "return"
    summary.loc[mask, "normalised"] = (summary.loc[mask, "mean"] - floor) / (top - floor)
    return summary


def budget_table(runs: list[Run]) -> pd.DataFrame:
    """Per agent: mean over runs of the shopper-steps consumed and of the wall time."""
    rows = []
    for agent, group in _by_agent(runs).items():
        budgets = [run.results.get("budget", {}) for run in group]
        row = {"agent": agent, "runs": len(group)}
        for key in (
            "training_shopper_steps",
            "selection_shopper_steps",
            "total_shopper_steps",
            "train_seconds",
        ):
            row[key] = float(np.mean([budget.get(key, np.nan) for budget in budgets]))
        rows.append(row)
    return pd.DataFrame(rows)


def paired_table(runs: list[Run], reference: str, seed: int = 0) -> pd.DataFrame:
    """``reference - agent`` session returns on shared shoppers, seeds paired in order."""
    groups = _by_agent(runs)
    if reference not in groups:
        return pd.DataFrame()
    rows = []
    for agent, group in groups.items():
        if agent == reference:
            continue
        pairs = _pairs(groups[reference], group)
        if not pairs:
            continue
        difference = metrics.estimate(
            "return",
            [ours.sessions for ours, _ in pairs],
            pairs[0][0].n_items,
            baseline=[theirs.sessions for _, theirs in pairs],
            seed=seed,
        )
        rows.append(
            {
                "comparison": f"{reference} - {agent}",
                "difference": difference.mean,
                "low": difference.ci_low,
                "high": difference.ci_high,
                "pairs": len(pairs),
            }
        )
    return pd.DataFrame(rows)


def _check_same_shoppers(agent: str, group: list[Run]) -> None:
    keys = {run.shoppers_key for run in group}
    if len(keys) > 1:
        raise ValueError(
            f"runs of agent {agent!r} met different evaluation shoppers {sorted(keys)}; "
            "report them separately"
        )


def _pairs(first: list[Run], second: list[Run]) -> list[tuple[Run, Run]]:
    """Pair runs on the same evaluation shoppers: equal seeds first, else in order."""
    second_by_seed = {run.results["seed"]: run for run in second}
    pairs = []
    for index, run in enumerate(first):
        other = second_by_seed.get(run.results["seed"]) or second[index % len(second)]
        if run.shoppers_key == other.shoppers_key:
            pairs.append((run, other))
    return pairs


def _by_agent(runs: list[Run]) -> dict[str, list[Run]]:
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.agent, []).append(run)
    return groups


def learning_curves(runs: list[Run], tag: str = "eval/return") -> pd.DataFrame:
    """``tag`` over training steps for every run, read from its TensorBoard event files."""
    rows = []
    for run in runs:
        accumulator = EventAccumulator(str(run.folder), size_guidance={"scalars": 0})
        accumulator.Reload()
        if tag not in accumulator.Tags()["scalars"]:
            continue
        for event in accumulator.Scalars(tag):
            rows.append(
                {
                    "agent": run.agent,
                    "role": run.role,
                    "seed": run.results["seed"],
                    "step": event.step,
                    "value": event.value,
                }
            )
    return pd.DataFrame(rows, columns=["agent", "role", "seed", "step", "value"])


def _cell(row: pd.Series, key: str) -> str:
    if pd.isna(row.get(key)):
        return ""
    return f"{row[key]:.4g} [{row[f'{key}_low']:.4g}, {row[f'{key}_high']:.4g}]"


def markdown(
    summary: pd.DataFrame, paired: pd.DataFrame, budget: pd.DataFrame, logdir: Path
) -> str:
    """The report's text: mean and IQM tables, budgets, paired differences, definitions."""
    lines = ["# recenv comparison", ""]
    shown = [chosen.name for chosen in metrics.METRICS]
    order = (
        summary[summary.metric == "return"].sort_values("mean", ascending=False)["agent"].tolist()
    )
    titles = {
        "mean": "Mean over runs, 95% CI over runs and shoppers (two-level bootstrap)",
        "iqm": "IQM over runs (rliable), 95% CI over runs",
    }
    for key, title in titles.items():
        extra = ["normalised return"] if key == "mean" else []
        lines += [
            f"## {title}",
            "",
            "| agent | runs | " + " | ".join([*shown, *extra]) + " |",
            "|---|---|" + "---|" * (len(shown) + len(extra)),
        ]
        for agent in order:
            rows = summary[summary.agent == agent].set_index("metric")
            cells = [_cell(rows.loc[m], key) for m in shown]
            if extra:
                normalised = rows.loc["return", "normalised"]
                cells.append("" if pd.isna(normalised) else f"{normalised:.3f}")
            lines.append(f"| {agent} | {int(rows['runs'].iloc[0])} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "Normalised return: (agent - random) / (best oracle - random).",
        "",
        "## Budget (mean per run)",
        "",
        "| agent | training shopper-steps | selection shopper-steps | total | train s |",
        "|---|---|---|---|---|",
    ]
    for _, row in budget.set_index("agent").loc[order].reset_index().iterrows():
        lines.append(
            f"| {row.agent} | {row.training_shopper_steps:,.0f} | "
            f"{row.selection_shopper_steps:,.0f} | {row.total_shopper_steps:,.0f} | "
            f"{row.train_seconds:.1f} |"
        )
    lines.append("")
    if not paired.empty:
        lines += [
            "## Paired differences in session return (same shoppers), 95% CI over runs and "
            "shoppers",
            "",
            "| comparison | difference | 95% CI | seed pairs |",
            "|---|---|---|---|",
        ]
        for _, row in paired.iterrows():
            lines.append(
                f"| {row.comparison} | {row.difference:+.4g} | "
                f"[{row.low:+.4g}, {row.high:+.4g}] | {int(row.pairs)} |"
            )
        lines.append("")
    lines += ["## Metric definitions", "", "| metric | aggregation over sessions |", "|---|---|"]
    lines += [f"| {chosen.name} | {chosen.aggregation} |" for chosen in metrics.METRICS]
    lines += [
        "",
        "## Plots",
        "",
        "![learning curves](learning_curves.png)",
        "![mean return](returns.png)",
        "",
        "## TensorBoard",
        "",
        f"    tensorboard --logdir {logdir}",
        "",
    ]
    return "\n".join(lines)


def plot(summary: pd.DataFrame, curves: pd.DataFrame, out: Path) -> None:
    """``learning_curves.png`` (eval return vs steps, mean and range over seeds) and
    ``returns.png`` (mean return per agent with its 95% CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    returns = summary[summary.metric == "return"].set_index("agent")
    for agent, group in curves.groupby("agent"):
        by_step = group.groupby("step")["value"]
        if by_step.ngroups < 2 or returns.loc[agent, "role"] != LEARNER:
            continue
        steps = by_step.mean().index
        axis.plot(steps, by_step.mean().values, marker=".", label=agent)
        axis.fill_between(steps, by_step.min().values, by_step.max().values, alpha=0.2)
    references = returns[returns.role == ORACLE]
    baselines = returns[returns.role == BASELINE]
    if not baselines.empty:
        references = pd.concat([references, baselines.loc[[baselines["mean"].idxmax()]]])
    for agent, row in references.iterrows():
        style = ":" if row.role == ORACLE else "--"
        axis.axhline(row["mean"], linestyle=style, color="grey", linewidth=1)
        axis.annotate(
            f"{agent} {row['mean']:.2f}",
            (0, row["mean"]),
            xycoords=("axes fraction", "data"),
            fontsize=7,
            va="bottom",
            color="dimgrey",
        )
    axis.set_xlabel("training shopper-steps")
    axis.set_ylabel("eval return per session")
    axis.set_title(
        "Learning curves (mean and range over seeds); oracles dotted, best simple baseline dashed"
    )
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "learning_curves.png", dpi=120)
    plt.close(figure)

    returns = summary[summary.metric == "return"].sort_values("mean")
    figure, axis = plt.subplots(figsize=(7, 0.5 * len(returns) + 1.5))
    axis.barh(
        returns.agent,
        returns["mean"],
        xerr=[returns["mean"] - returns.mean_low, returns.mean_high - returns["mean"]],
        color="tab:blue",
        alpha=0.8,
        capsize=3,
    )
    axis.set_xlabel("mean session return (95% CI)")
    figure.tight_layout()
    figure.savefig(out / "returns.png", dpi=120)
    plt.close(figure)


def write_report(roots: list[Path], out: Path, reference: str = "dqn") -> Path:
    """Build the whole report folder from the runs under ``roots``; returns ``report.md``."""
    runs = find_runs(roots)
    out.mkdir(parents=True, exist_ok=True)
    summary = summary_table(runs)
    paired = paired_table(runs, reference)
    budget = budget_table(runs)
    curves = learning_curves(runs)
    summary.to_csv(out / "summary.csv", index=False)
    budget.to_csv(out / "budget.csv", index=False)
    if not paired.empty:
        paired.to_csv(out / "paired.csv", index=False)
    plot(summary, curves, out)
    logdir = roots[0] if len(roots) == 1 else Path(",".join(str(root) for root in roots))
    text = "\n".join([markdown(summary, paired, budget, logdir), *write_explanations(runs, out)])
    (out / "report.md").write_text(text)
    return out / "report.md"
