"""Bootstrap confidence intervals: the one place in the toolkit that resamples.

Every interval recenv reports (evaluation, reports, fidelity, off-policy estimates) comes
from ``bootstrap``. A statistic is written as a function of an index array: given
``index`` of shape ``(b, n)`` (``b`` resamples of the ``n`` units: sessions, shoppers or
log rows) it returns ``(b,)`` values, or ``(b, s)`` values for ``s`` strata (training
seeds). The point estimate is the statistic at ``index = arange(n)``.

* **Percentile** (default): the 2.5% and 97.5% quantiles of the resampled statistic.
* **Paired**: write the statistic as a difference evaluated on the *same* index (the same
  shoppers for both arms: common random numbers); nothing else is needed.
* **Over strata and units** (two-level): with ``s > 1`` strata the strata are resampled
  too, so the interval covers the spread of training seeds as well as of shoppers; the
  point is the mean over strata. The units resample is shared by all strata because every
  seed met the same evaluation shoppers.
* **Re-centred** (``recentre=True``) for statistics a resample biases, such as catalog
  coverage (a resample repeats shoppers, so it sees fewer distinct items): the spread of
  the bootstrap is kept and its bias removed.

``scipy.stats.bootstrap`` covers the one-level cases but has no resampling of strata and
units together, so the toolkit keeps this one small helper instead of two code paths.
``interquartile_mean`` and ``iqm_over_runs`` follow rliable (Agarwal et al., 2021): the IQM
is taken over runs (seeds x scenarios), never over sessions, with a bootstrap stratified by
scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import trim_mean

N_BOOTSTRAP = 2000
CONFIDENCE = 0.95
_CHUNK_CELLS = 1_000_000  # resample-index cells per chunk: bounds memory for long logs

IndexStatistic = Callable[[NDArray[np.int64]], NDArray[np.floating]]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval."""

    mean: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high}

    def contains(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high


def bootstrap(
    statistic: IndexStatistic,
    n_units: int,
    seed: int | np.random.SeedSequence = 0,
    n_resamples: int = N_BOOTSTRAP,
    resample_strata: bool = True,
    recentre: bool = False,
) -> Estimate:
    """Point estimate and 95% percentile interval of ``statistic`` (see the module docstring).

    ``statistic(index)`` maps a ``(b, n_units)`` index to ``(b,)`` or ``(b, n_strata)``.
    """
    if n_units < 1:
        raise ValueError(f"n_units = {n_units} is out of range; allowed: integers >= 1")
    if n_resamples < 1:
        raise ValueError(f"n_resamples = {n_resamples} is out of range; allowed: integers >= 1")
    rng = np.random.default_rng(seed)
    point_values = _as_strata(statistic(np.arange(n_units)[None, :]))[0]
    n_strata = len(point_values)
    point = float(point_values.mean())
    chunk = max(1, _CHUNK_CELLS // n_units)
    draws = []
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        values = _as_strata(statistic(rng.integers(0, n_units, size=(size, n_units))))
        if n_strata > 1 and resample_strata:
            strata = rng.integers(0, n_strata, size=(size, n_strata))
            values = np.take_along_axis(values, strata, axis=1)
        draws.append(values.mean(axis=1))
    boot = np.concatenate(draws)
    tail = 50.0 * (1.0 - CONFIDENCE)
    low, high = np.percentile(boot, [tail, 100.0 - tail])
    if recentre:
        shift = point - float(boot.mean())
        low, high = min(low + shift, point), max(high + shift, point)
    return Estimate(point, float(low), float(high))


def mean_estimate(values: NDArray, seed: int = 0, n_resamples: int = N_BOOTSTRAP) -> Estimate:
    """The mean of ``values`` (``(n,)``, or ``(n_strata, n)`` aligned by unit) with its CI."""
    values = np.asarray(values, dtype=float)
    matrix = values[None, :] if values.ndim == 1 else values
    return bootstrap(
        lambda index: matrix[:, index].mean(axis=-1).T, matrix.shape[1], seed, n_resamples
    )


def ratio_estimate(
    numerator: NDArray, denominator: NDArray, seed: int = 0, n_resamples: int = N_BOOTSTRAP
) -> Estimate:
    """``sum(numerator) / sum(denominator)`` (per stratum when 2-D) with units resampled jointly."""
    top = np.atleast_2d(np.asarray(numerator, dtype=float))
    bottom = np.atleast_2d(np.asarray(denominator, dtype=float))
    return bootstrap(
        lambda index: (
            (top[:, index].sum(axis=-1) / np.maximum(bottom[:, index].sum(axis=-1), 1e-12)).T
        ),
        top.shape[1],
        seed,
        n_resamples,
    )


def interquartile_mean(values: NDArray, axis: int = -1) -> NDArray | float:
    """The mean of the middle 50% (25% trimmed from each end), as rliable defines the IQM."""
    return trim_mean(values, 0.25, axis=axis)


def iqm_over_runs(
    scores: Sequence[Sequence[float]] | NDArray, seed: int = 0, n_resamples: int = N_BOOTSTRAP
) -> Estimate:
    """IQM of run scores ``(n_runs, n_tasks)`` with a bootstrap of runs stratified by task.

    Each resample redraws the runs of every task with replacement (rliable's
    ``StratifiedBootstrap``); the IQM is taken over all runs x tasks of the resample.
    """
    matrix = np.asarray(scores, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    n_runs, n_tasks = matrix.shape
    rng = np.random.default_rng(seed)
    point = float(interquartile_mean(matrix.ravel()))
    index = rng.integers(0, n_runs, size=(n_resamples, n_runs, n_tasks))
    resampled = np.take_along_axis(matrix[None, :, :], index, axis=1).reshape(n_resamples, -1)
    boot = interquartile_mean(resampled, axis=1)
    tail = 50.0 * (1.0 - CONFIDENCE)
    low, high = np.percentile(boot, [tail, 100.0 - tail])
    return Estimate(point, float(low), float(high))


def _as_strata(values: NDArray) -> NDArray[np.float64]:
    values = np.asarray(values, dtype=float)
    return values[:, None] if values.ndim == 1 else values
