"""Train one agent on one scenario, evaluate it on the paired shoppers, log everything.

    python -m experiments.train agent=dqn env=default seed=0 train.total_steps=100000
    recenv-train agent=mlp env=small                      # the same, as a console script
    python -m experiments.train -m agent=random,popularity,mlp,kmeans,dqn seed=0,1,2 \\
        hydra/launcher=joblib                             # a parallel sweep on one machine

The run folder (Hydra's, named by the overrides) receives TensorBoard event files,
``results.json`` (final metrics with 95% CIs, the resolved config, the package version),
``eval_sessions.npz`` (per-shopper outcomes, for paired comparisons across runs),
``checkpoints/`` (atomic, every ``train.checkpoint_interval`` steps) and ``final_agent/``.
``resume=true hydra.run.dir=<that folder>`` continues a killed run from its checkpoint with
the overrides it was started with; ``experiments.run_folder`` says who may write a folder
(its lock, ``train.break_lock``, ``train.overwrite``, ``train.accept_changes``).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from agents.base import shopper_steps_consumed, write_json_atomically
from agents.evaluation import EvaluationResult, evaluate
from experiments.checkpoints import read_trainer_state, resume_point, save_checkpoint
from experiments.factory import build_agent, env_config_from, training_env
from experiments.run_folder import (
    RunFolderError,
    RunLock,
    check_launch,
    check_resumed_settings,
    move_aside,
    record_launch,
    settings_of,
    with_recorded_overrides,
    writing,
)
from experiments.schema import ExperimentConfig, check_experiment, register
from experiments.tracking import TensorBoardLogger
from recenv import metrics
from recenv.sim.config import EnvConfig

SESSION_KEYS = (*metrics.SESSION_FIELDS, "items")  # what eval_sessions.npz keeps per shopper


def package_version() -> str:
    try:
        return version("recenv")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


class TrainingMonitor:
    """Called by ``learn`` after each collection step: progress, evaluations, checkpoints."""

    def __init__(
        self,
        cfg: DictConfig,
        env_config: EnvConfig,
        logger: TensorBoardLogger,
        checkpoint_root: Path,
        trainer_state: dict[str, Any],
        env: Any,
    ) -> None:
        self.cfg, self.env_config, self.logger = cfg, env_config, logger
        self.checkpoint_root, self.state, self.env = checkpoint_root, trainer_state, env
        self.started = time.perf_counter()
        self.seconds_before = float(trainer_state["train_seconds"])
        self.steps_before = dict(trainer_state["shopper_steps"])
        steps = trainer_state["steps"]
        self.next_eval = _next_multiple(steps, cfg.train.eval_interval)
        self.next_checkpoint = _next_multiple(steps, cfg.train.checkpoint_interval)
        self.progress = tqdm(
            total=int(cfg.train.total_steps),
            initial=steps,
            unit="step",
            unit_scale=True,
            disable=not cfg.train.progress,
            dynamic_ncols=True,
        )

    def __call__(self, agent: Any) -> bool:
        steps = int(getattr(agent, "steps_done", self.cfg.train.total_steps))
        self.progress.update(max(0, steps - self.progress.n))
        self.state["steps"] = steps
        self.update_budget(agent)
        if steps >= self.next_eval and steps < int(self.cfg.train.total_steps):
            # (the final evaluation, on every evaluation shopper, follows training)
            self.next_eval = _next_multiple(steps, self.cfg.train.eval_interval)
            self.evaluate(agent, int(self.cfg.eval.interval_shoppers))
        if steps >= self.next_checkpoint:
            self.next_checkpoint = _next_multiple(steps, self.cfg.train.checkpoint_interval)
            self.checkpoint(agent)
        return True

    def evaluate(self, agent: Any, n_shoppers: int) -> EvaluationResult:
        """Score the greedy policy on the first ``n_shoppers`` evaluation shoppers.

        These evaluations only monitor: nothing is selected on them, and their shopper-steps
        are reported apart from the agent's budget (``shopper_steps.monitoring``).
        """
        device = str(self.cfg.train.get("env_device", "cpu"))  # the training env's device
        result = evaluate(agent, self.env_config, n_shoppers, int(self.cfg.eval.seed), device)
        record_evaluation(self.logger, result, self.state["steps"])
        self.state["evaluations"].append(
            {"steps": self.state["steps"], "return": result.summary["return"].mean}
        )
        self.state["shopper_steps"]["monitoring"] += result.shopper_steps
        self.progress.set_postfix(eval_return=f"{result.summary['return'].mean:.2f}")
        return result

    def update_budget(self, agent: Any) -> None:
        """Shopper-steps the agent consumed so far (training env + its own) and wall time."""
        consumed = shopper_steps_consumed(agent, self.env)
        used = self.state["shopper_steps"]
        used["training"] = self.steps_before["training"] + consumed["training"]
        used["selection"] = consumed["selection"]
        seconds = time.perf_counter() - self.started
        self.state["train_seconds"] = self.seconds_before + seconds
        self.state["launches"][-1].update(to_step=self.state["steps"], train_seconds=seconds)

    def checkpoint(self, agent: Any) -> None:
        self.logger.flush()  # the event files hold everything up to the checkpoint
        save_checkpoint(
            self.checkpoint_root, agent, self.state, bool(self.cfg.train.save_replay_buffer)
        )

    def close(self) -> None:
        self.progress.close()


def _next_multiple(steps: int, interval: int) -> float:
    return (steps // interval + 1) * interval if interval > 0 else float("inf")


def restore_agent(cfg: DictConfig, folder: Path, env_config: EnvConfig, env: Any) -> Any:
    """Load the checkpointed agent (and its replay buffer, when one was saved)."""
    agent = get_class(cfg.agent._target_).load(folder / "agent", env_config)
    if hasattr(agent, "load_replay_buffer"):
        agent.load_replay_buffer(folder / "agent", env.single_observation_space)
    return agent


def run_training(cfg: DictConfig, run_dir: Path, agent_name: str | None = None) -> dict[str, Any]:
    """Train, evaluate and write the run folder; returns the content of ``results.json``.

    Every setting is checked first; then the folder is locked, and a previous run in it is
    resumed (``resume=true``), moved aside (``train.overwrite=true``) or refused.
    """
    checked = check_experiment(cfg)
    env_config = env_config_from(cfg)
    with RunLock(run_dir, checked.train.break_lock):
        found = check_launch(run_dir, checked.resume, checked.train.overwrite)
        return _train_in_folder(cfg, checked, env_config, run_dir, found, agent_name)


def _train_in_folder(
    cfg: DictConfig,
    checked: ExperimentConfig,
    env_config: EnvConfig,
    run_dir: Path,
    found: list[str],
    agent_name: str | None,
) -> dict[str, Any]:
    env = training_env(cfg, env_config)
    checkpoint_root = run_dir / "checkpoints"
    folder = resume_point(run_dir, found) if checked.resume else None
    settings = settings_of(cfg)
    if folder is not None:
        trainer_state = {**new_trainer_state(settings), **read_trainer_state(folder)}
        changes = check_resumed_settings(
            trainer_state["settings"], settings, checked.train.accept_changes
        )
        agent = restore_agent(cfg, folder, env_config, env)
        if changes:
            trainer_state["changes"].append({"steps": trainer_state["steps"], "changed": changes})
            trainer_state["settings"] = settings
    else:
        agent = build_agent(cfg, env_config)
        trainer_state = new_trainer_state(settings)
        if found and checked.train.overwrite:
            print(f"moved the previous run of {run_dir} to {move_aside(run_dir)}", file=sys.stderr)
    trainer_state["launches"].append({"from_step": trainer_state["steps"]})
    record_launch(run_dir, cfg)
    # Everything logged at the checkpoint's step was written before the checkpoint: keep it.
    with writing(run_dir, "the TensorBoard event file"):
        logger = TensorBoardLogger(
            run_dir, purge_step=trainer_state["steps"] + 1 if folder else None
        )
    monitor = TrainingMonitor(cfg, env_config, logger, checkpoint_root, trainer_state, env)
    try:
        remaining = int(cfg.train.total_steps) - trainer_state["steps"]
        if remaining > 0:
            agent.learn(env, remaining, logger, monitor)
        trainer_state["steps"] = max(
            trainer_state["steps"], int(getattr(agent, "steps_done", cfg.train.total_steps))
        )
        monitor.update_budget(agent)
        monitor.close()
        result = monitor.evaluate(agent, int(cfg.eval.n_shoppers))
        with writing(run_dir / "final_agent", "the final agent"):
            agent.save(run_dir / "final_agent")
        results = run_results(cfg, agent_name, trainer_state, result)
        results["agent_role"] = str(getattr(agent, "role", "learner"))
        write_run_outputs(run_dir, results, result, logger, _hyperparameters(cfg, results))
    finally:
        monitor.close()
        logger.close()
    return results


def new_trainer_state(settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The trainer's counters at step 0 (checkpointed in ``trainer.json``).

    ``settings`` are the env, agent and seed the run trains with (a resume must keep them);
    ``launches`` lists each launch's steps and seconds, which add up to the totals;
    ``changes`` the settings changes accepted on resume (``train.accept_changes``).
    """
    return {
        "steps": 0,
        "evaluations": [],
        "train_seconds": 0.0,
        "shopper_steps": {"training": 0, "selection": 0, "monitoring": 0},
        "settings": settings or {},
        "launches": [],
        "changes": [],
    }


def record_evaluation(logger: Any, result: EvaluationResult, step: int) -> None:
    """Every metric of the table under its TensorBoard tag (``eval/<metric>``)."""
    for chosen in metrics.METRICS:
        logger.record(chosen.tag, result.summary[chosen.name].mean, step)


def write_run_outputs(
    run_dir: Path,
    results: dict[str, Any],
    result: EvaluationResult,
    logger: Any,
    hyperparameters: dict[str, Any],
) -> None:
    """``eval_sessions.npz``, ``results.json`` and the hparams row: the final evaluation."""
    with writing(run_dir / "eval_sessions.npz", "the evaluation sessions"):
        np.savez_compressed(
            run_dir / "eval_sessions.npz", **{key: result.sessions[key] for key in SESSION_KEYS}
        )
    with writing(run_dir / "results.json", "the results"):
        write_json_atomically(run_dir / "results.json", results)
    logger.hparams(hyperparameters, _final_metrics(results))


def run_results(
    cfg: DictConfig, agent_name: str | None, state: dict[str, Any], result: EvaluationResult
) -> dict[str, Any]:
    used = state["shopper_steps"]
    return {
        "agent": agent_name or cfg.agent._target_.rsplit(".", 1)[-1],
        "agent_target": cfg.agent._target_,
        "env": cfg.get("env_name") or _choice("env"),
        "seed": int(cfg.seed),
        "steps": int(state["steps"]),
        "train_seconds": round(float(state["train_seconds"]), 2),
        "budget": {
            "training_shopper_steps": int(used["training"]),
            "selection_shopper_steps": int(used["selection"]),
            "total_shopper_steps": int(used["training"] + used["selection"]),
            "monitoring_shopper_steps": int(used["monitoring"]),
            "train_seconds": round(float(state["train_seconds"]), 2),
        },
        "evaluations": state["evaluations"],
        "launches": state["launches"],
        "accepted_changes": state["changes"],
        "eval_shoppers": int(cfg.eval.n_shoppers),
        "eval_seed": int(cfg.eval.seed),
        "explain_shoppers": int(cfg.eval.explain_shoppers),
        "n_items": int(result.n_items),
        "metrics": {name: estimate.as_dict() for name, estimate in result.summary.items()},
        "metric_definitions": {
            chosen.name: {"aggregation": chosen.aggregation, "tag": chosen.tag}
            for chosen in metrics.METRICS
        },
        "recenv_version": package_version(),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def _choice(group: str) -> str:
    if HydraConfig.initialized():
        return str(HydraConfig.get().runtime.choices.get(group, ""))
    return ""


def _hyperparameters(cfg: DictConfig, results: dict[str, Any]) -> dict[str, Any]:
    agent = OmegaConf.to_container(cfg.agent, resolve=True)
    hyperparameters = {f"agent.{k}": v for k, v in agent.items() if k != "_target_"}
    return {
        "agent": results["agent"],
        "env": results["env"],
        "seed": results["seed"],
        "train.total_steps": int(cfg.train.total_steps),
        **hyperparameters,
    }


def _final_metrics(results: dict[str, Any]) -> dict[str, float]:
    return {chosen.name: results["metrics"][chosen.name]["mean"] for chosen in metrics.METRICS}


def _terminate_gracefully(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through ``finally``: logs are flushed


register()


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def train(cfg: DictConfig) -> float:
    """Hydra entry point; returns the final mean return (the objective of sweepers)."""
    signal.signal(signal.SIGTERM, _terminate_gracefully)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        results = run_training(cfg, run_dir, _choice("agent") or None)
    except RunFolderError as error:  # a refused launch: the message says what to pass
        raise SystemExit(f"error: {error}") from error
    summary = {name: round(value["mean"], 4) for name, value in results["metrics"].items()}
    print(json.dumps({"run_dir": str(run_dir), "agent": results["agent"], **summary}))
    return float(results["metrics"]["return"]["mean"])


def main() -> None:
    """The command line: a resume runs with the overrides recorded in its folder."""
    sys.argv[1:] = with_recorded_overrides(sys.argv[1:])
    train()


if __name__ == "__main__":
    main()
