"""Work is never lost to a launch: run folders are locked, a previous run is resumed or moved
aside (never deleted), a resume keeps its settings and counters, checkpoints survive failed
writes and lost pointers, every setting is checked before anything runs, and calibrations
write only new plain names."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from omegaconf import OmegaConf
from processes import launch_training
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import calibrate, realistic
from experiments.checkpoints import latest_checkpoint, save_checkpoint
from experiments.factory import CONFIG_DIR, compose_config
from experiments.report import find_runs
from experiments.run_folder import LOCK, RunFolderError, RunLock, with_recorded_overrides
from experiments.schema import register
from experiments.train import new_trainer_state, run_training
from recenv.offline.data.synthetic import logistic_click_log
from recenv.sim.config import PRESET_DIR

pytestmark = pytest.mark.usefixtures("single_torch_thread")
ROOT = Path(__file__).resolve().parent.parent
HOST = socket.gethostname()
QUICK = [
    "env=small",
    "train.n_envs=16",
    "train.progress=false",
    "eval.n_shoppers=32",
    "eval.interval_shoppers=16",
]
# The random agent checkpoints once, at its budget's end: a complete run in a second.
RANDOM = [*QUICK, "agent=random", "train.total_steps=2000", "train.checkpoint_interval=1000"]
DQN = [
    *QUICK,
    "agent=dqn",
    "agent.learning_starts=200",
    "agent.batch_size=32",
    "agent.buffer_size=20000",
    "agent.validation_interval=1000000",
]


def finish(args: list[str], timeout: float = 240) -> tuple[int, str]:
    process = launch_training(args)
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` but the lock, with its size and modification time (ns)."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != LOCK
    }


def loss_steps(run_dir: Path) -> list[int]:
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return [event.step for event in accumulator.Scalars("train/loss")]


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# --- every setting is checked before anything trains, allocates or touches the folder ---

TORCH_DEVICES = torch.cuda.device_count() if torch.cuda.is_available() else 0
BAD_SETTINGS = [
    (
        "train.total_steps=-100",
        r"TrainConfig.total_steps = -100 is out of range; allowed: \[0, inf\]",
    ),
    ("train.n_envs=0", r"TrainConfig.n_envs = 0 is out of range; allowed: \[1, 100000\]"),
    (
        "train.eval_interval=-1",
        r"TrainConfig.eval_interval = -1 is out of range; allowed: \[0, inf\]",
    ),
    (
        "train.checkpoint_interval=-5",
        r"TrainConfig.checkpoint_interval = -5 is out of range; allowed: \[0, inf\]",
    ),
    ("eval.n_shoppers=0", r"EvalConfig.n_shoppers = 0 is out of range; allowed: \[1, inf\]"),
    (
        "eval.interval_shoppers=0",
        r"EvalConfig.interval_shoppers = 0 is out of range; allowed: \[1, inf\]",
    ),
    ("eval.seed=-3", r"EvalConfig.seed = -3 is out of range; allowed: \[0, 1e\+09\]"),
    ("seed=-1", r"ExperimentConfig.seed = -1 is out of range; allowed: \[0, 1e\+09\]"),
    (
        "seed=4294967296",
        r"ExperimentConfig.seed = 4294967296 is out of range; allowed: \[0, 1e\+09\]",
    ),
    (
        "device=tpu",
        r"ExperimentConfig.device = 'tpu' is not allowed; choose one of auto, cpu, cuda, cuda:N",
    ),
    ("device=cuda:x", r"ExperimentConfig.device = 'cuda:x' is not allowed"),
    (
        "device=cuda:99",
        rf"ExperimentConfig.device = 'cuda:99': {TORCH_DEVICES} CUDA device\(s\) visible",
    ),
    (
        "train.overwrite=true resume=true",
        r"resume = true and train.overwrite = true contradict",
    ),
]


@pytest.mark.parametrize("agent", ["random", "dqn"])  # a non-torch agent and a torch one
@pytest.mark.parametrize(("override", "message"), BAD_SETTINGS)
def test_bad_settings_fail_before_the_run_folder_exists(
    tmp_path: Path, agent: str, override: str, message: str
) -> None:
    cfg = compose_config([*QUICK, f"agent={agent}", *override.split()])
    with pytest.raises(ValueError, match=message):
        run_training(cfg, tmp_path / "run", agent)
    assert not (tmp_path / "run").exists()


def test_a_bad_setting_on_the_command_line_fails_at_once_with_nothing_saved(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    started = time.monotonic()
    code, output = finish(
        [*DQN, "train.total_steps=3000", "eval.n_shoppers=0", f"hydra.run.dir={run_dir}"]
    )
    assert code == 1, output
    assert "EvalConfig.n_shoppers = 0 is out of range; allowed: [1, inf]" in output
    assert time.monotonic() - started < 60  # before any training, not after
    assert sorted(path.name for path in run_dir.iterdir()) == []  # Hydra made it; nothing in it


# --- a run folder holding a run is resumed or moved aside, never written over ---


def test_a_second_launch_on_a_finished_run_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_training(compose_config([*QUICK, "agent=random"]), run_dir, "random")  # no checkpoint
    before = snapshot(run_dir)
    refused = {
        (): r"already holds a run \(results.json, final_agent, eval_sessions.npz, events.out",
        ("resume=true",): "resume=true, but run folder .* holds a run .* and no complete "
        "checkpoint to resume from; pass train.overwrite=true",
    }
    for extra, message in refused.items():
        with pytest.raises(RunFolderError, match=message):
            run_training(compose_config([*QUICK, "agent=random", *extra]), run_dir, "random")
    assert snapshot(run_dir) == before
    assert not (run_dir / LOCK).exists()


def test_overwrite_moves_the_previous_run_aside_and_starts_at_step_0(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = run_training(compose_config(RANDOM), run_dir, "random")
    moved_files = snapshot(run_dir)
    second = run_training(compose_config([*RANDOM, "train.overwrite=true"]), run_dir, "random")
    (aside,) = tmp_path.glob("run.replaced-*")
    assert snapshot(aside) == moved_files  # everything kept, byte for byte, times too
    assert json.loads((aside / "results.json").read_text())["metrics"] == first["metrics"]
    assert second["launches"][0]["from_step"] == 0 and second["steps"] == 2000
    assert [run.folder for run in find_runs([tmp_path])] == [run_dir]  # compared once


def test_a_resume_with_changed_settings_is_refused_unless_accepted(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_training(compose_config(RANDOM), run_dir, "random")
    before = snapshot(run_dir)
    changed = {
        "env.max_steps=5": r"\(env.max_steps: 20 -> 5\)",
        "seed=7": r"\(seed: 0 -> 7\)",
        "env=default": r"env.catalog.n_items: 100 -> 1000; .*env.max_steps: 20 -> 50",
    }
    for override, message in changed.items():
        cfg = compose_config([*RANDOM, "resume=true", override])
        with pytest.raises(RunFolderError, match=f"resume would change settings .*{message}"):
            run_training(cfg, run_dir, "random")
    assert snapshot(run_dir) == before
    cfg = compose_config([*RANDOM, "resume=true", "env.max_steps=5", "train.accept_changes=true"])
    results = run_training(cfg, run_dir, "random")
    assert results["accepted_changes"] == [{"steps": 2000, "changed": {"env.max_steps": [20, 5]}}]
    assert results["config"]["env"]["max_steps"] == 5


def test_training_time_and_steps_accumulate_across_a_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = run_training(
        compose_config([*DQN, "train.total_steps=1600", "train.checkpoint_interval=800"]),
        run_dir,
        "dqn",
    )
    trainer = json.loads((run_dir / "checkpoints" / "step_1600" / "trainer.json").read_text())
    assert trainer["steps"] == 1600
    assert 0 < trainer["train_seconds"] <= first["train_seconds"]  # the checkpoint came last
    cfg = compose_config(
        [*DQN, "train.total_steps=3200", "train.checkpoint_interval=800", "resume=true"]
    )
    resumed = run_training(cfg, run_dir, "dqn")
    assert resumed["steps"] == 3200
    assert [(launch["from_step"], launch["to_step"]) for launch in resumed["launches"]] == [
        (0, 1600),
        (1600, 3200),
    ]
    seconds = [launch["train_seconds"] for launch in resumed["launches"]]
    assert seconds[0] == pytest.approx(trainer["train_seconds"])
    assert resumed["train_seconds"] == pytest.approx(sum(seconds), abs=0.01)
    assert resumed["train_seconds"] > first["train_seconds"]
    steps = loss_steps(run_dir)
    assert len(steps) == len(set(steps)) and steps[-1] > 1600  # one train/loss per step


# --- checkpoint pointers: a lost or bad latest.json never means step 0 ---


def fake_checkpoints(root: Path, complete: list[int], incomplete: list[int] = ()) -> None:
    for steps in complete:
        (root / f"step_{steps}" / "agent").mkdir(parents=True)
        (root / f"step_{steps}" / "trainer.json").write_text(json.dumps({"steps": steps}))
    for steps in incomplete:  # killed before trainer.json, written last
        (root / f"step_{steps}" / "agent").mkdir(parents=True)


POINTERS = {
    "missing": (None, r"checkpoint pointer .*latest.json is missing"),
    "corrupt": ('{"kind": "checkpoint", "fol', r"latest.json is unreadable \(Unterminated string"),
    "not an object": ("[1, 2]", r"latest.json names None, not a step_<N> folder inside"),
    "absolute path outside": (
        '{"kind": "checkpoint", "folder": "/tmp/elsewhere/step_9000"}',
        r"latest.json names '/tmp/elsewhere/step_9000', not a step_<N> folder inside",
    ),
    "relative path outside": (
        '{"kind": "checkpoint", "folder": "../../other_run/checkpoints/step_9000"}',
        r"names '../../other_run/checkpoints/step_9000', not a step_<N> folder inside",
    ),
    "incomplete folder": (
        '{"kind": "checkpoint", "folder": "step_3000"}',
        r"latest.json names an incomplete checkpoint .*step_3000",
    ),
}


@pytest.mark.parametrize("case", sorted(POINTERS))
def test_a_bad_pointer_falls_back_to_the_newest_complete_checkpoint(
    tmp_path: Path, case: str
) -> None:
    pointer, message = POINTERS[case]
    fake_checkpoints(tmp_path, complete=[1000, 2000], incomplete=[3000])
    if pointer is not None:
        (tmp_path / "latest.json").write_text(pointer)
    with pytest.warns(UserWarning, match=message + r".*resuming from the newest complete one"):
        assert latest_checkpoint(tmp_path) == tmp_path / "step_2000"


def test_a_bad_pointer_with_no_complete_checkpoint_is_an_error(tmp_path: Path) -> None:
    fake_checkpoints(tmp_path, complete=[], incomplete=[1000])
    (tmp_path / "latest.json").write_text('{"folder": "/etc"}')
    with pytest.raises(ValueError, match=r"names '/etc'.* holds no complete checkpoint"):
        latest_checkpoint(tmp_path)
    assert latest_checkpoint(tmp_path / "never_checkpointed") is None


def test_a_lost_pointer_resumes_from_the_checkpoint_not_from_step_0(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = [*DQN, "train.checkpoint_interval=800"]
    run_training(compose_config([*args, "train.total_steps=1600"]), run_dir, "dqn")
    (run_dir / "checkpoints" / "latest.json").unlink()
    with pytest.warns(UserWarning, match="latest.json is missing; resuming from .*step_1600"):
        resumed = run_training(
            compose_config([*args, "train.total_steps=2400", "resume=true"]), run_dir, "dqn"
        )
    assert resumed["launches"][-1]["from_step"] == 1600 and resumed["steps"] == 2400
    steps = loss_steps(run_dir)
    assert len(steps) == len(set(steps))  # no second train/loss at the same steps


# --- I/O failures name the path and what was written; the previous checkpoint survives ---


class FailingAgent:
    """Writes part of its checkpoint, then fails as a full disk or a read-only folder does."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True)
        (Path(path) / "weights.pt").write_bytes(b"half a file")
        raise self.error


class SavingAgent:
    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True)
        (Path(path) / "weights.pt").write_bytes(b"complete")


WRITE_FAILURES = {
    "disk full": (
        OSError(errno.ENOSPC, "No space left on device"),
        r"\[Errno 28\] No space left on device",
    ),
    "read-only": (
        OSError(errno.EROFS, "Read-only file system"),
        r"\[Errno 30\] Read-only file system",
    ),
    "torch writer": (
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64"),
        r"inline_container.cc:672",
    ),
}


@pytest.mark.parametrize("case", sorted(WRITE_FAILURES))
def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path: Path, case: str) -> None:
    error, message = WRITE_FAILURES[case]
    state = {**new_trainer_state(), "steps": 1000}
    save_checkpoint(tmp_path, SavingAgent(), state)
    before = snapshot(tmp_path)
    for steps in (2000, 1000):  # a new step, and re-saving the current one
        written = rf"could not write checkpoint step_{steps} at .*/\.partial_step_{steps}: "
        with pytest.raises(RunFolderError, match=written + rf".*{message}"):
            save_checkpoint(tmp_path, FailingAgent(error), {**state, "steps": steps})
        assert snapshot(tmp_path) == before  # the partial folder is gone, the pointer unmoved
        assert latest_checkpoint(tmp_path) == tmp_path / "step_1000"


LOCK_FAILURES = {  # where a lock write fails -> the error it raises
    "experiments.run_folder.os.open": OSError(errno.EROFS, "Read-only file system"),
    "experiments.run_folder.json.dump": OSError(errno.ENOSPC, "No space left on device"),
}


@pytest.mark.parametrize("target", sorted(LOCK_FAILURES))
def test_an_unwritable_folder_is_named_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    error = LOCK_FAILURES[target]

    def fail(*args: Any, **kwargs: Any) -> None:
        raise error

    cfg = compose_config(RANDOM)
    monkeypatch.setattr(target, fail)
    with pytest.raises(
        RunFolderError,
        match=rf"could not write the run lock at .*run/run.lock: \[Errno {error.errno}\]",
    ):
        run_training(cfg, tmp_path / "run", "random")
    monkeypatch.undo()
    assert list((tmp_path / "run").iterdir()) == []  # no empty lock left behind


def test_a_failed_results_write_names_the_file_and_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(path: Path, payload: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("experiments.train.write_json_atomically", disk_full)
    with pytest.raises(
        RunFolderError, match=r"could not write the results at .*results.json: \[Errno 28\]"
    ):
        run_training(compose_config(RANDOM), tmp_path / "run", "random")
    assert (tmp_path / "run" / "checkpoints" / "step_2000" / "trainer.json").is_file()
    assert not (tmp_path / "run" / LOCK).exists()


# --- locks: one process per run folder ---


def write_lock(run_dir: Path, pid: int, host: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOCK).write_text(json.dumps({"pid": pid, "host": host, "started": 0.0}))


def test_lock_holders_are_named_and_only_gone_ones_can_be_broken(tmp_path: Path) -> None:
    live, gone = os.getppid(), dead_pid()
    cases = [  # (holder pid, host, break_lock) -> the error, or None when the lock is taken
        (live, HOST, False, rf"is in use by pid {live} on host {HOST} \(lock file"),
        (live, HOST, True, rf"is in use by pid {live} on host {HOST} \(lock file"),
        (
            gone,
            HOST,
            False,
            rf"stale lock .* held by pid {gone} on host {HOST}, which is no "
            r"longer running; pass train.break_lock=true",
        ),
        (gone, HOST, True, None),
        (
            1,
            "elsewhere",
            False,
            r"in use by pid 1 on host elsewhere .*\(another host: if it is "
            r"gone, pass train.break_lock=true\)",
        ),
        (1, "elsewhere", True, None),
    ]
    for index, (pid, host, break_lock, message) in enumerate(cases):
        run_dir = tmp_path / str(index)
        write_lock(run_dir, pid, host)
        if message is None:
            with RunLock(run_dir, break_lock):
                held = json.loads((run_dir / LOCK).read_text())
                assert (held["pid"], held["host"]) == (os.getpid(), HOST)
            assert not (run_dir / LOCK).exists()  # released on exit
        else:
            with pytest.raises(RunFolderError, match=message), RunLock(run_dir, break_lock):
                pass
            assert json.loads((run_dir / LOCK).read_text())["pid"] == pid  # left alone


def test_a_second_process_on_a_running_folder_fails_naming_the_holder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = [*DQN, "train.total_steps=400000", f"hydra.run.dir={run_dir}"]
    first = launch_training(args)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / LOCK).is_file() and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()[0]
            time.sleep(0.1)
        code, output = finish(args)
        assert code == 1, output
        assert f"is in use by pid {first.pid} on host {HOST}" in output
        assert first.poll() is None  # the first run goes on
        first.send_signal(signal.SIGTERM)  # a graceful stop releases the lock
        first.wait(timeout=60)
        assert not (run_dir / LOCK).exists()
    finally:
        first.kill()
        first.wait()


def test_a_killed_run_restarted_without_resume_keeps_its_checkpoints(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    base = [*DQN, "train.checkpoint_interval=800", f"hydra.run.dir={run_dir}"]
    args = [*base, "train.total_steps=400000"]
    process = launch_training(args)
    pointer = run_dir / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 120
    while not pointer.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = snapshot(run_dir)
    assert any(name.startswith("checkpoints/step_") for name in kept)
    assert (run_dir / LOCK).is_file()  # a killed run cannot release its lock

    code, output = finish(args)  # the same command again: the killed run's lock is stale
    assert code == 1 and f"stale lock {run_dir / LOCK} held by pid {process.pid}" in output
    code, output = finish([*args, "train.break_lock=true"])  # still no resume=true
    assert code == 1 and "already holds a run (checkpoints" in output, output
    assert "pass resume=true to continue it" in output
    assert snapshot(run_dir) == kept  # checkpoints, events and the launch record untouched
    step = int(json.loads(pointer.read_text())["folder"].split("_")[1])

    code, output = finish([*base, "train.total_steps=4000", "resume=true"])
    assert code == 0, output  # the refused launch released the lock it took over
    results = json.loads((run_dir / "results.json").read_text())
    assert results["launches"][-1]["from_step"] == step and results["steps"] == 4000
    assert results["accepted_changes"] == []


def test_a_resume_restores_the_recorded_overrides(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = [*RANDOM, "env.max_steps=15"]
    code, output = finish([*args, f"hydra.run.dir={run_dir}"])
    assert code == 0, output
    record = run_dir / ".hydra" / "overrides.yaml"
    assert yaml.safe_load(record.read_text()) == args

    code, output = finish(["resume=true", f"hydra.run.dir={run_dir}"])  # nothing else given
    assert code == 0, output
    assert yaml.safe_load(record.read_text()) == args  # not just [resume=true]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["config"]["env"]["max_steps"] == 15 and results["agent"] == "random"

    code, output = finish(["resume=true", f"hydra.run.dir={run_dir}", "env.max_steps=5"])
    assert code == 1
    assert (
        "resume would change settings the checkpoint was trained with (env.max_steps: 15 -> 5)"
        in output
    )
    assert yaml.safe_load(record.read_text()) == args


def test_recorded_overrides_complete_only_a_single_resume(tmp_path: Path) -> None:
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["env=small", "seed=3"]))
    folder = f"hydra.run.dir={tmp_path}"
    assert with_recorded_overrides(["resume=true", folder, "seed=4"]) == [
        "resume=true",
        folder,
        "seed=4",
        "env=small",
    ]
    for args in (["resume=false", folder], [folder], ["-m", "resume=true", folder]):
        assert with_recorded_overrides(args) == args


def test_default_run_folders_are_unique_within_a_second() -> None:
    register()
    run_dir = yaml.safe_load((CONFIG_DIR / "config.yaml").read_text())["hydra"]["run"]["dir"]
    assert "${now:%Y-%m-%d_%H-%M-%S}_${run_id:}_" in run_dir
    first, second = OmegaConf.create({"id": "${run_id:}"}), OmegaConf.create({"id": "${run_id:}"})
    assert first.id == first.id  # drawn once per config, so Hydra reads one folder name
    assert first.id != second.id and len(first.id) == 6


# --- calibrations write only new plain names ---


@pytest.fixture
def click_log(tmp_path: Path) -> Path:
    effects = np.array([0.0, 0.5, -0.5]), np.array([0.0, -0.5]), np.array([0.0, 0.2])
    log = logistic_click_log(-2.0, *effects, 2_000, 0)
    path = tmp_path / "shop_log.parquet"
    log.frame.drop(columns="true_probability").to_parquet(path)
    return path


SCENARIO_NAMES = {
    "small": r"name = 'small': .*presets/env/small.yaml exists already \(a shipped or earlier",
    "default": r"name = 'default': .*recenv/presets/env/default.yaml exists already",
    "../../x": r"name = '../../x' is not allowed; use letters, digits, '_' and '-' only",
    "a/b": r"name = 'a/b' is not allowed",
    "..": r"name = '..' is not allowed",
    ".hidden": r"name = '.hidden' is not allowed",
    "/tmp/x": r"name = '/tmp/x' is not allowed",
    "": r"name = '' is not allowed",
}


@pytest.mark.parametrize("name", sorted(SCENARIO_NAMES))
def test_calibrate_refuses_shipped_presets_and_path_escapes(click_log: Path, name: str) -> None:
    shipped = {path.name: path.read_bytes() for path in PRESET_DIR.glob("*.yaml")}
    with pytest.raises(ValueError, match=SCENARIO_NAMES[name]):
        calibrate.main([f"data={click_log}", "format=events", f"name={name}"])
    with pytest.raises(ValueError, match=SCENARIO_NAMES[name]):
        realistic.realistic("small", "unused", name)
    assert {path.name: path.read_bytes() for path in PRESET_DIR.glob("*.yaml")} == shipped
    assert not (ROOT.parent / "x.yaml").exists() and not Path("/tmp/x.yaml").exists()


def test_calibrate_writes_a_name_once_unless_overwrite(click_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "scenarios"
    calibrate.main([f"data={click_log}", "format=events", "name=shop", f"out={out}"])
    written = (out / "shop.yaml").read_text()
    with pytest.raises(ValueError, match=r"name = 'shop': .*shop.json, .*shop.yaml exists"):
        calibrate.main([f"data={click_log}", "format=events", "name=shop", f"out={out}"])
    with pytest.raises(ValueError, match=r"overwrite = 'yes' is not allowed; choose true or"):
        calibrate.main([f"data={click_log}", "format=events", "name=shop", "overwrite=yes"])
    (out / "shop.yaml").write_text("# edited\n")
    calibrate.main(
        [f"data={click_log}", "format=events", "name=shop", f"out={out}", "overwrite=true"]
    )
    assert (out / "shop.yaml").read_text() == written
