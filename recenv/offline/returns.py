"""Shoppers who come back: the return model fitted on a real session log, by likelihood.

After each session a shopper returns with probability ``p = sigmoid(a + b * bought)``
(``bought``: the session had a purchase), after a gap (end of one session to the start of
the next) that is log-normal in hours, ``log gap ~ Normal(mu, sigma)``. In a log observed
over a window ``[start, end)``, a shopper's last session is *censored*: either they never
came back (probability ``1 - p``) or their next session falls after the window
(``p * S(end - session end)``, ``S`` the gap's survival function). So the log-likelihood is

    sum over sessions followed by another:  log p + log f(gap)
    sum over last sessions:                 log((1 - p) + p S(remaining))

maximised over ``(a, b, mu, log sigma)`` with ``scipy.optimize.minimize`` (L-BFGS-B).
Intervals: a bootstrap over shoppers (``recenv.stats``). The simulator's return model
(``shoppers.return_bias``, ``return_purchase``) takes ``a`` and ``b``; its satisfaction term
(patience left) is not in a log and stays 0; the gap only time-stamps simulated logs.
``sessions_per_shopper`` predicts how many sessions a shopper who starts at the window's
start has inside it, for a check on held-out shoppers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, stats

from recenv.offline.data.sessions import SessionLog
from recenv.stats import Estimate, bootstrap

HOUR = 3600.0
# |logit| cap: p within [0.0009, 0.9991]. A short window of active shoppers often puts the
# maximum at p -> 1 (a long gap explains every last session as well as leaving does): the
# fit then sits at the cap, which ``identified`` reports.
MAX_LOGIT = 7.0


@dataclass(frozen=True)
class ReturnModel:
    """``P(return) = sigmoid(bias + purchase * bought)``; gap ``~ LogNormal(mu, sigma)`` hours."""

    bias: float
    purchase: float
    gap_log_mean: float
    gap_log_std: float

    @property
    def gap_median_hours(self) -> float:
        return float(np.exp(self.gap_log_mean))

    def return_probability(self, bought: NDArray | float) -> NDArray | float:
        return 1.0 / (1.0 + np.exp(-(self.bias + self.purchase * np.asarray(bought, float))))

    @property
    def identified(self) -> bool:
        """False when the return probability sits at its cap (the log cannot tell it apart
        from a long gap)."""
        return abs(self.bias) < MAX_LOGIT - 1e-3

    def as_dict(self) -> dict[str, float | bool]:
        return {
            **asdict(self),
            "gap_median_hours": self.gap_median_hours,
            "return_probability_identified": self.identified,
        }


def session_table(log: SessionLog) -> pd.DataFrame:
    """One row per session: user, start and end (seconds), views, bought (0/1)."""
    frame = log.frame
    grouped = frame.groupby("session", sort=True)
    table = pd.DataFrame(
        {
            "user": grouped["user"].first(),
            "start": grouped["timestamp"].min(),
            "end": grouped["timestamp"].max(),
            "views": grouped["event"].apply(lambda events: int((events == "view").sum())),
            "bought": grouped["event"].apply(lambda events: int((events == "buy").any())),
        }
    )
    return table.sort_values(["user", "start"]).reset_index(drop=True)


def _terms(table: pd.DataFrame, window_end: float) -> tuple[NDArray, ...]:
    """Per session: bought, is-followed, gap hours (followed) or remaining hours (last)."""
    user = table["user"].to_numpy()
    followed = np.r_[user[1:] == user[:-1], False]
    next_start = np.r_[table["start"].to_numpy()[1:], np.nan]
    end = table["end"].to_numpy(dtype=float)
    gap = np.where(followed, (next_start - end) / HOUR, np.nan)
    remaining = np.maximum((window_end - end) / HOUR, 1e-6)
    return table["bought"].to_numpy(dtype=float), followed, np.maximum(gap, 1e-3), remaining


def _negative_log_likelihood(theta: NDArray, bought, followed, gap, remaining) -> float:
    bias, purchase, mu, log_sigma = theta
    sigma = np.exp(log_sigma)
    p = 1.0 / (1.0 + np.exp(-(bias + purchase * bought)))
    followed_terms = np.log(p[followed]) + stats.lognorm.logpdf(
        gap[followed], s=sigma, scale=np.exp(mu)
    )
    survive = stats.lognorm.sf(remaining[~followed], s=sigma, scale=np.exp(mu))
    last_terms = np.log((1.0 - p[~followed]) + p[~followed] * survive + 1e-300)
    return -float(followed_terms.sum() + last_terms.sum())


def fit_return_model(log: SessionLog, window_end: float) -> ReturnModel:
    """Maximum-likelihood return model of ``log`` observed until ``window_end`` (seconds)."""
    terms = _terms(session_table(log), window_end)
    return _fit(*terms)


def _fit(bought, followed, gap, remaining) -> ReturnModel:
    observed = gap[followed]
    start = np.array([2.0, 0.0, np.log(observed).mean(), np.log(np.log(observed).std() + 1e-3)])
    result = optimize.minimize(
        _negative_log_likelihood,
        start,
        args=(bought, followed, gap, remaining),
        method="L-BFGS-B",
        bounds=[(-MAX_LOGIT, MAX_LOGIT), (-MAX_LOGIT, MAX_LOGIT), (None, None), (-5.0, 3.0)],
    )
    if not result.success:
        raise RuntimeError(f"the return-model fit did not converge: {result.message}")
    bias, purchase, mu, log_sigma = result.x
    return ReturnModel(float(bias), float(purchase), float(mu), float(np.exp(log_sigma)))


def return_model_intervals(
    log: SessionLog, window_end: float, n_resamples: int = 200, seed: int = 0
) -> dict[str, Estimate]:
    """95% CIs of each parameter: shoppers resampled with their sessions, refitted each time."""
    table = session_table(log)
    users = pd.factorize(table["user"])[0]
    terms = _terms(table, window_end)
    rows_of = [np.flatnonzero(users == u) for u in range(users.max() + 1)]
    fields = ("bias", "purchase", "gap_log_mean", "gap_log_std")

    fitted: dict[bytes, NDArray] = {}  # every parameter's bootstrap redraws the same shoppers

    def statistic(index: NDArray[np.int64]) -> NDArray:
        key = index.tobytes()
        if key not in fitted:
            fits = []
            for draw in index:
                rows = np.concatenate([rows_of[u] for u in draw])
                model = _fit(*(term[rows] for term in terms))
                fits.append([getattr(model, name) for name in fields])
            fitted[key] = np.asarray(fits)
        return fitted[key]

    return {
        name: bootstrap(lambda index, k=k: statistic(index)[:, k], len(rows_of), seed, n_resamples)
        for k, name in enumerate(fields)
    }


def sessions_per_shopper(
    model: ReturnModel, first_bought: NDArray, window_hours: NDArray | float, seed: int = 0
) -> NDArray:
    """Sessions inside ``window_hours`` (per shopper, after their first session starts).

    Monte Carlo under the model; later sessions buy with the share the first ones did.
    """
    rng = np.random.default_rng(seed)
    n = len(first_bought)
    limit = np.broadcast_to(np.asarray(window_hours, dtype=float), (n,))
    share = float(np.mean(first_bought))
    count, clock = np.ones(n), np.zeros(n)
    bought = np.asarray(first_bought, float)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        back = rng.random(n) < model.return_probability(bought)
        clock += rng.lognormal(model.gap_log_mean, model.gap_log_std, n)
        alive &= back & (clock < limit)
        count += alive
        bought = (rng.random(n) < share).astype(float)
    return count
