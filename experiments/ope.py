"""Evaluate an agent trained in the calibrated simulator off-policy on the real log.

    python -m experiments.ope agent=popularity env=obd data=../shared/data/obd/random/all
    python -m experiments.ope agent=dqn env=obd_men data=$OBD/men out=outputs/ope_dqn.json

Every argument but ``data=``, ``out=`` and ``format=`` is a Hydra override of
``conf/config.yaml`` (agent, env, train budget, seed...). The agent trains in the
calibrated simulator with its preset budget, then its first-step recommendations (the
per-position item distribution over fresh shoppers) are evaluated two ways, side by side:
in the simulator (its CTR per shown item there, 95% CI) and on the real log with IPS,
SNIPS, DM and DR (95% bootstrap CIs; the DM/DR reward model is the click model fitted on
the log). The logging policy's own CTR is the reference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from experiments.calibrate import load_log
from experiments.factory import build_agent, compose_config, env_config_from, training_env
from recenv.calibration import fit_click_model
from recenv.data.synthetic import first_step
from recenv.ope import off_policy_estimates


def agent_policy(agent):
    """The agent as a slate policy of first steps (deterministic acting)."""
    needs_info = getattr(agent, "needs_info", False)

    def act(observation, info, rng):
        kwargs = {"info": info} if needs_info else {}
        return np.asarray(agent.act(observation, deterministic=True, **kwargs))

    return act


def evaluate_off_policy(cfg, log, n_shoppers: int = 20_000, seed: int = 0) -> dict:
    env_config = env_config_from(cfg)
    if env_config.catalog.n_items != log.n_items or env_config.slate_size != log.n_positions:
        raise ValueError(
            f"env has {env_config.catalog.n_items} items and slate_size "
            f"{env_config.slate_size}; the log has {log.n_items} items and "
            f"{log.n_positions} positions: use the env calibrated on this log"
        )
    agent = build_agent(cfg, env_config)
    if cfg.train.total_steps > 0:
        agent.learn(training_env(cfg, env_config), int(cfg.train.total_steps))
    slates, clicked, _ = first_step(env_config, n_shoppers, seed + 7, agent_policy(agent))
    slates = slates.reshape(n_shoppers, -1)
    n_items, n_positions = log.n_items, log.n_positions
    marginals = np.zeros((n_positions, n_items))
    for position in range(n_positions):
        marginals[position] = np.bincount(slates[:, position], minlength=n_items) / n_shoppers
    clicks = clicked.reshape(-1).astype(float)
    boot = np.random.default_rng(seed).integers(0, len(clicks), (1000, len(clicks)))
    simulator = {
        "value": float(clicks.mean()),
        "ci_low": float(np.percentile(clicks[boot].mean(axis=1), 2.5)),
        "ci_high": float(np.percentile(clicks[boot].mean(axis=1), 97.5)),
    }
    frame = log.frame
    position = frame["position"].to_numpy()
    model = fit_click_model(log)
    codes = model.encode_users(frame)
    q = np.stack(
        [model.probability(codes, np.full(len(frame), j), position) for j in range(n_items)],
        axis=1,
    )
    estimates = off_policy_estimates(
        frame["click"].to_numpy(),
        frame["item"].to_numpy(),
        frame["propensity"].to_numpy(),
        marginals[position],
        q,
        seed=seed,
    )
    top = [np.argsort(-marginals[k])[:3].tolist() for k in range(n_positions)]
    return {
        "agent": cfg.agent._target_,
        "env": env_config.calibration,
        "log": log.name,
        "log_rows": len(frame),
        "logging_policy_ctr": float(frame["click"].mean()),
        "simulator": simulator,
        "off_policy": {name: estimate.as_dict() for name, estimate in estimates.items()},
        "top_items_per_position": top,
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
