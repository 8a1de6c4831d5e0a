"""Paired evaluation: every agent faces the same shoppers, every figure has a 95% CI.

``evaluate(agent, env_config, n_shoppers, seed)`` runs the first session of each of
``n_shoppers`` slots of a vector env seeded ``seed``. The shopper of (seed, slot) does not
depend on the agent (``recenv.streams``), so two agents evaluated with the same seed meet
the same shoppers: common random numbers, and per-shopper differences are paired.
Confidence intervals are percentile bootstraps over shoppers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recenv.config import EnvConfig
from recenv.core import build_world
from recenv.env import resolve_config
from recenv.vector import ShoppingVectorEnv

N_BOOTSTRAP = 2000
HEAD_SHARE = 0.2  # the most popular 20% of items are the head; the rest is the long tail

# metric -> (numerator key, denominator key or None for a per-session mean)
RATIO_METRICS = {
    "return": ("return", None),
    "ctr": ("clicks", "impressions"),
    "conversion_rate": ("converted", None),
    "revenue": ("revenue", None),
    "session_length": ("steps", None),
    "intra_list_diversity": ("diversity", None),
    "long_tail_share": ("tail_impressions", "impressions"),
}
METRICS = (*RATIO_METRICS, "coverage")


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval."""

    mean: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass
class EvaluationResult:
    """Per-session arrays (aligned by shopper) and their summaries."""

    sessions: dict[str, NDArray]  # name -> (n_shoppers,) or (n_shoppers, T*K) for "items"
    n_items: int
    seed: int
    summary: dict[str, Estimate] = field(default_factory=dict)


def run_sessions(
    agent: Any, env_config: EnvConfig, n_shoppers: int, seed: int
) -> dict[str, NDArray]:
    """Play one session per slot with ``agent`` acting deterministically; record each session."""
    needs_info = getattr(agent, "needs_info", False)
    config = resolve_config(env_config, None, {"expose_hidden_state": needs_info})
    env = ShoppingVectorEnv(n_shoppers, config=config)
    observation, info = env.reset(seed=seed)
    totals = {
        name: np.zeros(n_shoppers) for name in ("return", "steps", "clicks", "revenue", "purchases")
    }
    shown: list[NDArray[np.int64]] = []
    active = np.ones(n_shoppers, dtype=bool)
    while active.any():
        kwargs = {"info": info} if needs_info else {}
        action = np.asarray(agent.act(observation, deterministic=True, **kwargs))
        observation, reward, terminated, truncated, info = env.step(action)
        slates = action.reshape(n_shoppers, -1)
        shown.append(np.where(active[:, None], slates, -1))
        for name, value in (
            ("return", reward),
            ("steps", 1.0),
            ("clicks", info["click"]),
            ("revenue", info["revenue"]),
            ("purchases", info["purchase"]),
        ):
            totals[name] += value * active
        active &= ~(terminated | truncated)
    totals["items"] = np.concatenate(shown, axis=1)  # (n, steps * K); -1 after the session
    return totals


def evaluate(
    agent: Any,
    env_config: EnvConfig | Mapping[str, Any] | None,
    n_shoppers: int = 1000,
    seed: int = 0,
) -> EvaluationResult:
    """Mean return, CTR, conversion, revenue, length, coverage, diversity, long-tail share."""
    config = resolve_config(env_config, None, {})
    catalog = build_world(config).catalog
    raw = run_sessions(agent, config, n_shoppers, seed)
    items = raw["items"]
    shown = items >= 0
    category = np.where(shown, catalog.category[np.maximum(items, 0)], -1)
    tail = catalog.popularity_rank >= HEAD_SHARE * catalog.n_items
    sessions = {
        "return": raw["return"],
        "steps": raw["steps"],
        "clicks": raw["clicks"],
        "impressions": shown.sum(axis=1).astype(float),
        "revenue": raw["revenue"],
        "converted": (raw["purchases"] > 0).astype(float),
        "diversity": _intra_list_diversity(category, catalog.n_categories),
        "tail_impressions": (shown & tail[np.maximum(items, 0)]).sum(axis=1).astype(float),
        "items": items,
    }
    result = EvaluationResult(sessions=sessions, n_items=catalog.n_items, seed=seed)
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, n_shoppers, size=(N_BOOTSTRAP, n_shoppers))
    for metric, (numerator, denominator) in RATIO_METRICS.items():
        result.summary[metric] = _ratio_estimate(
            sessions[numerator], None if denominator is None else sessions[denominator], resamples
        )
    result.summary["coverage"] = _coverage_estimate(items, catalog.n_items, resamples[:200])
    return result


def paired_difference(
    first: EvaluationResult | Sequence[EvaluationResult],
    second: EvaluationResult | Sequence[EvaluationResult],
    metric: str = "return",
) -> Estimate:
    """``first - second`` on the same shoppers, with a paired bootstrap 95% CI.

    Given lists (one result per training seed, all on the same evaluation shoppers), the
    estimate is the mean over seeds of the per-seed difference; the bootstrap resamples the
    shared shoppers jointly for every seed. With three seeds the interval covers shopper
    noise, not the spread of training seeds: report the per-seed figures beside it.
    """
    firsts = [first] if isinstance(first, EvaluationResult) else list(first)
    seconds = [second] if isinstance(second, EvaluationResult) else list(second)
    if len(firsts) != len(seconds) or not firsts:
        raise ValueError("paired differences need the same number of results on each side")
    for one, other in zip(firsts, seconds, strict=True):
        if one.seed != other.seed or len(one.sessions["return"]) != len(other.sessions["return"]):
            raise ValueError("paired differences need evaluations with the same seed and shoppers")
    return _stratified_estimate(
        [(one, other) for one, other in zip(firsts, seconds, strict=True)], metric
    )


def pooled_estimate(results: Sequence[EvaluationResult], metric: str = "return") -> Estimate:
    """The mean over training seeds of one agent's metric, with a stratified bootstrap CI."""
    if not results:
        raise ValueError("pooled_estimate needs at least one result")
    return _stratified_estimate([(result, None) for result in results], metric)


def _stratified_estimate(
    pairs: list[tuple[EvaluationResult, EvaluationResult | None]], metric: str
) -> Estimate:
    numerator, denominator = RATIO_METRICS[metric]

    def statistic(result: EvaluationResult, index: NDArray) -> NDArray:
        top = result.sessions[numerator][index].sum(axis=-1)
        bottom = (
            index.shape[-1]
            if denominator is None
            else result.sessions[denominator][index].sum(axis=-1)
        )
        return top / np.maximum(bottom, 1e-12)

    points, boots = [], []
    for one, other in pairs:
        n_shoppers = len(one.sessions["return"])
        resamples = np.random.default_rng(one.seed + 1).integers(
            0, n_shoppers, size=(N_BOOTSTRAP, n_shoppers)
        )
        everyone = np.arange(n_shoppers)
        point, boot = statistic(one, everyone), statistic(one, resamples)
        if other is not None:
            point, boot = point - statistic(other, everyone), boot - statistic(other, resamples)
        points.append(float(point))
        boots.append(boot)
    low, high = np.percentile(np.mean(boots, axis=0), [2.5, 97.5])
    return Estimate(float(np.mean(points)), float(low), float(high))


def _ratio_estimate(
    numerator: NDArray, denominator: NDArray | None, resamples: NDArray
) -> Estimate:
    def ratio(index: NDArray) -> NDArray:
        top = numerator[index].sum(axis=-1)
        bottom = index.shape[-1] if denominator is None else denominator[index].sum(axis=-1)
        return top / np.maximum(bottom, 1e-12)

    point = float(ratio(np.arange(len(numerator))))
    low, high = np.percentile(ratio(resamples), [2.5, 97.5])
    return Estimate(point, float(low), float(high))


def _coverage_estimate(items: NDArray, n_items: int, resamples: NDArray) -> Estimate:
    """Share of the catalog recommended at least once.

    A resample repeats shoppers, so it sees fewer distinct items than the sample: the raw
    percentile interval sits below the estimate. The bootstrap's spread is kept but its bias
    removed (the interval is re-centred on the estimate), then clipped to [0, 1].
    """

    def coverage(index: NDArray) -> float:
        recommended = items[index].ravel()
        return len(np.unique(recommended[recommended >= 0])) / n_items

    point = coverage(np.arange(len(items)))
    boot = np.array([coverage(index) for index in resamples])
    low, high = point + np.percentile(boot - boot.mean(), [2.5, 97.5])
    low, high = min(max(low, 0.0), point), max(min(high, 1.0), point)  # rounding guard
    return Estimate(point, float(low), float(high))


def _intra_list_diversity(category: NDArray[np.int64], n_categories: int) -> NDArray:
    """Per session: share of pairs of recommended items from different categories."""
    n_sessions = len(category)
    counts = np.zeros((n_sessions, n_categories + 1))
    np.add.at(
        counts, (np.arange(n_sessions)[:, None], np.where(category >= 0, category, n_categories)), 1
    )
    counts = counts[:, :n_categories]
    total = counts.sum(axis=1)
    same_pairs = (counts * (counts - 1)).sum(axis=1)
    all_pairs = total * (total - 1)
    return np.where(all_pairs > 0, 1.0 - same_pairs / np.maximum(all_pairs, 1), 0.0)
