"""Evaluate an agent trained in the calibrated simulator off-policy on the real log.

    python -m experiments.ope agent=popularity env=obd data=../shared/data/obd/random/all
    python -m experiments.ope agent=dqn env=obd_men data=$OBD/men out=outputs/ope_dqn.json

Every argument but ``data=``, ``out=`` and ``format=`` is a Hydra override of
``conf/config.yaml`` (agent, env, train budget, seed...). The agent trains in the
calibrated simulator with its preset budget, then its first-step recommendations (the
per-position item distribution over fresh shoppers) are evaluated two ways, side by side:
in the simulator (its CTR per shown item there, 95% CI) and on the real log with IPS,
SNIPS, DM and DR (95% bootstrap CIs; the DM/DR reward model is the click model fitted on
the log). The logging policy's own CTR is the reference. The JSON also holds the target
(``target_per_position``: each position's item distribution), so the estimates can be
recomputed from the log alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from omegaconf import DictConfig

from experiments.calibrate import load_log
from experiments.factory import build_agent, compose_config, env_config_from, training_env
from recenv.offline.calibration import fit_click_model
from recenv.offline.data import LoggedImpressions
from recenv.offline.data.synthetic import SlatePolicy, first_step
from recenv.offline.ope import OffPolicyEstimate, off_policy_estimates
from recenv.sim.config import EnvConfig
from recenv.stats import Estimate, ratio_estimate


def agent_policy(agent: Any) -> SlatePolicy:
    """The agent as a slate policy of first steps (deterministic acting)."""
    needs_info = getattr(agent, "needs_info", False)

    def act(observation, info, rng):
        kwargs = {"info": info} if needs_info else {}
        return np.asarray(agent.act(observation, deterministic=True, **kwargs))

    return act


def first_step_marginals(
    agent: Any, env_config: EnvConfig, n_shoppers: int, seed: int
) -> tuple[NDArray[np.float64], Estimate]:
    """The agent's item distribution per position ``(K, M)`` over fresh shoppers, and its CTR.

    The CTR is clicks / impressions pooled over shoppers, resampled by shopper: the items
    of one slate compete for a single click, so its positions are not independent.
    """
    slates, clicked, _ = first_step(env_config, n_shoppers, seed, agent_policy(agent))
    slates = slates.reshape(n_shoppers, -1)
    n_items, n_positions = env_config.catalog.n_items, slates.shape[1]
    marginals = np.stack(
        [np.bincount(slates[:, k], minlength=n_items) / n_shoppers for k in range(n_positions)]
    )
    ctr = ratio_estimate(clicked.sum(axis=1), np.full(n_shoppers, n_positions), seed)
    return marginals, ctr


def estimate_on_log(
    log: LoggedImpressions, marginals: NDArray[np.float64], seed: int = 0
) -> dict[str, OffPolicyEstimate]:
    """IPS, SNIPS, DM and DR of the per-position target ``marginals`` on ``log``'s rows.

    The DM/DR reward model is the click model fitted on the same log.
    """
    frame = log.frame
    position = frame["position"].to_numpy()
    model = fit_click_model(log)
    codes = model.encode_users(frame)
    q = np.stack(
        [model.probability(codes, np.full(len(frame), j), position) for j in range(log.n_items)],
        axis=1,
    )
    return off_policy_estimates(
        frame["click"].to_numpy(),
        frame["item"].to_numpy(),
        frame["propensity"].to_numpy(),
        marginals[position],
        q,
        seed=seed,
    )


def evaluate_off_policy(
    cfg: DictConfig,
    log: LoggedImpressions,
    n_shoppers: int = 20_000,
    seed: int = 0,
    agent: Any = None,
) -> dict:
    """Train ``cfg.agent`` (unless a trained ``agent`` is given) and evaluate it both ways."""
    env_config = env_config_from(cfg)
    if env_config.catalog.n_items != log.n_items or env_config.slate_size != log.n_positions:
        raise ValueError(
            f"env has {env_config.catalog.n_items} items and slate_size "
            f"{env_config.slate_size}; the log has {log.n_items} items and "
            f"{log.n_positions} positions: use the env calibrated on this log"
        )
    if agent is None:
        agent = build_agent(cfg, env_config)
        if cfg.train.total_steps > 0:
            agent.learn(training_env(cfg, env_config), int(cfg.train.total_steps))
    marginals, simulated_ctr = first_step_marginals(agent, env_config, n_shoppers, seed + 7)
    estimates = estimate_on_log(log, marginals, seed)
    return {
        "agent": cfg.agent._target_,
        "env": env_config.calibration,
        "log": log.name,
        "log_rows": len(log.frame),
        "logging_policy_ctr": float(log.frame["click"].mean()),
        "simulator": {
            "value": simulated_ctr.mean,
            "ci_low": simulated_ctr.ci_low,
            "ci_high": simulated_ctr.ci_high,
        },
        "off_policy": {name: estimate.as_dict() for name, estimate in estimates.items()},
        "top_items_per_position": [np.argsort(-row)[:3].tolist() for row in marginals],
        "target_per_position": marginals.tolist(),
    }


def main(argv: list[str] | None = None) -> dict:
    args = sys.argv[1:] if argv is None else argv
    options = dict(
        arg.split("=", 1) for arg in args if arg.split("=", 1)[0] in ("data", "out", "format")
    )
    overrides = [arg for arg in args if arg.split("=", 1)[0] not in ("data", "out", "format")]
    if "data" not in options:
        raise SystemExit(
            "usage: python -m experiments.ope data=LOG agent=NAME env=CALIBRATED [...]"
        )
    cfg = compose_config(overrides)
    log = load_log(options["data"], options.get("format", "obd"))
    report = evaluate_off_policy(cfg, log, seed=int(cfg.seed))
    out = Path(options.get("out", "outputs/ope.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"| estimate of {report['agent']} (CTR per shown item) | value | 95% CI |")
    print("|---|---|---|")
    rows = {"simulator (calibrated on the log)": report["simulator"], **report["off_policy"]}
    for name, figures in rows.items():
        print(
            f"| {name} | {figures['value']:.4f} | "
            f"[{figures['ci_low']:.4f}, {figures['ci_high']:.4f}] |"
        )
    print(f"| logging policy (observed) | {report['logging_policy_ctr']:.4f} | |")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
