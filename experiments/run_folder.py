"""Who owns a run folder, what it already holds, and what a new launch may do with it.

A run folder belongs to one process at a time: ``run.lock`` (its pid and host) is taken
before anything is written and removed on exit. A second launch on a locked folder fails at
once naming the holder; a lock whose process is gone (a killed run) is reported, and
``train.break_lock=true`` takes the folder over.

A folder that already holds a run (checkpoints, results, event files) is never written over
by accident: a new launch needs ``resume=true`` (continue from the newest checkpoint) or
``train.overwrite=true`` (move the previous run aside to ``<folder>.replaced-<time>``; nothing
is deleted). A resumed run must keep the env, agent and seed its checkpoint was trained with,
unless ``train.accept_changes=true``, which records the change with the run.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

LOCK = "run.lock"
RECORD = Path(".hydra") / "overrides.yaml"
# One-shot permissions: they are about this launch, never recorded with the run.
ONE_SHOT = ("resume", "train.break_lock", "train.overwrite", "train.accept_changes")
COMPARED = ("env", "agent", "seed")  # what a resumed run must share with its checkpoint
PREVIOUS_RUN = ("checkpoints", "results.json", "final_agent", "eval_sessions.npz")
REPLACED = ".replaced-"  # in the name of a run moved aside: reports skip it


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked; the message says why and what to pass."""


@contextmanager
def writing(path: Path, what: str) -> Iterator[None]:
    """Re-raise a failed write (disk full, read-only folder) naming the path and its role."""
    try:
        yield
    except (OSError, RuntimeError) as error:
        if isinstance(error, RunFolderError):
            raise
        raise RunFolderError(f"could not write {what} at {path}: {error}") from error


class RunLock:
    """``run.lock`` in the run folder, holding this process's pid and host while it runs."""

    def __init__(self, run_dir: Path, break_lock: bool = False) -> None:
        self.path = run_dir / LOCK
        self.break_lock = break_lock
        self.owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}

    def __enter__(self) -> RunLock:
        with writing(self.path, "the run lock"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self._create():
                self._take_over(self._holder(attempts=5))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._holder() == self.owner:  # never remove a lock some other launch took over
            self.path.unlink(missing_ok=True)

    def _create(self) -> bool:
        try:
            descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        try:
            with os.fdopen(descriptor, "w") as handle:
                json.dump(self.owner, handle)
        except BaseException:  # a full disk: leave no empty lock behind
            self.path.unlink(missing_ok=True)
            raise
        return True

    def _holder(self, attempts: int = 1) -> dict[str, Any] | None:
        """The lock's content; a lock just created may not be written yet, hence attempts."""
        for attempt in range(attempts):
            try:
                holder = json.loads(self.path.read_text())
                return holder if isinstance(holder, dict) else None
            except (OSError, json.JSONDecodeError):
                if attempt + 1 < attempts:
                    time.sleep(0.1)
        return None

    def _take_over(self, holder: dict[str, Any] | None) -> None:
        folder, who = self.path.parent, _describe(holder)
        state = _holder_state(holder)
        if state == "running" or (state == "unknown" and not self.break_lock):
            unsure = " (another host: if it is gone, pass train.break_lock=true)"
            raise RunFolderError(
                f"run folder {folder} is in use by {who} (lock file {self.path})"
                f"{unsure if state == 'unknown' else ''}; wait for that run or choose "
                "another hydra.run.dir"
            )
        if not self.break_lock:
            raise RunFolderError(
                f"run folder {folder} has a stale lock {self.path} held by {who}, which is no "
                "longer running; pass train.break_lock=true to take the folder over"
            )
        self.path.unlink(missing_ok=True)
        if not self._create():
            raise RunFolderError(f"run folder {folder} was locked again meanwhile by another run")


def _describe(holder: Mapping[str, Any] | None) -> str:
    if holder is None:
        return "an unreadable lock"
    return f"pid {holder.get('pid')} on host {holder.get('host')}"


def _holder_state(holder: Mapping[str, Any] | None) -> str:
    """``running``, ``gone`` (its pid is free on this host) or ``unknown`` (another host)."""
    if holder is None or not isinstance(holder.get("pid"), int):
        return "gone"
    if holder.get("host") != socket.gethostname():
        return "unknown"
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:  # another user's live process
        return "running"
    return "running"


def previous_run(run_dir: Path) -> list[str]:
    """What of an earlier run the folder holds (checkpoints, results, event files)."""
    found = [name for name in PREVIOUS_RUN if (run_dir / name).exists()]
    return found + sorted(path.name for path in run_dir.glob("events.out.tfevents.*"))[:1]


def check_launch(run_dir: Path, resume: bool, overwrite: bool) -> list[str]:
    """Refuse to start over a previous run by accident; return what of it the folder holds."""
    found = previous_run(run_dir)
    if found and not (resume or overwrite):
        raise RunFolderError(
            f"run folder {run_dir} already holds a run ({', '.join(found)}); pass resume=true "
            "to continue it from its newest checkpoint, or train.overwrite=true to move it "
            "aside and start again at step 0 (nothing is deleted)"
        )
    return found


def move_aside(run_dir: Path) -> Path:
    """Move everything but the lock into a sibling ``<name>.replaced-<time>``; return it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = run_dir.with_name(f"{run_dir.name}{REPLACED}{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = run_dir.with_name(f"{run_dir.name}{REPLACED}{stamp}-{counter}")
    with writing(target, "the previous run, moved aside"):
        target.mkdir(parents=True)
        for entry in run_dir.iterdir():
            if entry.name != LOCK:
                entry.rename(target / entry.name)
    return target


def settings_of(cfg: DictConfig) -> dict[str, Any]:
    """The compared settings (env, agent, seed) as flat ``section.field -> value``."""
    values = OmegaConf.to_container(cfg, resolve=True)
    flat: dict[str, Any] = {}
    for key in COMPARED:
        _flatten(values.get(key), key, flat)
    return json.loads(json.dumps(flat))  # as a checkpoint's trainer.json gives them back


def _flatten(value: Any, prefix: str, flat: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}", flat)
    else:
        flat[prefix] = value


def check_resumed_settings(
    recorded: Mapping[str, Any], current: Mapping[str, Any], accept_changes: bool
) -> dict[str, list[Any]]:
    """The settings a resume would change (``key -> [checkpoint's, now]``); refused unless
    ``accept_changes``."""
    changes = {
        key: [recorded.get(key), current.get(key)]
        for key in sorted(set(recorded) | set(current))
        if recorded.get(key) != current.get(key)
    }
    if changes and not accept_changes:
        listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in changes.items())
        raise RunFolderError(
            f"resume would change settings the checkpoint was trained with ({listed}); drop "
            "those overrides, or pass train.accept_changes=true to resume with them (the "
            "change is recorded in results.json)"
        )
    return changes


def override_key(override: str) -> str:
    """``+env.max_steps=5`` -> ``env.max_steps``; ``agent=dqn`` -> ``agent``."""
    return override.split("=", 1)[0].lstrip("+~")


def with_recorded_overrides(args: list[str]) -> list[str]:
    """A resume's command line completed with the overrides recorded in its run folder.

    ``resume=true hydra.run.dir=DIR`` then runs with the settings DIR was started with; any
    override given again replaces the recorded one (and is checked against the checkpoint).
    """
    values = {override_key(arg): arg.partition("=")[2] for arg in args if "=" in arg}
    if "-m" in args or "--multirun" in args or values.get("resume", "").lower() != "true":
        return args
    record = Path(values.get("hydra.run.dir", "")) / RECORD
    if "hydra.run.dir" not in values or not record.is_file():
        return args
    recorded = yaml.safe_load(record.read_text()) or []
    return [*args, *(item for item in recorded if override_key(item) not in values)]


def record_launch(run_dir: Path, cfg: DictConfig) -> None:
    """Hydra's ``.hydra/`` record of this launch, written once the folder is owned.

    ``hydra.output_subdir`` is off in ``conf/config.yaml`` so that a refused launch leaves
    the folder untouched; the one-shot permissions are left out of ``overrides.yaml``.
    """
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    hydra_config = HydraConfig.get()
    overrides = [item for item in hydra_config.overrides.task if override_key(item) not in ONE_SHOT]
    folder = run_dir / RECORD.parent
    with writing(folder, "the launch record (.hydra)"):
        folder.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, folder / "config.yaml")
        OmegaConf.save(OmegaConf.create({"hydra": hydra_config}), folder / "hydra.yaml")
        (folder / "overrides.yaml").write_text(yaml.safe_dump(overrides, sort_keys=False))
