"""Load any saved agent from what experiments leave on disk, naming its class and scenario.

Three kinds of folder hold an agent:

* an **agent directory**, the output of ``agent.save(path)``: ``agent.json`` (its ``kind``,
  env config, hyperparameters) beside the weights or arrays;
* a **run folder** of ``python -m experiments.train``: its ``final_agent/`` when the run
  finished (``results.json`` names the class and the env preset), else the agent of its
  newest complete checkpoint (``experiments.checkpoints.latest_checkpoint``);
* a **checkpoint folder** ``checkpoints/step_<N>``: its ``agent/``.

The class comes from the run's record (``results.json`` or ``.hydra/config.yaml``) when
there is one, else from the shipped presets: every ``conf/agent/*.yaml`` names a class
(``_target_``) and a schema (``base_<name>@agent``) whose ``agent`` is the ``kind`` its
checkpoints carry. ``agent_target`` overrides both, for agents of your own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import get_class
from omegaconf import OmegaConf

from experiments.checkpoints import latest_checkpoint
from experiments.factory import CONFIG_DIR
from experiments.schema import AGENT_SCHEMAS, OPEN_AGENT_SCHEMAS
from recenv.sim.config import EnvConfig, available_presets, make_config

AGENT_FILE = "agent.json"


@dataclass(frozen=True)
class SavedAgent:
    """A loaded agent and what a server reports about it."""

    agent: Any
    kind: str  # the ``kind`` of its agent.json: dqn, mlp, popularity, ...
    target: str  # the class, as Hydra's ``_target_`` names it
    folder: Path  # the agent directory it was loaded from
    env_config: EnvConfig
    env_name: str  # the preset it equals (or the run's env choice); "custom" otherwise

    @property
    def env_hash(self) -> str:
        """16 hex digits of SHA-256 over the env config: two servers agree iff configs do."""
        return config_hash(self.env_config)


def config_hash(config: EnvConfig) -> str:
    """SHA-256 of the config's canonical JSON (sorted keys), first 16 hex digits."""
    canonical = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_saved_agent(
    path: str | Path, device: str = "cpu", agent_target: str | None = None
) -> SavedAgent:
    """The agent saved at ``path`` (an agent directory, run folder or checkpoint folder)."""
    folder, record = agent_folder(Path(path))
    meta = _agent_meta(folder)
    kind = meta["kind"]
    target = agent_target or record.get("agent_target") or preset_classes().get(kind)
    if target is None:
        raise ValueError(
            f"{folder / AGENT_FILE} holds a {kind!r} agent, which no conf/agent preset names "
            f"(known kinds: {sorted(preset_classes())}); pass its class as agent_target"
        )
    cls = get_class(target)
    load = cls.load
    device_argument = {"device": device} if "device" in inspect.signature(load).parameters else {}
    agent = load(folder, **device_argument)
    env_config = agent.env_config
    env_name = record.get("env") or preset_name(env_config)
    return SavedAgent(agent, kind, target, folder, env_config, env_name)


def agent_folder(path: Path) -> tuple[Path, dict[str, Any]]:
    """The agent directory under ``path``, and what the run recorded (class, env name)."""
    if (path / AGENT_FILE).is_file():
        return path, {}
    if (path / "agent" / AGENT_FILE).is_file():  # a checkpoint folder step_<N>
        return path / "agent", _run_record(path.parent.parent)
    if (path / "results.json").is_file():
        results = json.loads((path / "results.json").read_text())
        record = {"agent_target": results.get("agent_target"), "env": results.get("env")}
        return path / "final_agent", record
    if (path / "checkpoints").is_dir():
        checkpoint = latest_checkpoint(path / "checkpoints")
        if checkpoint is not None:
            return checkpoint / "agent", _run_record(path)
    raise ValueError(
        f"agent = {str(path)!r} holds no saved agent; expected an agent directory (with "
        f"{AGENT_FILE}), a run folder of experiments.train (final_agent/ or checkpoints/) "
        "or a checkpoint folder (step_<N>/agent)"
    )


def preset_classes() -> dict[str, str]:
    """``kind -> class`` read from the shipped agent presets (``conf/agent/*.yaml``)."""
    schemas = {**AGENT_SCHEMAS, **OPEN_AGENT_SCHEMAS}
    classes: dict[str, str] = {}
    for preset in sorted((CONFIG_DIR / "agent").glob("*.yaml")):
        content = OmegaConf.to_container(OmegaConf.load(preset))
        target = (content.get("agent") or {}).get("_target_")
        for entry in content.get("defaults", []):
            name = str(entry).removeprefix("base_").removesuffix("@agent")
            if target and name in schemas and str(entry).endswith("@agent"):
                module, _, schema = schemas[name].partition(":")
                kind = get_class(f"{module}.{schema}").agent
                classes.setdefault(kind, target)
    return classes


def preset_name(config: EnvConfig) -> str:
    """The shipped preset equal to ``config``, else ``"custom"``."""
    for name in available_presets():
        if make_config(name) == config:
            return name
    return "custom"


def _agent_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / AGENT_FILE).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{folder / AGENT_FILE} is not a readable agent file: {error}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("kind"), str):
        raise ValueError(f"{folder / AGENT_FILE} names no agent kind")
    return meta


def _run_record(run_dir: Path) -> dict[str, Any]:
    """The class and env choice a run folder's ``.hydra/`` record names (empty if none)."""
    recorded = run_dir / ".hydra" / "config.yaml"
    if not recorded.is_file():
        return {}
    agent = OmegaConf.load(recorded).get("agent") or {}
    return {"agent_target": agent.get("_target_")}
