"""Atomic checkpoints of a training run, and finding the one to resume from.

A checkpoint is a folder ``checkpoints/step_<N>`` holding the agent's own ``save`` output
(weights, optimizer, RNG states, counters; the replay buffer when configured) and
``trainer.json`` (the trainer's counters), written last. It is written under a temporary
name, renamed into place, then made current by atomically rewriting ``latest.json``; older
folders are removed only after that. So a run killed, or a disk filling up, mid-write
leaves the previous checkpoint intact and current.

``latest.json`` is a convenience, not the only record: when it is missing, unreadable, or
names anything but a complete ``step_<N>`` folder of this run, the newest complete
checkpoint is used instead, with a warning; never step 0.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

from agents.base import write_json_atomically
from experiments.run_folder import RunFolderError, writing

POINTER = "latest.json"
KIND = "checkpoint"
STEP_FOLDER = re.compile(r"step_(\d+)")


def save_checkpoint(
    root: Path, agent: Any, trainer_state: dict[str, Any], replay_buffer: bool = False
) -> Path:
    """Write ``root/step_<N>`` then point ``latest.json`` at it; return the folder."""
    folder = root / f"step_{trainer_state['steps']}"
    partial = root / f".partial_{folder.name}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with writing(partial, f"checkpoint {folder.name}"):
            agent.save(partial / "agent")
            if replay_buffer and hasattr(agent, "save_replay_buffer"):
                agent.save_replay_buffer(partial / "agent")
            write_json_atomically(partial / "trainer.json", trainer_state)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # the previous checkpoint stays current
        raise
    with writing(folder, f"checkpoint {folder.name}"):
        if folder.exists():  # re-saving a step: the pointer may name it, so swap in two renames
            replaced = root / f".replaced_{folder.name}"
            shutil.rmtree(replaced, ignore_errors=True)
            folder.rename(replaced)
        partial.rename(folder)
        write_json_atomically(root / POINTER, {"kind": KIND, "folder": folder.name})
    for stale in root.iterdir():
        if stale != folder and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return folder


def complete_checkpoints(root: Path) -> list[Path]:
    """The ``step_<N>`` folders holding a readable ``trainer.json``, oldest first."""
    found = []
    for folder in root.glob("step_*"):
        match = STEP_FOLDER.fullmatch(folder.name)
        if match and _trainer_state(folder) is not None:
            found.append((int(match.group(1)), folder))
    return [folder for _, folder in sorted(found)]


def latest_checkpoint(root: Path) -> Path | None:
    """The checkpoint to resume from, or None when the run never completed one.

    The folder ``latest.json`` names when that is a complete checkpoint of ``root``;
    otherwise (pointer missing, corrupt, naming a path outside ``root``, or an incomplete
    folder) the newest complete one, with a warning saying why.
    """
    complete = complete_checkpoints(root)
    problem = _pointer_problem(root)
    if problem is None:
        return root / json.loads((root / POINTER).read_text())["folder"]
    if not complete:
        if (root / POINTER).exists():
            raise ValueError(f"{problem}, and {root} holds no complete checkpoint to resume from")
        return None
    warnings.warn(f"{problem}; resuming from the newest complete one, {complete[-1]}", stacklevel=2)
    return complete[-1]


def resume_point(run_dir: Path, found: list[str]) -> Path | None:
    """The checkpoint a ``resume=true`` launch continues from; None for an empty folder."""
    folder = latest_checkpoint(run_dir / "checkpoints")
    if folder is None and found:
        raise RunFolderError(
            f"resume=true, but run folder {run_dir} holds a run ({', '.join(found)}) and no "
            "complete checkpoint to resume from; pass train.overwrite=true instead to move it "
            "aside and start again at step 0"
        )
    if folder is None:
        warnings.warn(
            f"resume=true, but {run_dir} holds no earlier run: starting at step 0", stacklevel=2
        )
    return folder


def _pointer_problem(root: Path) -> str | None:
    """Why ``latest.json`` cannot be followed, or None when it names a complete checkpoint."""
    pointer = root / POINTER
    if not pointer.is_file():
        return f"checkpoint pointer {pointer} is missing"
    try:
        payload = json.loads(pointer.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"checkpoint pointer {pointer} is unreadable ({error})"
    name = payload.get("folder") if isinstance(payload, dict) else None
    if not isinstance(name, str) or not STEP_FOLDER.fullmatch(name):
        return f"checkpoint pointer {pointer} names {name!r}, not a step_<N> folder inside {root}"
    if _trainer_state(root / name) is None:
        return f"checkpoint pointer {pointer} names an incomplete checkpoint {root / name}"
    return None


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """The trainer's counters stored with a checkpoint."""
    state = _trainer_state(folder)
    if state is None:
        raise ValueError(f"checkpoint {folder} has no readable trainer.json")
    return state


def _trainer_state(folder: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((folder / "trainer.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("steps"), int) else None
