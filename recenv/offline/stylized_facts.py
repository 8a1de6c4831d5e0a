"""Stylized facts of a session log: the shape of real shopping that a simulator should match.

``stylized_facts(log)`` reports every fact below for a ``SessionLog`` (a real log, or one
simulated by ``recenv.offline.data.simulated_sessions``), each as ``{"value", "ci_low",
"ci_high"}``: a 95% bootstrap interval from ``recenv.stats`` that resamples *shoppers*
(users), since a shopper's sessions are not independent of each other. Every fact and
every resample share one seed, so the resamples are the same shoppers for all facts.

Scalar facts (``facts``):

==========================  ==========================================================
fact                        definition
==========================  ==========================================================
events_per_session          rows of a session (every event type), mean over sessions
cart_per_view               cart rows / view rows (ratio of sums over the log)
fav_per_view                fav rows / view rows
purchase_per_view           buy rows / view rows
sessions_with_cart          share of sessions with at least one cart row
sessions_with_purchase      share of sessions with at least one buy row
category_switch_rate        over pairs of consecutive views of one session (other
                            events skipped): share whose categories differ (``None``
                            when the log has no categories)
repeat_view_rate            share of views of an item already viewed earlier in the
                            same session
sessions_per_shopper        sessions per user who has any row in the log (window)
sessions_per_shopper_per_   the same per day of ``window`` (only with a window)
day
gap_hours_median            median gap between consecutive sessions of one shopper,
                            in hours (end of one to start of the next)
long_tail_share             views on items outside the top ``HEAD_SHARE`` (20%, as in
                            ``recenv.metrics``) of the viewed items by views / views
gini_views                  Gini coefficient of view counts over the viewed items
==========================  ==========================================================

Distributions (``distributions``, arrays with a CI per entry):

* ``events_per_session_quantiles`` at ``QUANTILES``, and
  ``events_per_session_histogram``: share of sessions per size bin (``LENGTH_BINS``);
* ``gap_hours_quantiles`` and ``gap_hours_histogram`` (``GAP_BINS_HOURS``);
* ``hazard``: h(k) = P(a session ends after k views | it reached k views), k = 1 ..
  ``HAZARD_VIEWS``: sessions with exactly k views / sessions with at least k views;
  ``None`` where no session reached k. Sessions without views never reach k = 1.

Ratios are ratios of sums (a resample sums numerator and denominator over its shoppers);
quantiles are the inverted-CDF quantiles of the resampled sessions (or gaps), each
weighted by how often its shopper was drawn. The two concentration facts count only the
items viewed at least once (a log knows no catalog); a resample that repeats shoppers sees
fewer distinct items, so their intervals are re-centred (``bootstrap(recentre=True)``) and
clipped to [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from recenv.metrics import HEAD_SHARE
from recenv.offline.data.sessions import SessionLog, Window, sessionize
from recenv.stats import N_BOOTSTRAP, Estimate, bootstrap, mean_estimate, ratio_estimate

HAZARD_VIEWS = 20
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
LENGTH_BINS = (1, 2, 3, 5, 10, 20, 50)  # lower edges of session-size bins (rows); last open
GAP_BINS_HOURS = (0.0, 1.0, 3.0, 6.0, 12.0, 24.0, 48.0, 96.0)  # lower edges; last open
_CELLS = 2_000_000  # resample x value cells per chunk: bounds the memory of a statistic

Fact = dict[str, float | None]


def stylized_facts(
    log: SessionLog, window: Window | None = None, seed: int = 0, n_resamples: int = N_BOOTSTRAP
) -> dict[str, Any]:
    """Every fact of the module docstring with its 95% CI (shoppers resampled).

    With ``window = (start, end)`` only rows with ``start <= timestamp < end`` count (the
    rest is dropped, counted, and the sessions re-cut).
    """
    frame, outside = log.frame, 0
    if window is not None:
        inside = ((frame["timestamp"] >= window[0]) & (frame["timestamp"] < window[1])).to_numpy()
        frame, outside = sessionize(frame[inside], log.gap_minutes), int((~inside).sum())
    if frame.empty:
        raise ValueError(f"{log.name or 'log'}: no rows to describe (window = {window})")
    user = pd.factorize(frame["user"])[0]  # 0..U-1; the bootstrap's units
    n_users = int(user.max()) + 1
    session = pd.factorize(frame["session"])[0]
    first = np.flatnonzero(np.r_[True, session[1:] != session[:-1]])  # each session's row 0
    if len(first) != session[-1] + 1 or (np.diff(user) < 0).any():
        raise ValueError(
            f"{log.name or 'log'}: rows are not grouped by user and session; build the frame "
            "with recenv.offline.data.sessions.sessionize"
        )
    session_user = user[first]
    event = frame["event"].astype(str).to_numpy()
    is_view = event == "view"
    rows = np.bincount(session)  # (n_sessions,)
    views = np.bincount(session, weights=is_view).astype(np.int64)

    def per_user(values: NDArray, owner: NDArray[np.int64] = session_user) -> NDArray:
        return np.bincount(owner, weights=np.asarray(values, dtype=float), minlength=n_users)

    def ratio(numerator: NDArray, denominator: NDArray) -> Fact:
        if not denominator.sum() > 0:
            return {"value": None, "ci_low": None, "ci_high": None}
        return _fact(ratio_estimate(numerator, denominator, seed, n_resamples))

    def count(name: str) -> NDArray:
        return per_user(event == name, user)

    sessions = per_user(np.ones(len(rows)))
    switches, pairs, repeats = _view_sequences(frame[is_view], user[is_view], n_users)
    has_category = bool((frame["category"] >= 0).any())
    gap_hours, gap_owner = _gaps(frame["timestamp"].to_numpy(), first, session_user)
    item_views = _views_by_user_and_item(frame[is_view], user[is_view], n_users)

    def statistic_fact(statistic: Callable, recentre: bool = False) -> Fact:
        estimate = bootstrap(statistic, n_users, seed, n_resamples, recentre=recentre)
        if recentre:  # a shift can leave [0, 1], where shares and Gini live
            low, high = max(estimate.ci_low, 0.0), min(estimate.ci_high, 1.0)
            estimate = Estimate(estimate.mean, low, high)
        return _fact(estimate)

    facts: dict[str, Fact] = {
        "events_per_session": ratio(per_user(rows), sessions),
        "cart_per_view": ratio(count("cart"), count("view")),
        "fav_per_view": ratio(count("fav"), count("view")),
        "purchase_per_view": ratio(count("buy"), count("view")),
        "sessions_with_cart": ratio(per_user(_any(session, event == "cart")), sessions),
        "sessions_with_purchase": ratio(per_user(_any(session, event == "buy")), sessions),
        "category_switch_rate": ratio(switches, pairs) if has_category else _none(),
        "repeat_view_rate": ratio(repeats, count("view")),
        "sessions_per_shopper": _fact(mean_estimate(sessions, seed, n_resamples)),
    }
    if window is not None:
        days = (window[1] - window[0]) / 86_400.0
        facts["sessions_per_shopper_per_day"] = _fact(mean_estimate(sessions / days, seed))
    quantile = _quantile_statistics(gap_hours, gap_owner, n_users)
    facts["gap_hours_median"] = statistic_fact(quantile(0.5)) if len(gap_hours) else _none()
    for name, measure in (("long_tail_share", _tail_share), ("gini_views", _gini)):
        viewed = is_view.any()
        facts[name] = (
            statistic_fact(_concentration(item_views, measure), True) if viewed else _none()
        )

    size_quantile = _quantile_statistics(rows, session_user, n_users)
    size_bin = np.searchsorted(LENGTH_BINS, rows, side="right") - 1
    gap_bin = np.searchsorted(GAP_BINS_HOURS, gap_hours, side="right") - 1
    reached = [per_user(views >= k) for k in range(1, HAZARD_VIEWS + 1)]
    ended = [per_user(views == k) for k in range(1, HAZARD_VIEWS + 1)]
    distributions = {
        "events_per_session_quantiles": _series(
            "q", QUANTILES, [statistic_fact(size_quantile(q)) for q in QUANTILES]
        ),
        "events_per_session_histogram": _series(
            "bins",
            _labels(LENGTH_BINS, ""),
            [ratio(per_user(size_bin == b), sessions) for b in range(len(LENGTH_BINS))],
        ),
        "gap_hours_quantiles": _series(
            "q",
            QUANTILES,
            [statistic_fact(quantile(q)) if len(gap_hours) else _none() for q in QUANTILES],
        ),
        "gap_hours_histogram": _series(
            "bins",
            _labels(GAP_BINS_HOURS, "h"),
            [
                ratio(per_user(gap_bin == b, gap_owner), per_user(gap_bin >= 0, gap_owner))
                for b in range(len(GAP_BINS_HOURS))
            ],
        ),
        "hazard": _series("k", list(range(1, HAZARD_VIEWS + 1)), [*map(ratio, ended, reached)]),
    }
    counts = frame["event"].value_counts()
    return {
        "source": log.name,
        "gap_minutes": log.gap_minutes,
        "window": list(window) if window is not None else None,
        "seed": seed,
        "n_resamples": n_resamples,
        "counts": {
            "rows": len(frame),
            "users": n_users,
            "sessions": len(rows),
            "items_viewed": int((item_views.getnnz(axis=0) > 0).sum()),
            **{f"{name}_rows": int(counts.get(name, 0)) for name in ("view", "cart", "fav", "buy")},
            "rows_outside_window": outside,
            "gaps": len(gap_hours),
        },
        "facts": facts,
        "distributions": distributions,
    }


def _view_sequences(
    viewed: pd.DataFrame, user: NDArray[np.int64], n_users: int
) -> tuple[NDArray, NDArray, NDArray]:
    """Per user: category switches and consecutive view pairs, and repeat views."""
    session = viewed["session"].to_numpy()
    category = viewed["category"].to_numpy()
    pair = session[1:] == session[:-1]  # consecutive views of one session
    switch = pair & (category[1:] != category[:-1])
    repeat = viewed.duplicated(["session", "item"]).to_numpy()
    return (
        np.bincount(user[1:], weights=switch, minlength=n_users),
        np.bincount(user[1:], weights=pair, minlength=n_users),
        np.bincount(user, weights=repeat, minlength=n_users),
    )


def _gaps(
    time: NDArray[np.int64], first: NDArray[np.int64], session_user: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Hours from the end of each session to the start of its shopper's next one."""
    last = np.r_[first[1:] - 1, len(time) - 1]
    same = session_user[1:] == session_user[:-1]
    hours = (time[first[1:]] - time[last[:-1]]) / 3600.0
    return hours[same], session_user[1:][same]


def _any(session: NDArray[np.int64], flag: NDArray[np.bool_]) -> NDArray[np.float64]:
    return (np.bincount(session, weights=flag) > 0).astype(float)


def _views_by_user_and_item(
    viewed: pd.DataFrame, user: NDArray[np.int64], n_users: int
) -> sparse.csr_matrix:
    item = pd.factorize(viewed["item"])[0]
    shape = (n_users, int(item.max()) + 1 if len(item) else 1)
    return sparse.csr_matrix((np.ones(len(item)), (user, item)), shape=shape)


def _multiplicity(index: NDArray[np.int64], n_units: int) -> NDArray[np.float64]:
    """How often each unit is drawn in each resample: ``(b, n)`` index -> ``(b, n_units)``."""
    offset = index + n_units * np.arange(len(index))[:, None]
    counts = np.bincount(offset.ravel(), minlength=len(index) * n_units)
    return counts.reshape(len(index), n_units).astype(float)


def _quantile_statistics(
    values: NDArray, owner: NDArray[np.int64], n_users: int
) -> Callable[[float], Callable]:
    """``q -> statistic``: the inverted-CDF q-quantile of ``values`` weighted by draws."""
    levels, level = np.unique(values, return_inverse=True)
    counts = sparse.csr_matrix(
        (np.ones(len(values)), (owner, level)), shape=(n_users, max(len(levels), 1))
    ).T.tocsr()  # (levels, users)

    def at(q: float) -> Callable:
        def statistic(index: NDArray[np.int64]) -> NDArray[np.float64]:
            out = []
            for chunk in _chunks(index, len(levels)):
                weights = counts @ _multiplicity(chunk, n_users).T  # (levels, b)
                cumulative = np.cumsum(weights, axis=0)
                rank = (cumulative < q * cumulative[-1]).sum(axis=0)
                out.append(levels[np.minimum(rank, len(levels) - 1)])
            return np.concatenate(out)

        return statistic

    return at


def _concentration(item_views: sparse.csr_matrix, measure: Callable) -> Callable:
    """A statistic of the resampled view counts over items, via counts of counts."""
    by_item = item_views.T.tocsr()  # (items, users)

    def statistic(index: NDArray[np.int64]) -> NDArray[np.float64]:
        out = []
        for chunk in _chunks(index, by_item.shape[0]):
            views = np.rint(by_item @ _multiplicity(chunk, by_item.shape[1]).T).astype(np.int64)
            top = int(views.max()) + 1
            offset = views + top * np.arange(len(chunk))[None, :]  # (items, b)
            frequency = np.bincount(offset.ravel(), minlength=top * len(chunk))
            out.append(measure(frequency.reshape(len(chunk), top)[:, 1:]))
        return np.concatenate(out)

    return statistic


def _gini(frequency: NDArray[np.int64]) -> NDArray[np.float64]:
    """Gini of counts given ``frequency[b, c - 1]`` = items viewed c times.

    G = 2 sum_i i x_(i) / (n sum x) - (n + 1) / n over the n viewed items sorted upward;
    the items with count c hold ranks F(c-1)+1 .. F(c) (F: cumulative frequency).
    """
    count = np.arange(1, frequency.shape[1] + 1)
    upto = np.cumsum(frequency, axis=1)
    before = upto - frequency
    rank_sum = (upto * (upto + 1) - before * (before + 1)) / 2.0
    n, total = upto[:, -1].astype(float), (frequency * count).sum(axis=1).astype(float)
    viewed = total > 0  # a resample of shoppers without views has no concentration: 0
    gini = np.zeros(len(frequency))
    gini[viewed] = (
        2.0 * (rank_sum * count)[viewed].sum(axis=1) / (n * total)[viewed]
        - (n[viewed] + 1.0) / n[viewed]
    )
    return gini


def _tail_share(frequency: NDArray[np.int64]) -> NDArray[np.float64]:
    """Share of views outside the top ``ceil(HEAD_SHARE * n)`` items (the head)."""
    count = np.arange(1, frequency.shape[1] + 1)
    n = frequency.sum(axis=1)
    head_items = np.ceil(HEAD_SHARE * n)
    above = n[:, None] - np.cumsum(frequency, axis=1)  # items with a larger count
    taken = np.clip(head_items[:, None] - above, 0, frequency)
    total = (frequency * count).sum(axis=1)
    head = np.divide((taken * count).sum(axis=1), total, out=np.ones(len(total)), where=total > 0)
    return 1.0 - head  # 0 for a resample without views, as the Gini


def _chunks(index: NDArray[np.int64], width: int) -> list[NDArray[np.int64]]:
    step = max(1, _CELLS // max(width, 1))
    return [index[start : start + step] for start in range(0, len(index), step)]


def _fact(estimate: Estimate) -> Fact:
    return {"value": estimate.mean, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high}


def _none() -> Fact:
    return {"value": None, "ci_low": None, "ci_high": None}


def _series(key: str, positions: Sequence, facts: Sequence[Fact]) -> dict[str, list]:
    return {key: list(positions), **{field: [fact[field] for fact in facts] for field in _none()}}


def _labels(edges: Sequence[float], unit: str) -> list[str]:
    """Bin names from lower edges: integer bins read '3-4', the last one '50+'."""
    labels = []
    for low, high in zip(edges, [*edges[1:], None], strict=True):
        low_text = f"{low:g}{unit}"
        if high is None:
            labels.append(f"{low_text}+")
        elif not unit and high - low == 1:
            labels.append(low_text)
        else:
            labels.append(f"{low:g}-{high - 1 if not unit else high:g}{unit}")
    return labels
