"""Sample explanations for a comparison report: why each learned agent recommended what it did.

For the first run (lowest seed) of every agent whose class has ``explain`` and whose folder
holds its ``final_agent/``: the first observations of the first evaluation shoppers of the
run's eval seed (the shoppers every agent met) who arrive with a history, the item each is
recommended first there, and its explanation (``agents.explain``). The whole explanations
go to ``explanations.json`` (written atomically); ``report.md`` lists the top history items
with their attributions (torch agents), or the cluster and its signature categories
(k-means).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import get_class

from agents.base import write_json_atomically
from agents.evaluation import evaluation_env

SAMPLE_SHOPPERS = 3  # explained shoppers per agent (runs set it: eval.explain_shoppers)
SCANNED_SHOPPERS = 64  # evaluation slots searched for shoppers with a history
TOP_HISTORY = 3  # history items listed per explanation in report.md


def sample_shoppers(
    env_config: Any, seed: int, n_shoppers: int = SAMPLE_SHOPPERS
) -> tuple[list[int], dict[str, np.ndarray]]:
    """The first ``n_shoppers`` evaluation slots of ``seed`` whose first observation has a
    history (the first slots if too few have one), and those observations, batched."""
    _, observation, _ = evaluation_env(env_config, SCANNED_SHOPPERS, seed)
    with_history = np.flatnonzero((observation["history_events"] > 0).any(axis=1))
    slots = [*with_history, *np.setdiff1d(np.arange(SCANNED_SHOPPERS), with_history)]
    chosen = [int(slot) for slot in slots[:n_shoppers]]
    return chosen, {key: np.asarray(value)[chosen] for key, value in observation.items()}


def explain_run(
    folder: Path, target: str, eval_seed: int, n_shoppers: int = SAMPLE_SHOPPERS
) -> list[dict[str, Any]] | None:
    """The explanations of ``n_shoppers`` sample shoppers' first recommendations by the
    agent saved in ``folder/final_agent``; None when the agent cannot explain, was not
    saved, or the run asked for none (``eval.explain_shoppers=0``)."""
    cls = get_class(target)
    if not n_shoppers or not hasattr(cls, "explain") or not (folder / "final_agent").is_dir():
        return None
    agent = cls.load(folder / "final_agent")
    slots, observation = sample_shoppers(agent.env_config, eval_seed, n_shoppers)
    recommended = np.asarray(agent.act(observation, deterministic=True))
    first = recommended if recommended.ndim == 1 else recommended[:, 0]
    explanations = agent.explain(observation, first)
    return [
        {"slot": slot, "explanation": explanation.as_dict()}
        for slot, explanation in zip(slots, explanations, strict=True)
    ]


def sample_explanations(runs: Sequence[Any]) -> list[dict[str, Any]]:
    """One entry per explainable agent: its first run's sample explanations."""
    entries, seen = [], set()
    for run in runs:  # sorted by agent and seed
        if run.agent in seen:
            continue
        seen.add(run.agent)
        target, eval_seed = str(run.results["agent_target"]), int(run.results["eval_seed"])
        n_shoppers = int(run.results.get("explain_shoppers", SAMPLE_SHOPPERS))
        shoppers = explain_run(run.folder, target, eval_seed, n_shoppers)
        if shoppers is not None:
            seed = int(run.results["seed"])
            entries.append({"agent": run.agent, "seed": seed, "shoppers": shoppers})
    return entries


def write_explanations(runs: Sequence[Any], out: Path) -> list[str]:
    """Write ``explanations.json`` (atomically) and return report.md's section (may be [])."""
    entries = sample_explanations(runs)
    if not entries:
        return []
    write_json_atomically(out / "explanations.json", {"explanations": entries})
    return markdown(entries)


def markdown(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Report lines: one table per agent, one row per sample shopper."""
    lines = [
        "## Explanations: sample shoppers' first recommendation",
        "",
        "Attributions (agents/explain.py) share out score(item) - score(empty observation); "
        "all of them are in explanations.json.",
        "",
    ]
    for entry in entries:
        rows = [shopper["explanation"] for shopper in entry["shoppers"]]
        slots = [shopper["slot"] for shopper in entry["shoppers"]]
        lines += [f"### {entry['agent']} (seed {entry['seed']})", ""]
        if "cluster" in rows[0]:
            lines += [
                "| shopper | item (category) | cluster | signature categories (share vs "
                "average) | item score here (rank) / elsewhere |",
                "|---|---|---|---|---|",
            ]
            lines += [_cluster_row(slot, row) for slot, row in zip(slots, rows, strict=True)]
        else:
            lines += [
                f"| shopper | item | {rows[0]['score_name']} (empty obs.) | top history items "
                "(item, event: attribution) | cart | session | delta |",
                "|---|---|---|---|---|---|---|",
            ]
            lines += [_torch_row(slot, row) for slot, row in zip(slots, rows, strict=True)]
        lines.append("")
    return lines


def _torch_row(slot: int, row: dict[str, Any]) -> str:
    top = sorted(row["history"], key=lambda entry: -entry["attribution"])[:TOP_HISTORY]
    history = ", ".join(f"{e['item']} {e['event']}: {e['attribution']:+.3g}" for e in top)
    cart = sum(entry["attribution"] for entry in row["cart"])
    session = sum(row["session"].values())
    return (
        f"| {slot} | {row['item']} | {row['score']:.3g} ({row['baseline_score']:.3g}) | "
        f"{history or 'none'} | {cart:+.3g} | {session:+.3g} | {row['convergence_delta']:.1e} |"
    )


def _cluster_row(slot: int, row: dict[str, Any]) -> str:
    signature = ", ".join(
        f"{lift['category']} ({lift['share']:.2f} vs {lift['average']:.2f})"
        for lift in row["signature"]
    )
    return (
        f"| {slot} | {row['item']} ({row['item_category']}) | {row['cluster']} | "
        f"{signature or 'none'} | {row['item_score']:.3g} ({row['item_rank']}) / "
        f"{row['item_score_elsewhere']:.3g} |"
    )
