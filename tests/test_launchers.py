"""Launcher and sweeper configs: they compose, and the Ray one runs a real 2-job sweep on a
local Ray instance (when the ``ray`` extra is installed)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from experiments.factory import CONFIG_DIR
from experiments.schema import register

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = {
    "local": "hydra_plugins.hydra_joblib_launcher",
    "ray_local": "hydra_plugins.hydra_ray_launcher",
    "slurm": "hydra_plugins.hydra_submitit_launcher",
}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def hydra_config(overrides: list[str]):
    register()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize("launcher", sorted(PLUGINS))
def test_launcher_configs_compose(launcher: str) -> None:
    if not installed(PLUGINS[launcher]):
        pytest.skip(f"{PLUGINS[launcher]} is not installed (its extra)")
    cfg = hydra_config([f"hydra/launcher={launcher}"])
    assert cfg.hydra.launcher._target_.startswith(PLUGINS[launcher])


def test_the_optuna_sweeper_config_searches_dqn_hyperparameters() -> None:
    if not installed("hydra_plugins.hydra_optuna_sweeper"):
        pytest.skip("hydra-optuna-sweeper is not installed (the optuna extra)")
    cfg = hydra_config(["agent=dqn", "hydra/sweeper=dqn_optuna"])
    sweeper = OmegaConf.to_container(cfg.hydra.sweeper)
    assert sweeper["direction"] == "maximize"
    assert set(sweeper["params"]) >= {"agent.learning_rate", "agent.gamma", "agent.n_steps"}


@pytest.mark.skipif(not installed("ray"), reason="ray is not installed (the ray extra)")
def test_a_ray_multirun_on_a_local_ray_instance(tmp_path: Path) -> None:
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.train",
            "-m",
            "env=small",
            "agent=random,popularity",
            "train.total_steps=2000",
            "train.n_envs=16",
            "train.progress=false",
            "eval.n_shoppers=64",
            "hydra/launcher=ray_local",
            f"hydra.sweep.dir={tmp_path}",
        ],
        cwd=ROOT,
        env={**os.environ, "RAY_DISABLE_USAGE_STATS": "1", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    results = [json.loads(path.read_text()) for path in tmp_path.glob("*/results.json")]
    assert sorted(result["agent"] for result in results) == ["popularity", "random"]


def test_an_optuna_search_reports_the_best_of_its_trials(tmp_path: Path) -> None:
    """The reported best value is the largest objective any trial returned (the mean
    evaluation return each run wrote to results.json) and the best parameters are that
    trial's. Learning starts early so that the trials' hyperparameters change their return."""
    if not installed("hydra_plugins.hydra_optuna_sweeper"):
        pytest.skip("hydra-optuna-sweeper is not installed (the optuna extra)")
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.train",
            "-m",
            "agent=dqn",
            "env=small",
            "hydra/sweeper=dqn_optuna",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.n_jobs=1",
            "agent.learning_starts=256",
            "agent.batch_size=64",
            "agent.hidden_size=32",
            "agent.embedding_dim=16",
            "agent.validation_interval=0",
            "train.total_steps=2000",
            "train.n_envs=16",
            "train.progress=false",
            "eval.n_shoppers=64",
            f"hydra.sweep.dir={tmp_path}",
            # Folders named by all these overrides pass the 255-byte limit of a file name.
            "hydra.sweep.subdir=trial_${hydra.job.num}",
        ],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    best = OmegaConf.to_container(OmegaConf.load(tmp_path / "optimization_results.yaml"))
    searched = set(hydra_config(["agent=dqn", "hydra/sweeper=dqn_optuna"]).hydra.sweeper.params)
    trials = []
    for results_file in tmp_path.glob("*/results.json"):
        results = json.loads(results_file.read_text())
        agent = results["config"]["agent"]
        overrides = OmegaConf.load(results_file.parent / ".hydra" / "overrides.yaml")
        chosen = dict(override.split("=", 1) for override in overrides)
        params = {name: agent[name.removeprefix("agent.")] for name in searched}
        # The trial trained with the values it was given (plain numbers: YAML reads them).
        assert params == {name: yaml.safe_load(chosen[name]) for name in searched}
        trials.append((results["metrics"]["return"]["mean"], params))
    assert len(trials) == 3
    values = [value for value, _ in trials]
    assert len(set(values)) > 1, f"all trials returned {values}: the search compared nothing"
    assert best["best_value"] == max(values)
    assert best["best_params"] in [params for value, params in trials if value == max(values)]
