"""The ``serve`` config group's schema (``conf/serve/default.yaml``), in Hydra's ConfigStore.

Kept apart from ``experiments.serve`` so configs compose (and tests check them) without
importing FastAPI, and because this dataclass needs postponed annotations, which FastAPI's
endpoints there must not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from experiments.schema import DEVICE
from recenv.sim.config import Bound, Validated


@dataclass
class ServeConfig(Validated):
    """The ``serve`` group: what to serve, where to log, where to listen."""

    agent: str = MISSING  # an agent directory, run folder or checkpoint folder
    events: str = "outputs/serve/events.jsonl"  # the append-only events log (JSON lines)
    host: str = "127.0.0.1"
    port: int = 8000
    device: str = "cpu"  # where torch agents act: cpu, cuda, cuda:N or auto
    agent_target: str | None = None  # the agent's class, for kinds no conf/agent preset names
    max_batch: int = 256  # observations per /recommend, events per /events
    fsync: bool = True  # fsync every /events before answering (survives a machine crash)

    bounds: ClassVar[dict[str, Bound]] = {"port": Bound(0, 65_535), "max_batch": Bound(1, 1e5)}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not DEVICE.fullmatch(self.device):
            raise ValueError(
                f"serve.device = {self.device!r} is not allowed; choose auto, cpu, cuda, cuda:N"
            )


def register() -> None:
    """The ``serve`` group's schema in Hydra's ConfigStore (safe to repeat)."""
    ConfigStore.instance().store(group="serve", name="base_serve", node=ServeConfig)
