"""Atomic checkpoints of a training run, and finding the one to resume from.

A checkpoint is a folder ``checkpoints/step_<N>`` holding the agent's own ``save`` output
(weights, optimizer, RNG states, counters; the replay buffer when configured) and
``trainer.json`` (the trainer's counters). It becomes visible only when ``latest.json``
is atomically rewritten to name it, so a run killed mid-write resumes from the previous
checkpoint; older folders are removed afterwards.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from agents.base import read_json, write_json_atomically

POINTER = "latest.json"
KIND = "checkpoint"


def save_checkpoint(
    root: Path, agent: Any, trainer_state: dict[str, Any], replay_buffer: bool = False
) -> Path:
    """Write ``root/step_<N>`` then point ``latest.json`` at it; return the folder."""
    folder = root / f"step_{trainer_state['steps']}"
    if folder.exists():
        shutil.rmtree(folder)
    agent.save(folder / "agent")
    if replay_buffer and hasattr(agent, "save_replay_buffer"):
        agent.save_replay_buffer(folder / "agent")
    write_json_atomically(folder / "trainer.json", trainer_state)
    write_json_atomically(root / POINTER, {"kind": KIND, "folder": folder.name})
    for stale in root.glob("step_*"):
        if stale != folder:
            shutil.rmtree(stale, ignore_errors=True)
    return folder


def latest_checkpoint(root: Path) -> Path | None:
    """The folder ``latest.json`` names, or None when the run never checkpointed."""
    if not (root / POINTER).is_file():
        return None
    folder = root / read_json(root / POINTER, KIND)["folder"]
    if not (folder / "trainer.json").is_file():
        raise ValueError(f"checkpoint pointer {root / POINTER} names a missing folder {folder}")
    return folder
