"""The outputs of a sensitivity grid (``experiments.sensitivity``): JSON, markdown, heat map.

``sensitivity.md``: one row per cell with every agent's normalised score and the two tests
(RL beats the best baseline; a long-term gap exists), the cells where each holds, then the
paired differences with the ordering, and the mean returns with their CIs.
``sensitivity.png``: the normalised scores as a heat map, agents x cells, with the cells
where the RL agent beats the best baseline framed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import write_json_atomically


def yes_no(flag: bool | None) -> str:
    """A test's outcome in a table: yes, no, or n/a when an agent it needs did not run."""
    return "n/a" if flag is None else ("yes" if flag else "no")


def write_outputs(report: Mapping[str, Any], out: Path) -> None:
    """``sensitivity.json`` (atomically), ``sensitivity.md`` and ``sensitivity.png``."""
    write_json_atomically(out / "sensitivity.json", report)
    (out / "sensitivity.md").write_text(markdown(report))
    plot_heatmap(report, out / "sensitivity.png")


def markdown(report: Mapping[str, Any]) -> str:
    """Normalised scores and the two tests per cell, then the paired differences and means."""
    settings, cells = report["settings"], report["cells"]
    agents, rl_agent = settings["agents"], settings["rl_agent"]
    beats_key = f"{rl_agent}_beats_best_baseline"
    status = "complete" if report["complete"] else f"{len(cells)} of {len(settings['cells'])}"
    lines = [
        "# Sensitivity grid",
        "",
        f"Overrides `{' '.join(settings['overrides']) or '(none)'}`; seeds {settings['seeds']}; "
        f"budget scale {settings['budget_scale']:g}; {settings['eval']['n_shoppers']} evaluation "
        f"shoppers (seed {settings['eval']['seed']}); cells: {status}.",
        "",
        "Normalised score `(agent - random) / (best oracle - random)`: 0 is random, 1 the best",
        f"oracle. *{rl_agent} beats the best baseline* and *long-term gap* (best oracle - myopic",
        "oracle): the paired 95% CI over seeds and shoppers lies above 0.",
        "",
        f"| cell | {' | '.join(agents)} | {rl_agent} beats best baseline | long-term gap |",
        "|---|" + "---|" * (len(agents) + 2),
    ]
    for cell in cells:
        scores = [_number(cell["agents"][name]["normalised"], "{:.2f}") for name in agents]
        flags = [yes_no(cell.get(beats_key)), yes_no(cell["long_term_gap"])]
        lines.append(f"| {cell['name']} | " + " | ".join([*scores, *flags]) + " |")
    for label, key in (
        (f"{rl_agent} beats the best baseline", beats_key),
        ("A long-term gap", "long_term_gap"),
    ):
        where = [cell["name"] for cell in cells if cell.get(key)]
        lines += [
            "",
            f"{label} in {len(where)} of {len(cells)} cells: {', '.join(where) or 'none'}.",
        ]
    labels = [
        f"{rl_agent} - best_baseline",
        f"{rl_agent} - myopic_oracle",
        "best_oracle - myopic_oracle",
    ]
    lines += [
        "",
        "## Paired differences in session return, 95% CI",
        "",
        f"| cell | overrides | ordering | {' | '.join(labels)} |",
        "|---|---|---|" + "---|" * len(labels),
    ]
    for cell in cells:
        differences = [_interval(cell["differences"].get(label)) for label in labels]
        if cell["differences"].get(labels[0]):
            differences[0] += f" ({cell['best_baseline']})"
        overrides = " ".join(f"`{o}`" for o in cell["overrides"]) or "(base)"
        ordering = " > ".join(cell["ordering"])
        lines.append(
            f"| {cell['name']} | {overrides} | {ordering} | " + " | ".join(differences) + " |"
        )
    lines += [
        "",
        "## Mean session return, 95% CI",
        "",
        f"| cell | {' | '.join(agents)} |",
        "|---|" + "---|" * len(agents),
    ]
    for cell in cells:
        means = [_interval(cell["agents"][name], "{:.2f}") for name in agents]
        lines.append(f"| {cell['name']} | " + " | ".join(means) + " |")
    return "\n".join([*lines, "", "![normalised scores](sensitivity.png)", ""])


def _number(value: float | None, form: str) -> str:
    return "n/a" if value is None else form.format(value)


def _interval(figures: Mapping[str, float] | None, form: str = "{:+.2f}") -> str:
    if not figures:
        return "n/a"
    low, high = form.format(figures["ci_low"]), form.format(figures["ci_high"])
    return f"{form.format(figures['mean'])} [{low}, {high}]"


def plot_heatmap(report: Mapping[str, Any], path: Path) -> None:
    """Normalised score per agent (rows) x cell (columns); cells where RL wins are framed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings, cells = report["settings"], report["cells"]
    agents, rl_agent = settings["agents"], settings["rl_agent"]
    beats_key = f"{rl_agent}_beats_best_baseline"
    scores = np.array(
        [[_nan(cell["agents"][name]["normalised"]) for cell in cells] for name in agents]
    )  # (n_agents, n_cells)
    finite = scores[np.isfinite(scores)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = max(1.0, float(finite.max())) if finite.size else 1.0
    figure, axis = plt.subplots(
        figsize=(max(6.0, 0.75 * len(cells) + 2.5), 0.5 * len(agents) + 2.5)
    )
    image = axis.imshow(scores, cmap="viridis", vmin=low, vmax=high, aspect="auto")
    for row, column in np.ndindex(scores.shape):
        value = scores[row, column]
        text = "n/a" if np.isnan(value) else f"{value:.2f}"
        bright = not np.isnan(value) and (value - low) / (high - low) > 0.6
        axis.text(
            column,
            row,
            text,
            ha="center",
            va="center",
            fontsize=7,
            color="black" if bright else "white",
        )
    labels = []
    for column, cell in enumerate(cells):
        wins = bool(cell.get(beats_key))
        if wins and rl_agent in agents:
            axis.add_patch(
                plt.Rectangle(
                    (column - 0.5, -0.5), 1, len(agents), fill=False, edgecolor="red", linewidth=2
                )
            )
        gap = "" if cell["long_term_gap"] is not False else " (no gap)"
        labels.append(("* " if wins else "") + cell["name"] + gap)
    axis.set_xticks(range(len(cells)), labels, rotation=45, ha="right", fontsize=8)
    axis.set_yticks(range(len(agents)), agents, fontsize=8)
    axis.set_title(
        f"Normalised return (0 = random, 1 = best oracle); framed and *: {rl_agent} beats the\n"
        "best baseline (paired 95% CI above 0); (no gap): best oracle - myopic oracle CI not > 0",
        fontsize=9,
    )
    figure.colorbar(image, ax=axis, fraction=0.03, pad=0.02)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
