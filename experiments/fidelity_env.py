"""Fidelity through the whole environment (``python -m experiments.fidelity mode=env``).

A calibrated env is faithful to its log only if the log's own policy, run through the env
for whole visits with every dynamics of the step, clicks as the log did; and if two
policies the log cannot tell apart (its policy was uniform, so any difference between
them is something the log never showed) click alike. See ``experiments.fidelity``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from recenv.offline.data.logs import LoggedImpressions
from recenv.sim.config import EnvConfig
from recenv.sim.vector import ShoppingVectorEnv
from recenv.stats import Estimate, bootstrap, ratio_estimate

N_BOOTSTRAP = 1000
N_SHOPPERS = 20_000

# (step, rng) -> slates (n_shoppers, slate_size): every policy draws from the same stream
StepPolicy = Callable[[int, np.random.Generator], NDArray[np.int64]]


def uniform_policy(n_shoppers: int, n_items: int, slate_size: int) -> StepPolicy:
    """The Open Bandit Dataset's Random policy: distinct items, each uniform at each position."""

    def act(step: int, rng: np.random.Generator) -> NDArray[np.int64]:
        return np.argsort(rng.random((n_shoppers, n_items)), axis=1)[:, :slate_size]

    return act


def category_policy(
    item_category: NDArray[np.int64],
    n_shoppers: int,
    slate_size: int,
    rotate: bool,
    seed: int = 0,
) -> StepPolicy:
    """Slates of one category, uniform items within it: the same category all visit long
    (``rotate=False``) or the next one every step (``rotate=True``).

    Each shopper starts at a uniform category among those with ``slate_size`` items, so at
    every step both policies show each category with the same probability: only fatigue,
    boredom and their kind can make them differ.
    """
    counts = np.bincount(item_category)
    eligible = np.flatnonzero(counts >= slate_size)
    if len(eligible) == 0:
        raise ValueError(
            f"slate_size = {slate_size}: no category has that many items (largest: "
            f"{counts.max()}); allowed: a slate size some category fills"
        )
    start = np.random.default_rng(seed).integers(0, len(eligible), n_shoppers)

    def act(step: int, rng: np.random.Generator) -> NDArray[np.int64]:
        category = eligible[(start + step * rotate) % len(eligible)]
        outside = item_category[None, :] != category[:, None]  # (n_shoppers, n_items)
        keys = rng.random(outside.shape) + outside  # items of the category sort first
        return np.argsort(keys, axis=1)[:, :slate_size]

    return act


def run_policy(
    config: EnvConfig, policy: StepPolicy, n_shoppers: int, seed: int
) -> dict[str, NDArray]:
    """The first visit of ``n_shoppers`` shoppers under ``policy``, every step of the env.

    Returns per shopper and position the items shown and clicked ``(n, K)``, and per step
    the impressions and clicks of the shoppers still in their visit ``(max_steps,)``.
    """
    env = ShoppingVectorEnv(n_shoppers, config=config)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    shape = (n_shoppers, config.slate_size)
    shown, clicked = np.zeros(shape), np.zeros(shape)
    step_shown, step_clicked = np.zeros(config.max_steps), np.zeros(config.max_steps)
    visiting = np.ones(n_shoppers, dtype=bool)
    for step in range(config.max_steps):
        slates = policy(step, rng)
        _, _, terminated, truncated, info = env.step(slates)
        hit = (slates == info["clicked_item"][:, None]) & visiting[:, None]
        shown[visiting] += 1.0
        clicked += hit
        step_shown[step], step_clicked[step] = visiting.sum() * shape[1], hit.sum()
        visiting &= ~(terminated | truncated)  # ended slots restart: not counted again
        if not visiting.any():
            break
    return {
        "shown": shown,
        "clicked": clicked,
        "step_shown": step_shown,
        "step_clicked": step_clicked,
    }


def logged_ctr(log: LoggedImpressions, seed: int, rows: NDArray[np.bool_] | None = None):
    """The log's CTR with a 95% CI, its sessions resampled."""
    frame = log.frame if rows is None else log.frame[rows]
    per_session = frame.groupby("session")["click"].agg(["sum", "size"])
    return ratio_estimate(per_session["sum"], per_session["size"], seed, N_BOOTSTRAP)


def compare(simulated: Estimate, logged: Estimate) -> dict:
    """Simulated vs logged CTR: both with CIs, the relative error, inside the log's CI?"""
    return {
        "simulated_ctr": simulated.as_dict(),
        "logged_ctr": logged.as_dict(),
        "relative_error": simulated.mean / logged.mean - 1.0 if logged.mean > 0 else None,
        "inside_logged_ci": logged.contains(simulated.mean),
    }


def env_fidelity_report(
    config: EnvConfig,
    log: LoggedImpressions,
    n_shoppers: int = N_SHOPPERS,
    seed: int = 0,
) -> dict:
    """The logging policy and the two category policies through the env, against ``log``."""
    if log.n_items != config.catalog.n_items or log.n_positions != config.slate_size:
        raise ValueError(
            f"replay log has {log.n_items} items and {log.n_positions} positions; the env "
            f"has {config.catalog.n_items} and {config.slate_size}: replay the log it was "
            "calibrated on"
        )
    env = ShoppingVectorEnv(1, config=config)
    item_category = env.simulator.catalog.category
    size, n_items = config.slate_size, config.catalog.n_items
    uniform = run_policy(config, uniform_policy(n_shoppers, n_items, size), n_shoppers, seed)
    repeat, rotate = (
        run_policy(
            config, category_policy(item_category, n_shoppers, size, r, seed), n_shoppers, seed
        )
        for r in (False, True)
    )
    positions = log.frame["position"].to_numpy()
    report = {
        "mode": "env",
        "replay": log.name,
        "calibration": config.calibration,
        "n_shoppers": n_shoppers,
        "max_steps": config.max_steps,
        "mean_visit_steps": float(uniform["shown"][:, 0].mean()),
        "logging_policy": compare(_ctr(uniform, seed), logged_ctr(log, seed)),
        "per_position": {
            str(k): compare(_ctr(uniform, seed, k), logged_ctr(log, seed, positions == k))
            for k in range(size)
        },
        "ctr_per_step": _per_step(uniform),
        "category_policies": {
            "repeat_one_category": _ctr(repeat, seed).as_dict(),
            "rotate_categories": _ctr(rotate, seed).as_dict(),
            "difference": paired_difference(repeat, rotate, seed).as_dict(),
            "repeat_ctr_per_step": _per_step(repeat),
            "rotate_ctr_per_step": _per_step(rotate),
        },
    }
    return report


def paired_difference(first: dict, second: dict, seed: int) -> Estimate:
    """CTR of ``first`` minus CTR of ``second``, the same shoppers resampled for both."""
    clicks_a, shown_a = first["clicked"].sum(axis=1), first["shown"].sum(axis=1)
    clicks_b, shown_b = second["clicked"].sum(axis=1), second["shown"].sum(axis=1)

    def difference(index: NDArray[np.int64]) -> NDArray[np.float64]:
        ctr_a = clicks_a[index].sum(axis=-1) / shown_a[index].sum(axis=-1)
        return ctr_a - clicks_b[index].sum(axis=-1) / shown_b[index].sum(axis=-1)

    return bootstrap(difference, len(clicks_a), seed, N_BOOTSTRAP)


def _ctr(run: dict, seed: int, position: int | None = None) -> Estimate:
    """Clicks per impression with a 95% CI, shoppers resampled (one position, or all)."""
    if position is None:
        return ratio_estimate(
            run["clicked"].sum(axis=1), run["shown"].sum(axis=1), seed, N_BOOTSTRAP
        )
    return ratio_estimate(run["clicked"][:, position], run["shown"][:, position], seed, N_BOOTSTRAP)


def _per_step(run: dict) -> list[float]:
    shown = run["step_shown"]
    return (run["step_clicked"][shown > 0] / shown[shown > 0]).tolist()


def plot_env_fidelity(report: dict, path: Path) -> None:
    """CTR per step of the three policies, against the logged CTR's 95% CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logged = report["logging_policy"]["logged_ctr"]
    policies = report["category_policies"]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.axhspan(logged["ci_low"], logged["ci_high"], color="grey", alpha=0.3, label="log (95% CI)")
    for label, values in (
        ("uniform random (the log's policy)", report["ctr_per_step"]),
        ("repeat one category", policies["repeat_ctr_per_step"]),
        ("rotate categories", policies["rotate_ctr_per_step"]),
    ):
        axis.plot(np.arange(len(values)), values, label=label)
    axis.set_xlabel("step of the visit")
    axis.set_ylabel("CTR in the calibrated env")
    axis.set_ylim(bottom=0)
    axis.set_title(f"env {Path(report['calibration']).stem}, log {report['replay']}")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
