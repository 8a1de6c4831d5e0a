"""A logistic model with crossed random effects whose spreads are estimated (empirical Bayes).

    logit P(click | levels l_1..l_F) = b + sum_f u_f[l_f],    u_f ~ N(0, s_f^2 I)

One factor per kind of effect (item, position, each user feature). Each spread ``s_f`` is
estimated by maximising the marginal likelihood of the clicks (type-II maximum likelihood),
with the effects integrated out by the Laplace approximation at the joint mode of
``(b, u)``, as lme4's ``glmer(nAGQ = 0)`` does:

    log p(y | s) ~ l(b^, u^) - |v^|^2 / 2 - log det(I + L Z' W Z L) / 2

where ``u = L v`` (``L`` the spread of each effect's factor, ``v ~ N(0, I)``), ``l`` the
binomial log-likelihood and ``W`` its curvature at the mode. The effects reported are the
posterior modes at the estimated spreads (the Laplace approximation's posterior means):
each level is shrunk toward 0 by as much as its factor's estimated spread implies, so a
factor the data cannot tell apart gets ``s_f`` near 0 and effects near 0, an estimate rather
than the edge of a penalty grid. Writing ``u = L v`` keeps ``s_f = 0`` a regular point.

Rows are first summed into binomial cells (one per distinct combination of levels), so a
fit costs about the same for 10,000 rows as for 26 million.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, sparse
from scipy.linalg import cho_factor, cho_solve
from scipy.stats import chi2
from threadpoolctl import threadpool_limits

MAX_SPREAD = 5.0  # logit units: far beyond any item, position or user spread seen in clicks
CONFIDENCE = 0.95
_NEWTON_TOLERANCE = 1e-10
_START_SPREAD = 0.5


@dataclass(frozen=True)
class BinomialCells:
    """Rows summed by their levels: one cell per distinct combination of factor levels."""

    levels: NDArray[np.int64]  # (n_cells, n_factors) level codes
    trials: NDArray[np.float64]  # (n_cells,) rows in the cell
    clicks: NDArray[np.float64]  # (n_cells,)
    sizes: tuple[int, ...]  # levels per factor

    @classmethod
    def from_rows(
        cls,
        codes: NDArray[np.int64],
        clicks: NDArray,
        sizes: tuple[int, ...],
        weights: NDArray | None = None,
    ) -> BinomialCells:
        """Sum rows ``codes`` ``(n, F)`` with their clicks (and optional row weights)."""
        codes = np.asarray(codes, dtype=np.int64)
        for factor, size in enumerate(sizes):
            outside = codes[:, factor][(codes[:, factor] < 0) | (codes[:, factor] >= size)]
            if len(outside):
                raise ValueError(f"codes[:, {factor}] holds {outside[0]}; allowed: 0..{size - 1}")
        weights = np.ones(len(codes)) if weights is None else np.asarray(weights, dtype=float)
        levels, cell = np.unique(codes, axis=0, return_inverse=True)
        cell = cell.ravel()
        trials = np.bincount(cell, weights=weights, minlength=len(levels))
        clicked = np.bincount(cell, weights=weights * np.asarray(clicks), minlength=len(levels))
        keep = trials > 0
        return cls(levels[keep], trials[keep], clicked[keep], tuple(int(s) for s in sizes))

    @property
    def n_factors(self) -> int:
        return len(self.sizes)

    def design(self) -> sparse.csr_matrix:
        """One-hot ``Z`` ``(n_cells, sum(sizes))``: one column per level of every factor."""
        offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        n_cells = len(self.trials)
        columns = (self.levels + offsets).ravel()
        rows = np.repeat(np.arange(n_cells), self.n_factors)
        values = np.ones(len(columns))
        return sparse.csr_matrix((values, (rows, columns)), shape=(n_cells, sum(self.sizes)))


@dataclass(frozen=True)
class RandomEffectsFit:
    """Intercept, posterior-mode effects per factor, the spreads and the marginal likelihood."""

    intercept: float
    effects: tuple[NDArray[np.float64], ...]  # per factor, one effect per level
    spreads: NDArray[np.float64]  # (n_factors,) the prior SDs (estimated or fixed)
    log_marginal: float  # Laplace log marginal likelihood at ``spreads`` (no binomial constant)

    def logit(self, levels: NDArray[np.int64]) -> NDArray[np.float64]:
        """``b + sum_f u_f[l_f]`` of rows of level codes ``(n, F)``."""
        total = np.full(len(levels), self.intercept)
        for factor, effect in enumerate(self.effects):
            total += effect[levels[:, factor]]
        return total


class _Mode:
    """The joint posterior mode of ``(b, v)`` at given spreads, warm-started from the last.

    With ``X = [1, Z]`` and ``S = diag(1, L)`` the linear predictor is ``X S theta`` and the
    curvature ``S X'WX S`` (+ I for ``v``); ``X'WX`` is one sparse product of a fixed
    matrix of level pairs with the weights, which keeps an evaluation cheap for 10^5 cells.
    """

    def __init__(self, cells: BinomialCells) -> None:
        self.cells = cells
        n_cells = len(cells.trials)
        self.features = sparse.hstack([np.ones((n_cells, 1)), cells.design()]).tocsr()
        self.features_t = self.features.T.tocsr()
        n_columns = self.features.shape[1]
        offsets = np.concatenate([[0], np.cumsum(cells.sizes)[:-1]]) + 1
        columns = np.hstack([np.zeros((n_cells, 1), dtype=np.int64), cells.levels + offsets])
        pair = (columns[:, :, None] * n_columns + columns[:, None, :]).reshape(n_cells, -1)
        self.pairs = sparse.csr_matrix(
            (np.ones(pair.size), (pair.ravel(), np.repeat(np.arange(n_cells), pair.shape[1]))),
            shape=(n_columns * n_columns, n_cells),
        )
        self.factor_of_column = np.repeat(np.arange(cells.n_factors), cells.sizes)
        self.theta = np.zeros(n_columns)
        self.theta[0] = _logit_of_rate(cells.clicks.sum() / cells.trials.sum())

    def solve(self, spreads: NDArray[np.float64]) -> tuple[float, NDArray, float]:
        """Newton's method on ``l(b + Z L v) - |v|^2 / 2``; returns (b, u, log marginal)."""
        cells = self.cells
        scale = np.concatenate([[1.0], spreads[self.factor_of_column]])  # diag(S)
        identity = np.eye(len(scale))
        identity[0, 0] = 0.0  # the intercept has a flat prior
        theta = self.theta.copy()
        value = self._objective(scale, theta)
        for _ in range(100):
            probability = _sigmoid(self.features @ (scale * theta))
            weight = cells.trials * probability * (1 - probability)
            gram = (self.pairs @ weight).reshape(len(scale), len(scale))  # X'WX
            curvature = scale[:, None] * gram * scale[None, :] + identity
            gradient = scale * (self.features_t @ (cells.clicks - cells.trials * probability))
            gradient[1:] -= theta[1:]
            step = cho_solve(cho_factor(curvature), gradient)
            size = 1.0
            while True:  # halve the step until the objective does not fall
                candidate = theta + size * step
                new_value = self._objective(scale, candidate)
                if new_value >= value - 1e-12 or size < 1e-8:
                    break
                size /= 2
            theta, value = candidate, new_value
            if np.max(np.abs(size * step)) < _NEWTON_TOLERANCE:
                break  # the last curvature is that of the mode to within the tolerance
        self.theta = theta
        random_curvature = curvature[1:, 1:]  # I + L Z'WZ L
        log_det = 2.0 * np.log(np.diag(cho_factor(random_curvature, lower=True)[0])).sum()
        return float(theta[0]), scale[1:] * theta[1:], value - 0.5 * log_det

    def _objective(self, scale: NDArray, theta: NDArray) -> float:
        eta = self.features @ (scale * theta)
        cells = self.cells
        log_likelihood = cells.clicks @ eta - cells.trials @ _softplus(eta)
        return float(log_likelihood - 0.5 * theta[1:] @ theta[1:])


def fit_random_effects(
    cells: BinomialCells,
    fixed: dict[int, float] | None = None,
    spreads: NDArray | None = None,
) -> RandomEffectsFit:
    """Estimate the spreads by maximising the Laplace marginal likelihood, then the effects.

    ``fixed`` holds factors whose spread is set, not estimated (``{0: 0.0}``: no effect of
    factor 0, the null model of a likelihood-ratio test); ``spreads`` fixes all of them
    (a plain L2-penalised fit with prior SDs ``spreads``).
    """
    if cells.clicks.sum() <= 0 or cells.clicks.sum() >= cells.trials.sum():
        raise ValueError("clicks: a click model needs clicks and non-clicks in the log")
    # The dense algebra is on a few hundred columns at most: BLAS threads would only spin
    # against each other (4x slower on a busy 2-core machine).
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(cells, fixed, spreads)


def _fit(cells: BinomialCells, fixed: dict[int, float] | None, spreads: NDArray | None):
    mode = _Mode(cells)
    if spreads is not None:
        spreads = np.asarray(spreads, dtype=float)
        if spreads.shape != (cells.n_factors,) or np.any(spreads < 0):
            raise ValueError(
                f"spreads = {spreads.tolist()}; allowed: {cells.n_factors} values >= 0"
            )
        return _result(cells, mode, spreads)
    fixed = dict(fixed or {})
    for factor, value in fixed.items():
        if not 0 <= factor < cells.n_factors or not 0 <= value <= MAX_SPREAD:
            raise ValueError(
                f"fixed = {{{factor}: {value}}}; allowed: factors 0..{cells.n_factors - 1}, "
                f"spreads in [0, {MAX_SPREAD}]"
            )
    free = [factor for factor in range(cells.n_factors) if factor not in fixed]
    estimated = np.zeros(cells.n_factors)
    for factor, value in fixed.items():
        estimated[factor] = value
    if free:

        def negative_log_marginal(variances: NDArray) -> float:
            estimated[free] = np.sqrt(np.maximum(variances, 0.0))
            return -mode.solve(estimated)[2]

        # Variances, not SDs: the marginal likelihood is even in s, so its slope in s is 0
        # at s = 0, while its slope in s^2 there tells whether any spread is supported.
        result = optimize.minimize(
            negative_log_marginal,
            np.full(len(free), _START_SPREAD**2),
            method="L-BFGS-B",
            bounds=[(0.0, MAX_SPREAD**2)] * len(free),
            options={"eps": 1e-7, "ftol": 1e-12, "gtol": 1e-7},
        )
        estimated[free] = np.sqrt(np.maximum(result.x, 0.0))
    return _result(cells, mode, estimated)


def _result(cells: BinomialCells, mode: _Mode, spreads: NDArray) -> RandomEffectsFit:
    intercept, effects, log_marginal = mode.solve(spreads)
    blocks = np.split(effects, np.cumsum(cells.sizes)[:-1])
    return RandomEffectsFit(intercept, tuple(blocks), spreads.copy(), log_marginal)


def likelihood_ratio(cells: BinomialCells, factor: int, fit: RandomEffectsFit | None = None):
    """``2 (log p(y | s^) - log p(y | s^ with s_factor = 0))``: evidence of any spread.

    Its null distribution is the boundary mixture ``chi2_0 / 2 + chi2_1 / 2`` (Self and
    Liang, 1987): reject ``s_factor = 0`` at 5% when it exceeds ``chi2_1``'s 90% quantile.
    """
    fit = fit if fit is not None else fit_random_effects(cells)
    null = fit_random_effects(cells, fixed={factor: 0.0})
    return max(2.0 * (fit.log_marginal - null.log_marginal), 0.0)


def boundary_critical_value(level: float = 0.05) -> float:
    """The ``level`` critical value of the mixture ``chi2_0 / 2 + chi2_1 / 2`` (2.71 at 5%)."""
    return float(chi2.ppf(1.0 - 2.0 * level, df=1))


def profile_interval(
    cells: BinomialCells, factor: int, fit: RandomEffectsFit | None = None
) -> tuple[float, float]:
    """95% profile-likelihood interval of one factor's spread.

    The spreads ``s`` whose profile log marginal (the other spreads re-estimated) is within
    ``chi2_1(0.95) / 2`` of the maximum; the lower end is 0 when ``s = 0`` is within it.
    """
    fit = fit if fit is not None else fit_random_effects(cells)
    drop = chi2.ppf(CONFIDENCE, df=1) / 2.0
    best = fit.log_marginal

    def shortfall(spread: float) -> float:
        profiled = fit_random_effects(cells, fixed={factor: spread})
        return best - profiled.log_marginal - drop

    estimate = float(fit.spreads[factor])
    low = 0.0
    if estimate > 0 and shortfall(0.0) > 0:
        low = optimize.brentq(shortfall, 0.0, estimate, xtol=1e-4)
    if shortfall(MAX_SPREAD) < 0:
        return low, MAX_SPREAD
    high = optimize.brentq(shortfall, estimate, MAX_SPREAD, xtol=1e-4)
    return float(low), float(high)


def _softplus(eta: NDArray) -> NDArray:
    """``log(1 + e^eta)`` without overflow (a third of ``logaddexp``'s time)."""
    return np.log1p(np.exp(-np.abs(eta))) + np.maximum(eta, 0.0)


def _sigmoid(eta: NDArray) -> NDArray:
    return 0.5 * (1.0 + np.tanh(0.5 * eta))


def _logit_of_rate(rate: float) -> float:
    return float(np.log(rate / (1.0 - rate)))
