"""A world fitted on real session logs: what a log of opened items identifies, and how.

A Taobao-format log holds what shoppers *opened* (views, carts, favourites, buys, with time
and category), not what they were shown. The simulator is mapped onto it as follows: a step
is one page the shop shows (``slate_size`` items composed by the stated shop-page policy,
``agents.shop_page``); a *view* is a click on the page; a visit is a session; an episode is a
shopper's life of visits (``episode: shopper``). Impressions without a click leave no row,
and a visit with no click leaves no session, as in the log. The simulator has no
favourites, so ``fav`` rows are dropped before the facts are compared.

Estimators, one per group of parameters:

================================  ===================================  ====================
parameters                        identified by                        estimator
================================  ===================================  ====================
return probability, gap between   sessions per shopper, gaps,          likelihood with
sessions (``shoppers.return_*``)  censoring at the window's end        censoring
                                                                       (``recenv.offline.returns``)
click level, patience (mean,      events per session (mean, share of   simulated method of
spread, decay), cart and          sessions of 1-2 events), hazard of   moments: Nelder-Mead
checkout logits, taste spread,    ending after 1 and 5 views, cart     on relative errors
fatigue                           and purchase per view (weight 2),    (``WEIGHTS``), common
                                  sessions with a purchase, category   random numbers
                                  switch rate                          (``fit_browsing``)
catalog scale                     distinct items and categories        set from the log
================================  ===================================  ====================

Not identified by such a log (kept at the defaults, listed in the preset): prices, budgets
and price sensitivity (no prices), position bias (no positions), clickbait and boredom
(indistinguishable from patience without impressions), taste drift, needs, quality weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from agents.shop_page import ShopPagePolicy
from recenv.offline.data.sessions import SessionLog
from recenv.offline.data.simulated_sessions import simulate_session_log
from recenv.offline.stylized_facts import stylized_facts
from recenv.sim.config import EnvConfig, deep_update, make_config

DAY = 86_400.0


@dataclass(frozen=True)
class Parameter:
    """One fitted field: its config path, starting value and allowed interval."""

    path: str
    start: float
    low: float
    high: float


PARAMETERS: dict[str, Parameter] = {
    "no_click_utility": Parameter("choice.no_click_utility", 3.0, -3.0, 9.0),
    "patience_mean": Parameter("shoppers.patience_mean", 1.0, 0.05, 4.0),
    "patience_std": Parameter("shoppers.patience_std", 0.5, 0.0, 3.0),
    "patience_decay": Parameter("dynamics.patience_decay", 0.05, 0.0, 1.0),
    "cart_bias": Parameter("funnel.cart_bias", -2.5, -8.0, 4.0),
    "checkout_bias": Parameter("funnel.checkout_bias", -2.0, -8.0, 4.0),
    "taste_noise": Parameter("shoppers.taste_noise", 0.5, 0.0, 3.0),
    "fatigue_per_exposure": Parameter("dynamics.fatigue_per_exposure", 0.35, 0.0, 2.0),
}
MOMENTS = (  # the fitted moments (the median, a step function of the parameters, is checked
    # in fidelity instead)
    "events_per_session",
    "short_sessions",
    "hazard_1",
    "hazard_5",
    "cart_per_view",
    "purchase_per_view",
    "sessions_with_purchase",
    "category_switch_rate",
)
# moments whose relative error counts double: the funnel rates a comparison leans on
WEIGHTS = {"cart_per_view": 2.0, "purchase_per_view": 2.0}
NOT_IDENTIFIED = (
    "catalog prices, shoppers.budget_*, shoppers.price_sensitivity_*: the log has no prices",
    "choice.position_bias: no positions in the log",
    "catalog.clickbait_*, dynamics.boredom: without impressions, indistinguishable from patience",
    "dynamics.taste_drift_*, dynamics.satiation, dynamics.complement_boost: not fitted",
    "choice.quality_weight, funnel.*_quality_weight, funnel.cart_taste_weight: not fitted",
    "shoppers.return_satisfaction: patience is not in a log (0: returns depend on purchases)",
)


def moments(facts: Mapping[str, Any]) -> dict[str, float]:
    """The fitted moments from a ``stylized_facts`` report."""
    scalar, distributions = facts["facts"], facts["distributions"]
    hazard = distributions["hazard"]["value"]
    quantiles = dict(
        zip(
            distributions["events_per_session_quantiles"]["q"],
            distributions["events_per_session_quantiles"]["value"],
            strict=True,
        )
    )
    return {
        "events_per_session": scalar["events_per_session"]["value"],
        "events_median": quantiles[0.5],
        "short_sessions": sum(distributions["events_per_session_histogram"]["value"][:2]),
        "hazard_1": hazard[0],
        "hazard_5": hazard[4] if hazard[4] is not None else 1.0,
        "cart_per_view": scalar["cart_per_view"]["value"],
        "purchase_per_view": scalar["purchase_per_view"]["value"],
        "sessions_with_purchase": scalar["sessions_with_purchase"]["value"],
        "category_switch_rate": scalar["category_switch_rate"]["value"],
    }


def without_favourites(log: SessionLog) -> SessionLog:
    """The log without ``fav`` rows (the simulator has no favourites), re-sessionized."""
    events = log.frame[log.frame["event"] != "fav"].drop(columns="session")
    return SessionLog.from_events(events, f"{log.name} (no fav)", log.gap_minutes, log.report)


def overrides_for(values: Mapping[str, float]) -> dict[str, Any]:
    """Nested config overrides setting each fitted parameter."""
    nested: dict[str, Any] = {}
    for name, value in values.items():
        section, field = PARAMETERS[name].path.split(".")
        nested.setdefault(section, {})[field] = float(value)
    return nested


def simulated_moments(
    base: Mapping[str, Any],
    values: Mapping[str, float],
    n_shoppers: int,
    days: float,
    seed: int,
) -> dict[str, float]:
    """The moments of a simulated log under the shop-page policy (``days`` of it)."""
    config = _config(base, values)
    log = simulate_session_log(config, ShopPagePolicy(config, seed=seed), n_shoppers, seed)
    return moments(stylized_facts(log, window=(0, days * DAY), n_resamples=1))


def fit_browsing(
    target: Mapping[str, float],
    base: Mapping[str, Any],
    n_shoppers: int = 300,
    days: float = 9.0,
    seed: int = 0,
    max_evaluations: int = 150,
    names: Sequence[str] = tuple(PARAMETERS),
) -> dict[str, Any]:
    """Simulated method of moments: the parameters whose simulated moments are closest to
    ``target`` in summed squared relative error (common random numbers: one seed)."""
    scale = {name: max(abs(target[name]), 0.01) / WEIGHTS.get(name, 1.0) for name in MOMENTS}
    history: list[dict[str, Any]] = []

    def unpack(x: np.ndarray) -> dict[str, float]:
        return {
            name: float(np.clip(value, PARAMETERS[name].low, PARAMETERS[name].high))
            for name, value in zip(names, x, strict=True)
        }

    def loss(x: np.ndarray) -> float:
        values = unpack(x)
        simulated = simulated_moments(base, values, n_shoppers, days, seed)
        error = sum(((simulated[m] - target[m]) / scale[m]) ** 2 for m in MOMENTS)
        history.append({"values": values, "moments": simulated, "loss": error})
        return error

    start = np.array([PARAMETERS[name].start for name in names])
    steps = np.array([0.1 * (PARAMETERS[name].high - PARAMETERS[name].low) for name in names])
    simplex = np.vstack(
        [start] + [start + np.eye(len(names))[k] * steps[k] for k in range(len(names))]
    )
    result = optimize.minimize(
        loss,
        start,
        method="Nelder-Mead",
        options={
            "maxfev": max_evaluations,
            "initial_simplex": simplex,
            "xatol": 1e-3,
            "fatol": 1e-4,
        },
    )
    best = min(history, key=lambda entry: entry["loss"])
    return {
        "values": best["values"],
        "moments": best["moments"],
        "target": dict(target),
        "loss": best["loss"],
        "evaluations": len(history),
        "converged": bool(result.success),
    }


def _config(base: Mapping[str, Any], values: Mapping[str, float]) -> EnvConfig:
    merged: dict[str, Any] = {}
    deep_update(merged, base)
    deep_update(merged, overrides_for(values))
    preset = merged.pop("preset", "default")
    return make_config(preset, **merged)
