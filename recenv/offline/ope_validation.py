"""Check off-policy estimators where the truth is known: logs simulated by recenv.

For each replicate, a uniform-random logging policy's first-step log is simulated; each
target policy is estimated from it (IPS, SNIPS, DM, DR; the DM/DR reward model is the
logistic click model fitted on that log, with the shopper segment as the user feature) and
compared with its true value, measured by running the policy in the same simulator. The
summary gives each estimator's mean relative error, relative RMSE and the share of
replicates whose 95% CI contains the truth (coverage).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from recenv.offline.calibration import fit_click_model
from recenv.offline.data.synthetic import first_step_ctr, simulate_log, uniform_slates
from recenv.offline.ope import ESTIMATORS, epsilon_greedy_slate_target, off_policy_estimates
from recenv.sim.config import EnvConfig
from recenv.sim.core import build_world
from recenv.sim.params import item_table


def fixed_slate_policy(slate: NDArray[np.int64], n_items: int, epsilon: float) -> Callable:
    """Show ``slate`` to everyone, or a uniform random slate with probability ``epsilon``."""
    uniform = uniform_slates(n_items, len(slate))

    def act(observation, info, rng: np.random.Generator) -> NDArray[np.int64]:
        n = len(observation["session"])
        slates = np.tile(slate, (n, 1))
        explore = rng.random(n) < epsilon
        slates[explore] = uniform(observation, info, rng)[explore]
        return slates

    return act


def target_policies(config: EnvConfig) -> dict[str, tuple[NDArray[np.int64], float]]:
    """Good, mixed and bad slates by the items' static utility (a user-independent proxy)."""
    world = build_world(config)
    utility = item_table(config, world.catalog).static_utility
    order = np.argsort(-utility)
    k = config.slate_size
    return {
        "best_slate": (order[:k], 0.0),
        "best_slate_eps0.3": (order[:k], 0.3),
        "worst_slate": (order[-k:], 0.0),
    }


def validate(
    config: EnvConfig,
    n_impressions: int = 20_000,
    replicates: int = 20,
    n_bootstrap: int = 300,
    truth_impressions: int = 200_000,
    seed: int = 0,
) -> dict:
    """Relative error and CI coverage of every estimator for every target policy."""
    n_items = config.catalog.n_items
    policies = target_policies(config)
    truth = {
        name: first_step_ctr(
            config, fixed_slate_policy(slate, n_items, eps), truth_impressions, seed + 999
        )
        for name, (slate, eps) in policies.items()
    }
    records: dict[str, dict[str, list]] = {name: {e: [] for e in ESTIMATORS} for name in policies}
    for replicate in range(replicates):
        log = simulate_log(config, n_impressions, seed=seed + replicate)
        frame = log.frame
        model = fit_click_model(log, category_feature=None, cs=(1.0,), seed=replicate)
        codes = model.encode_users(frame)
        position = frame["position"].to_numpy()
        item = frame["item"].to_numpy()
        q = np.stack(
            [model.probability(codes, np.full(len(frame), j), position) for j in range(n_items)],
            axis=1,
        )
        for name, (slate, eps) in policies.items():
            slates = np.tile(slate, (len(frame), 1))
            target = epsilon_greedy_slate_target(slates, position, n_items, eps)
            estimates = off_policy_estimates(
                frame["click"].to_numpy(),
                item,
                frame["propensity"].to_numpy(),
                target,
                q,
                n_bootstrap=n_bootstrap,
                seed=replicate,
            )
            for estimator, estimate in estimates.items():
                records[name][estimator].append((estimate.value, estimate.contains(truth[name])))
    summary: dict = {"truth": truth, "replicates": replicates, "impressions": n_impressions}
    for name, per_estimator in records.items():
        summary[name] = {}
        for estimator, rows in per_estimator.items():
            values = np.array([value for value, _ in rows])
            relative = values / truth[name] - 1.0
            summary[name][estimator] = {
                "mean_relative_error": float(relative.mean()),
                "relative_rmse": float(np.sqrt((relative**2).mean())),
                "coverage": float(np.mean([covered for _, covered in rows])),
            }
    return summary
