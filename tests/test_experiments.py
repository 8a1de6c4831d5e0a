"""The experiment harness: Hydra runs, TensorBoard logs read back, checkpoints and resume,
a joblib multirun, custom agents from config alone, config errors."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from processes import launch_training
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments.factory import compose_config
from experiments.train import run_training

pytestmark = pytest.mark.usefixtures("single_torch_thread")
QUICK = [
    "env=small",
    "train.n_envs=16",
    "train.progress=false",
    "eval.n_shoppers=64",
    "eval.interval_shoppers=32",
]


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the run folder's event files, as TensorBoard itself reads them."""
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def test_a_dqn_run_writes_results_tensorboard_and_checkpoints(tmp_path: Path) -> None:
    cfg = compose_config(
        [
            *QUICK,
            "agent=dqn",
            "train.total_steps=3200",
            "train.eval_interval=1600",
            "train.checkpoint_interval=1600",
            "agent.learning_starts=500",
            "agent.batch_size=64",
            "agent.validation_interval=1600",
        ]
    )
    results = run_training(cfg, tmp_path, "dqn")
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["steps"] == results["steps"] == 3200
    assert stored["agent"] == "dqn" and stored["recenv_version"]
    assert stored["config"]["agent"]["_target_"] == "agents.dqn.DQNAgent"
    for metric in ("return", "ctr", "conversion_rate", "coverage"):
        estimate = stored["metrics"][metric]
        assert estimate["ci_low"] <= estimate["mean"] <= estimate["ci_high"]
    logged = scalars(tmp_path)
    for tag in ("eval/return", "eval/ctr", "train/loss", "train/epsilon", "time/steps_per_s"):
        assert logged.get(tag), f"{tag} missing from {sorted(logged)}"
    assert [step for step, _ in logged["eval/return"]] == [1600, 3200]  # the last: all shoppers
    for name, estimate in stored["metrics"].items():  # TensorBoard shows results.json's numbers
        assert logged[f"eval/{name}"][-1][1] == pytest.approx(estimate["mean"], rel=1e-6)
    budget = stored["budget"]
    # 200 vector steps of 16 slots, minus the NEXT_STEP restart steps (no shopper responds)
    assert 0 < budget["training_shopper_steps"] <= 3200
    assert budget["selection_shopper_steps"] > 0  # two validation runs of 256 shoppers
    assert budget["training_shopper_steps"] < 3200  # restarts happened
    assert budget["total_shopper_steps"] == (
        budget["training_shopper_steps"] + budget["selection_shopper_steps"]
    )
    assert budget["monitoring_shopper_steps"] == pytest.approx(
        32 * logged["eval/session_length"][0][1] + 64 * logged["eval/session_length"][-1][1],
        rel=1e-5,
    )
    assert (tmp_path / "checkpoints" / "latest.json").is_file()
    assert (tmp_path / "final_agent" / "weights.pt").is_file()
    assert (tmp_path / "eval_sessions.npz").is_file()
    hparams = EventAccumulator(str(tmp_path))
    hparams.Reload()
    assert "hparams/return" in hparams.Tags()["scalars"]


def test_a_custom_agent_runs_from_config_alone(tmp_path: Path) -> None:
    cfg = compose_config([*QUICK, "agent=custom_example", "train.total_steps=2000"])
    results = run_training(cfg, tmp_path / "custom", "custom_example")
    assert results["agent_target"] == "agents.custom_example.BoughtAndFreshAgent"
    random_cfg = compose_config([*QUICK, "agent=random"])
    random_results = run_training(random_cfg, tmp_path / "random", "random")
    assert results["metrics"]["return"]["mean"] > random_results["metrics"]["return"]["mean"]


def test_unknown_agent_and_bad_fields_fail_before_the_run(tmp_path: Path) -> None:
    from hydra.errors import ConfigCompositionException, MissingConfigException

    with pytest.raises(MissingConfigException, match="agent"):
        compose_config(["agent=no_such_agent"])
    with pytest.raises(ConfigCompositionException, match="n_itemz"):
        compose_config(["env.catalog.n_itemz=5"])
    cfg = compose_config([*QUICK, "agent=dqn", "agent.learning_rate=-1"])
    with pytest.raises(ValueError, match=r"learning_rate = -1.* allowed: \(0, inf\)"):
        run_training(cfg, tmp_path, "dqn")
    cfg = compose_config([*QUICK, "env.catalog.n_items=1"])
    with pytest.raises(ValueError, match="n_items = 1 is out of range"):
        run_training(cfg, tmp_path, "dqn")


def test_a_killed_run_resumes_to_the_same_step_count_with_its_history(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = [
        *QUICK,
        "agent=dqn",
        "train.total_steps=24000",
        "train.eval_interval=2000",
        "train.checkpoint_interval=2000",
        "train.save_replay_buffer=true",
        "agent.learning_starts=500",
        "agent.batch_size=64",
        f"hydra.run.dir={run_dir}",
    ]
    process = launch_training(args)
    pointer = run_dir / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if pointer.is_file() and json.loads(pointer.read_text())["folder"] != "step_2000":
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "results.json").exists()
    checkpoint = json.loads(pointer.read_text())["folder"]
    checkpoint_step = int(checkpoint.split("_")[1])
    before = scalars(run_dir)["eval/return"]
    assert [step for step, _ in before if step <= checkpoint_step]

    # a killed run cannot release its lock: taking the folder over is explicit
    resumed = launch_training([*args, "resume=true", "train.break_lock=true"])
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    results = json.loads((run_dir / "results.json").read_text())
    assert results["steps"] == 24000
    after = scalars(run_dir)["eval/return"]
    kept = [entry for entry in before if entry[0] <= checkpoint_step]
    assert after[: len(kept)] == kept  # history up to the checkpoint intact
    steps = [step for step, _ in after]
    assert steps == sorted(steps) and steps[-1] == 24000
    assert len(steps) == len(set(steps))  # each evaluation once
    assert results["train_seconds"] > 0


def test_a_joblib_multirun_writes_one_tensorboard_run_per_job(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    process = launch_training(
        [
            "-m",
            *QUICK,
            "agent=random,popularity",
            "seed=0,1",
            "train.total_steps=2000",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={tmp_path}",
        ]
    )
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    runs = sorted(path.parent for path in tmp_path.glob("*/results.json"))
    assert len(runs) == 4, output
    names = {run.name for run in runs}  # folders named by the overrides
    for agent in ("random", "popularity"):
        for seed in (0, 1):
            assert any(f"agent={agent}," in name and f"seed={seed}," in name for name in names)
    for run in runs:
        assert list(run.glob("events.out.tfevents.*"))
        assert scalars(run)["eval/return"]
