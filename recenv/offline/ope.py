"""Off-policy evaluation of a recommendation policy from logs with propensities.

Position-based logs: each row is one (impression, position) with the shown item, the
click, and the logging policy's probability of that item at that position
(``propensity``). The target policy gives, for each row, a distribution over items at the
row's position (``target``: ``(n, n_items)``). Its value is the expected click of an item
it shows, per (impression, position) — the CTR it would get:

* IPS:    ``mean(w * r)`` with ``w = target[r, item_r] / propensity_r``
* SNIPS:  ``sum(w * r) / sum(w)`` (self-normalised: less variance, a little bias)
* DM:     ``mean(sum_j target[r, j] * q[r, j])`` with ``q`` a reward model (``q[r, j]``:
  predicted click of item j at the row's position for the row's user)
* DR:     ``DM + mean(w * (r - q[r, item_r]))`` (unbiased if either part is right)

This is the independent-position (position-wise) form, standard for slate logs whose
slates cannot be regrouped (the Open Bandit Dataset's samples). CIs are percentile
bootstraps over rows from ``recenv.stats.bootstrap``, the same resamples for every
estimator (the reward model is not refitted inside the bootstrap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recenv.stats import Estimate, bootstrap

ESTIMATORS = ("ips", "snips", "dm", "dr")


@dataclass(frozen=True)
class OffPolicyEstimate:
    """An estimated policy value (CTR per shown item) with its 95% bootstrap CI."""

    value: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}

    def contains(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high


def _check(
    reward: NDArray, item: NDArray, propensity: NDArray, target: NDArray, q: NDArray | None
) -> None:
    n = len(reward)
    if not (len(item) == len(propensity) == len(target) == n):
        raise ValueError("reward, item, propensity and target need one entry per logged row")
    if np.any(~((propensity > 0) & (propensity <= 1))):
        row = int(np.flatnonzero(~((propensity > 0) & (propensity <= 1)))[0])
        raise ValueError(f"row {row}: propensity = {propensity[row]} is outside (0, 1]")
    sums = target.sum(axis=1)
    if np.any(np.abs(sums - 1) > 1e-6) or np.any(target < 0):
        row = int(np.flatnonzero((np.abs(sums - 1) > 1e-6) | (target < 0).any(axis=1))[0])
        raise ValueError(f"row {row}: target probabilities must be >= 0 and sum to 1")
    if q is not None and q.shape != target.shape:
        raise ValueError(f"reward model shape {q.shape} != target shape {target.shape}")


def off_policy_estimates(
    reward: NDArray,
    item: NDArray[np.int64],
    propensity: NDArray,
    target: NDArray,
    q: NDArray | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, OffPolicyEstimate]:
    """IPS and SNIPS always; DM and DR when a reward model ``q`` is given."""
    reward = np.asarray(reward, dtype=np.float64)
    propensity = np.asarray(propensity, dtype=np.float64)
    _check(reward, item, propensity, target, q)
    rows = np.arange(len(reward))
    weight = target[rows, item] / propensity
    weighted_click = weight * reward
    per_row = {"ips": weighted_click}  # the estimators that are means of a per-row term
    if q is not None:
        direct = (target * q).sum(axis=1)
        per_row["dm"] = direct
        per_row["dr"] = direct + weight * (reward - q[rows, item])

    def snips(index: NDArray) -> NDArray:
        return weighted_click[index].sum(axis=-1) / np.maximum(weight[index].sum(axis=-1), 1e-12)

    statistics = {name: _row_mean(values) for name, values in per_row.items()}
    statistics["snips"] = snips
    # One seed for all: every estimator sees the same resampled rows.
    return {
        name: _from_estimate(bootstrap(statistics[name], len(reward), seed, n_bootstrap))
        for name in ESTIMATORS
        if name in statistics
    }


def _row_mean(values: NDArray) -> Callable[[NDArray], NDArray]:
    return lambda index: values[index].mean(axis=-1)


def _from_estimate(estimate: Estimate) -> OffPolicyEstimate:
    return OffPolicyEstimate(estimate.mean, estimate.ci_low, estimate.ci_high)


def epsilon_greedy_slate_target(
    slates: NDArray[np.int64], position: NDArray[np.int64], n_items: int, epsilon: float
) -> NDArray[np.float64]:
    """Per-row item distributions of a policy that shows slate ``slates[r]`` with
    probability ``1 - epsilon`` and a uniform random slate otherwise."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon = {epsilon} is out of range; allowed: [0, 1]")
    target = np.full((len(slates), n_items), epsilon / n_items)
    rows = np.arange(len(slates))
    target[rows, slates[rows, position]] += 1.0 - epsilon
    return target
