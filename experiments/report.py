"""Comparison reports from finished runs: tables with 95% CIs, plots, the TensorBoard command.

A run is any folder with ``results.json`` (written by ``experiments.train``). Runs are
grouped by agent name; the seeds of an agent are strata. For each metric the report gives
the mean and the interquartile mean (IQM: the mean of the middle 50% of sessions, robust to
outliers, as advocated by Agarwal et al. 2021) over the evaluation sessions of all seeds,
each with a 95% *stratified* bootstrap CI (sessions resampled within each seed). When runs
share their evaluation shoppers (same ``eval_seed`` and ``eval_shoppers``), it also gives
paired differences to a reference agent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import trim_mean
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

N_BOOTSTRAP = 1000
# metric -> how to read per-session values from eval_sessions.npz
SESSION_METRICS = {
    "return": lambda s: s["return"],
    "ctr": lambda s: s["clicks"] / np.maximum(s["impressions"], 1),
    "conversion_rate": lambda s: s["converted"],
    "revenue": lambda s: s["revenue"],
    "session_length": lambda s: s["steps"],
    "intra_list_diversity": lambda s: s["diversity"],
    "long_tail_share": lambda s: s["tail_impressions"] / np.maximum(s["impressions"], 1),
}


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
    def shoppers_key(self) -> tuple[int, int, str]:
        """Runs with equal keys met the same evaluation shoppers."""
        return (
            int(self.results["eval_seed"]),
            int(self.results["eval_shoppers"]),
            str(self.results.get("env", "")),
        )


def find_runs(roots: list[Path]) -> list[Run]:
    """Every run folder under ``roots`` (searched recursively), sorted by agent and seed."""
    runs = []
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"no such run folder: {root}")
        for path in sorted(root.rglob("results.json")):
            folder = path.parent
            sessions_file = folder / "eval_sessions.npz"
            if not sessions_file.is_file():
                raise ValueError(f"run {folder} has results.json but no eval_sessions.npz")
            with np.load(sessions_file, allow_pickle=False) as stored:
                sessions = {key: stored[key] for key in stored.files}
            runs.append(Run(folder, json.loads(path.read_text()), sessions))
    if not runs:
        raise ValueError(f"no finished runs (results.json) under {[str(r) for r in roots]}")
    return sorted(runs, key=lambda run: (run.agent, run.results["seed"]))


def stratified_interval(
    strata: list[NDArray], statistic, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Point estimate and 95% CI of ``statistic`` over sessions pooled from all strata."""
    point = float(statistic(np.concatenate(strata)))
    boots = np.empty(N_BOOTSTRAP)
    for index in range(N_BOOTSTRAP):
        boots[index] = statistic(
            np.concatenate([values[rng.integers(0, len(values), len(values))] for values in strata])
        )
    low, high = np.percentile(boots, [2.5, 97.5])
    return point, float(low), float(high)


def interquartile_mean(values: NDArray) -> float:
    return float(trim_mean(values, 0.25))


def summary_table(runs: list[Run], seed: int = 0) -> pd.DataFrame:
    """One row per (agent, metric): mean and IQM with stratified-bootstrap CIs."""
    rows = []
    for agent, group in _by_agent(runs).items():
        for metric, read in SESSION_METRICS.items():
            strata = [read(run.sessions).astype(float) for run in group]
            rng = np.random.default_rng(seed)
            mean = stratified_interval(strata, np.mean, rng)
            iqm = stratified_interval(strata, interquartile_mean, rng)
            rows.append(
                {
                    "agent": agent,
                    "metric": metric,
                    "runs": len(group),
                    "mean": mean[0],
                    "mean_low": mean[1],
                    "mean_high": mean[2],
                    "iqm": iqm[0],
                    "iqm_low": iqm[1],
                    "iqm_high": iqm[2],
                }
            )
        coverage = [run.results["metrics"]["coverage"]["mean"] for run in group]
        rows.append(
            {
                "agent": agent,
                "metric": "coverage",
                "runs": len(group),
                "mean": float(np.mean(coverage)),
                "mean_low": float(np.min(coverage)),
                "mean_high": float(np.max(coverage)),
            }
        )
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
        strata = [ours.sessions["return"] - theirs.sessions["return"] for ours, theirs in pairs]
        point, low, high = stratified_interval(strata, np.mean, np.random.default_rng(seed))
        rows.append(
            {
                "comparison": f"{reference} - {agent}",
                "difference": point,
                "low": low,
                "high": high,
                "pairs": len(pairs),
            }
        )
    return pd.DataFrame(rows)


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
        seen = set()
        for event in accumulator.Scalars(tag):
            if event.step in seen:  # the final full evaluation repeats the last step
                continue
            seen.add(event.step)
            rows.append(
                {
                    "agent": run.agent,
                    "seed": run.results["seed"],
                    "step": event.step,
                    "value": event.value,
                }
            )
    return pd.DataFrame(rows, columns=["agent", "seed", "step", "value"])


def _cell(row: pd.Series, key: str) -> str:
    if pd.isna(row.get(key)):
        return ""
    return f"{row[key]:.3g} [{row[f'{key}_low']:.3g}, {row[f'{key}_high']:.3g}]"


def markdown(summary: pd.DataFrame, paired: pd.DataFrame, logdir: Path) -> str:
    """The report's text: mean and IQM tables, paired differences, how to open TensorBoard."""
    lines = ["# recenv comparison", ""]
    metrics = list(dict.fromkeys(summary["metric"]))
    order = (
        summary[summary.metric == "return"].sort_values("mean", ascending=False)["agent"].tolist()
    )
    for key, title in (("mean", "Mean"), ("iqm", "IQM (interquartile mean)")):
        shown = [m for m in metrics if not summary[summary.metric == m][key].isna().all()]
        lines += [
            f"## {title}, 95% stratified-bootstrap CI over sessions of all seeds",
            "",
            "| agent | runs | " + " | ".join(shown) + " |",
            "|---|---|" + "---|" * len(shown),
        ]
        for agent in order:
            rows = summary[summary.agent == agent].set_index("metric")
            cells = [_cell(rows.loc[m], key) for m in shown]
            lines.append(f"| {agent} | {int(rows['runs'].iloc[0])} | " + " | ".join(cells) + " |")
        lines.append("")
    if "coverage" in metrics:
        lines += ["Coverage (a set metric): mean over seeds [min, max].", ""]
    if not paired.empty:
        lines += [
            "## Paired differences in session return (same shoppers), 95% CI",
            "",
            "| comparison | difference | 95% CI | seed pairs |",
            "|---|---|---|---|",
        ]
        for _, row in paired.iterrows():
            lines.append(
                f"| {row.comparison} | {row.difference:+.3f} | "
                f"[{row.low:+.3f}, {row.high:+.3f}] | {int(row.pairs)} |"
            )
        lines.append("")
    lines += [
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

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for agent, group in curves.groupby("agent"):
        by_step = group.groupby("step")["value"]
        if by_step.ngroups < 2:
            continue
        steps = by_step.mean().index
        axis.plot(steps, by_step.mean().values, label=agent)
        axis.fill_between(steps, by_step.min().values, by_step.max().values, alpha=0.2)
    axis.set_xlabel("training shopper-steps")
    axis.set_ylabel("eval return per session")
    axis.set_title("Learning curves (mean and range over seeds)")
    if axis.lines:
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
    curves = learning_curves(runs)
    summary.to_csv(out / "summary.csv", index=False)
    if not paired.empty:
        paired.to_csv(out / "paired.csv", index=False)
    plot(summary, curves, out)
    logdir = roots[0] if len(roots) == 1 else Path(",".join(str(root) for root in roots))
    text = markdown(summary, paired, logdir)
    (out / "report.md").write_text(text)
    return out / "report.md"
