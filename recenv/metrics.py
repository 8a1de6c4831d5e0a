"""The metrics of a set of shopping sessions: one definition each, used everywhere.

Evaluation (``agents.evaluation``), TensorBoard tags, ``results.json``, ``report.md``,
``experiments.compare``, ``experiments.simulate`` and the fidelity replay all read this
table, so a name always means the same number.

=====================  ============================  ===================================
metric                 per-session statistic         how sessions aggregate
=====================  ============================  ===================================
return                 sum of rewards                mean over sessions
ctr                    clicks, impressions           ratio of sums: clicks / impressions
conversion_rate        1 if anything was bought      mean over sessions (binary)
revenue                money spent                   mean over sessions
session_length         steps                         mean over sessions
intra_list_diversity   share of item pairs from      mean over sessions
                       different categories
long_tail_share        tail impressions, impressions  ratio of sums
new_item_share         impressions of items released  ratio of sums
                       during the run, impressions
new_item_ctr           clicks on such items, their   ratio of sums (0 without new items)
                       impressions
coverage               items recommended             distinct items / catalog size
=====================  ============================  ===================================

Scenario metrics (``SCENARIO_METRICS``), reported where the world has the structure:

=============================  =========================  ==================================
metric                         per-session statistic      how sessions aggregate
=============================  =========================  ==================================
cross_category_click_share     clicks on a complement of  ratio of sums: complement clicks /
                               a category bought at an    clicks (complements on:
                               earlier step, clicks       ``dynamics.complement_boost > 0``)
cross_category_purchase_share  items bought in such a     ratio of sums: complement
                               complement, items bought   purchases / items purchased
shop_purchase_hhi              items bought per shop      sum over shops of the squared
                                                          purchase share (pooled): 1/S
                                                          spread evenly, 1 one shop (shops)
shop_reputation_exposure       summed shop reputation of  ratio of sums: reputation shown /
                               the impressions            impressions
shop_purchase_reputation       summed shop reputation of  ratio of sums: reputation
                               the items bought           purchased / items purchased
=============================  =========================  ==================================

Impressions count every shown item (a slate of K is K impressions); the long tail is every
item outside the most popular ``HEAD_SHARE`` of the catalog. With several training seeds
the value is the mean over seeds of each seed's value. Every interval is a 95% bootstrap
(``recenv.stats``) that resamples the evaluation shoppers and, with several seeds, the
seeds too (a two-level bootstrap; shoppers are shared by the seeds, so the shopper
resample is shared). Paired differences use the same resamples for both agents.
Coverage is a set statistic that a resample biases downwards, the purchase HHI one that it
biases upwards; their intervals are re-centred.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from recenv.stats import N_BOOTSTRAP, Estimate, bootstrap

HEAD_SHARE = 0.2  # the most popular 20% of items are the head; the rest is the long tail
COVERAGE_RESAMPLES = 500  # a set statistic is costlier to resample; 500 keep its CI stable

Sessions = Mapping[str, NDArray]  # per-session arrays aligned by shopper (+ "items")


@dataclass(frozen=True)
class Metric:
    """One row of the table above."""

    name: str
    numerator: str  # per-session field summed over sessions
    denominator: str | None  # per-session field summed, or None: divide by the sessions
    binary: bool  # per-session values are 0/1: no interquartile mean over sessions
    description: str

    @property
    def tag(self) -> str:
        """The TensorBoard tag of this metric on the evaluation shoppers."""
        return f"eval/{self.name}"

    @property
    def aggregation(self) -> str:
        if self.name == "coverage":
            return "distinct items recommended / catalog size"
        if self.name == "shop_purchase_hhi":
            return "sum over shops of (items bought there / items bought)^2"
        if self.denominator is None:
            return "mean over sessions"
        return f"ratio of sums: {self.numerator} / {self.denominator}"


METRICS: tuple[Metric, ...] = (
    Metric("return", "return", None, False, "session return (sum of rewards)"),
    Metric("ctr", "clicks", "impressions", False, "clicks per impression"),
    Metric("conversion_rate", "converted", None, True, "share of sessions that buy"),
    Metric("revenue", "revenue", None, False, "money spent per session"),
    Metric("session_length", "steps", None, False, "steps per session"),
    Metric(
        "intra_list_diversity",
        "diversity",
        None,
        False,
        "share of pairs of recommended items from different categories",
    ),
    Metric("long_tail_share", "tail_impressions", "impressions", False, "long-tail impressions"),
    Metric("new_item_share", "new_impressions", "impressions", False, "new-item impressions"),
    Metric("new_item_ctr", "new_clicks", "new_impressions", False, "clicks per new impression"),
    Metric("coverage", "items", None, False, "share of the catalog recommended at least once"),
)
SCENARIO_METRICS: tuple[Metric, ...] = (
    Metric(
        "cross_category_click_share",
        "complement_clicks",
        "clicks",
        False,
        "clicks on a complement of a category bought earlier in the episode",
    ),
    Metric(
        "cross_category_purchase_share",
        "complement_purchases",
        "items_purchased",
        False,
        "items bought in a complement of a category bought earlier in the episode",
    ),
    Metric(
        "shop_purchase_hhi",
        "shop_purchases",
        None,
        False,
        "concentration of purchases over shops: sum of squared shop shares",
    ),
    Metric(
        "shop_reputation_exposure",
        "reputation_shown",
        "impressions",
        False,
        "mean shop reputation per impression",
    ),
    Metric(
        "shop_purchase_reputation",
        "reputation_purchased",
        "items_purchased",
        False,
        "mean shop reputation per item bought",
    ),
)
_SET_STATISTICS = ("coverage", "shop_purchase_hhi")  # not a sum over sessions
BY_NAME: dict[str, Metric] = {metric.name: metric for metric in (*METRICS, *SCENARIO_METRICS)}
SESSION_FIELDS = (
    "return",
    "steps",
    "clicks",
    "impressions",
    "revenue",
    "converted",
    "diversity",
    "tail_impressions",
    "new_impressions",
    "new_clicks",
)


def metric(name: str) -> Metric:
    """The metric called ``name``, or a ValueError listing the known ones."""
    if name not in BY_NAME:
        raise ValueError(f"metric = {name!r} is unknown; choose one of {list(BY_NAME)}")
    return BY_NAME[name]


def session_table(
    raw: Mapping[str, NDArray],
    category: NDArray[np.int64],
    popularity_rank: NDArray[np.int64],
    n_categories: int,
    release_session: NDArray[np.int64] | None = None,
    reputation: NDArray[np.floating] | None = None,
) -> dict[str, NDArray]:
    """The per-session fields of the table from raw session totals.

    ``raw`` holds per-session ``return``, ``steps``, ``clicks``, ``revenue``, ``purchases``
    and ``items`` (``(n, T*K)`` ids of everything shown, -1 after the session ended), and
    ``new_clicks`` (clicks on items released during the run) when the catalog has any;
    the scenario records (``agents.scenario_records``) pass through. ``reputation`` (the
    shop reputation of each item, worlds with shops) adds ``reputation_shown``.
    """
    items = np.asarray(raw["items"])
    shown = items >= 0
    safe = np.maximum(items, 0)
    tail = popularity_rank >= HEAD_SHARE * len(popularity_rank)
    new = None if release_session is None else np.asarray(release_session) > 0
    table = {
        "return": np.asarray(raw["return"], dtype=float),
        "steps": np.asarray(raw["steps"], dtype=float),
        "clicks": np.asarray(raw["clicks"], dtype=float),
        "impressions": shown.sum(axis=1).astype(float),
        "revenue": np.asarray(raw["revenue"], dtype=float),
        "converted": (np.asarray(raw["purchases"]) > 0).astype(float),
        "diversity": intra_list_diversity(np.where(shown, category[safe], -1), n_categories),
        "tail_impressions": (shown & tail[safe]).sum(axis=1).astype(float),
        "new_impressions": (shown & (new[safe] if new is not None else False))
        .sum(axis=1)
        .astype(float),
        "new_clicks": np.asarray(raw.get("new_clicks", np.zeros(len(items))), dtype=float),
        "items": items,
        **{name: np.asarray(raw[name], dtype=float) for name in SCENARIO_FIELDS if name in raw},
    }
    if reputation is not None:
        shown_reputation = np.where(shown, np.asarray(reputation, dtype=float)[safe], 0.0)
        table["reputation_shown"] = shown_reputation.sum(axis=1)
    return table


SCENARIO_FIELDS = (
    "complement_clicks",
    "complement_purchases",
    "items_purchased",
    "shop_purchases",
    "reputation_purchased",
)


def scenario_metrics(sessions: Sessions) -> tuple[Metric, ...]:
    """The scenario metrics whose fields ``sessions`` hold."""
    return tuple(
        chosen
        for chosen in SCENARIO_METRICS
        if chosen.numerator in sessions
        and (chosen.denominator is None or chosen.denominator in sessions)
    )


def value(name: str, sessions: Sessions, n_items: int) -> float:
    """The metric of one set of sessions (one seed)."""
    return float(_statistic(metric(name), [sessions], n_items)(_all(sessions))[0, 0])


def estimate(
    name: str,
    runs: Sequence[Sessions],
    n_items: int,
    baseline: Sequence[Sessions] | None = None,
    seed: int = 0,
) -> Estimate:
    """Mean over ``runs`` (seeds on the same shoppers) with its two-level 95% CI.

    With ``baseline`` (one run per run, on the same shoppers), the paired difference
    ``runs - baseline`` instead.
    """
    chosen = metric(name)
    runs = list(runs)
    if not runs:
        raise ValueError("estimate needs at least one run")
    n_shoppers = _check_aligned(runs if baseline is None else [*runs, *baseline])
    if baseline is not None and len(baseline) != len(runs):
        raise ValueError(
            f"paired estimates need one baseline run per run, got {len(runs)} and {len(baseline)}"
        )
    statistic = _statistic(chosen, runs, n_items)
    if baseline is not None:
        first, second = statistic, _statistic(chosen, list(baseline), n_items)

        def statistic(index: NDArray[np.int64]) -> NDArray:
            return first(index) - second(index)

    set_statistic = chosen.name in _SET_STATISTICS
    return bootstrap(
        statistic,
        n_shoppers,
        seed,
        n_resamples=COVERAGE_RESAMPLES if set_statistic else N_BOOTSTRAP,
        recentre=set_statistic and baseline is None,
    )


def summarise(runs: Sequence[Sessions], n_items: int, seed: int = 0) -> dict[str, Estimate]:
    """Every metric of the table for ``runs`` (one per seed, same shoppers), and the
    scenario metrics their sessions hold the fields of."""
    chosen_metrics = (*METRICS, *scenario_metrics(runs[0]))
    return {
        chosen.name: estimate(chosen.name, runs, n_items, seed=seed) for chosen in chosen_metrics
    }


def intra_list_diversity(category: NDArray[np.int64], n_categories: int) -> NDArray:
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


def _all(sessions: Sessions) -> NDArray[np.int64]:
    return np.arange(_n_sessions(sessions))[None, :]


def _n_sessions(sessions: Sessions) -> int:
    return len(sessions["return"])


def _check_aligned(runs: Sequence[Sessions]) -> int:
    sizes = {_n_sessions(run) for run in runs}
    if len(sizes) != 1:
        raise ValueError(
            f"runs must hold the same evaluation shoppers; got session counts {sorted(sizes)}"
        )
    return sizes.pop()


def _statistic(chosen: Metric, runs: Sequence[Sessions], n_items: int):
    """``index (b, n) -> (b, n_runs)``: the metric of every run on each resample of shoppers."""
    if chosen.name == "coverage":
        incidence = [_incidence(run["items"], n_items) for run in runs]

        def coverage(index: NDArray[np.int64]) -> NDArray:
            picks = _resample_matrix(index, incidence[0].shape[0])
            return np.column_stack(
                [np.diff((picks @ matrix).indptr) / n_items for matrix in incidence]
            )

        return coverage
    if chosen.name == "shop_purchase_hhi":
        counts = [np.asarray(run["shop_purchases"], dtype=float) for run in runs]

        def hhi(index: NDArray[np.int64]) -> NDArray:
            per_shop = [_resample_matrix(index, len(counts[0])) @ each for each in counts]
            return np.column_stack(
                [
                    ((shop / np.maximum(shop.sum(axis=1, keepdims=True), 1e-12)) ** 2).sum(axis=1)
                    for shop in per_shop
                ]
            )

        return hhi
    top = np.stack([np.asarray(run[chosen.numerator], dtype=float) for run in runs])
    if chosen.denominator is None:
        return lambda index: top[:, index].mean(axis=-1).T
    bottom = np.stack([np.asarray(run[chosen.denominator], dtype=float) for run in runs])
    return lambda index: (
        (top[:, index].sum(axis=-1) / np.maximum(bottom[:, index].sum(axis=-1), 1e-12)).T
    )


def _resample_matrix(index: NDArray[np.int64], n_sessions: int) -> sparse.csr_matrix:
    """``(b, n_sessions)`` sparse counts: how often each resample ``index[i]`` picks a session."""
    b, n = index.shape
    return sparse.csr_matrix(
        (np.ones(b * n), (np.repeat(np.arange(b), n), index.ravel())), shape=(b, n_sessions)
    )


def _incidence(items: NDArray[np.int64], n_items: int) -> sparse.csr_matrix:
    """``(n_sessions, n_items)`` sparse 0/1: which items each session was shown."""
    rows, columns = np.nonzero(items >= 0)
    matrix = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, items[rows, columns])), shape=(len(items), n_items)
    )
    matrix.sum_duplicates()
    return matrix
