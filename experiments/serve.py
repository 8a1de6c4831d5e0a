"""Real-time serving over HTTP: any saved agent behind FastAPI, events logged to disk.

    python -m experiments.serve serve.agent=outputs/runs/<run> serve.port=8000

``serve.agent`` is an agent directory, a run folder or a checkpoint folder
(``experiments.saved_agents``). Endpoints:

* ``POST /recommend`` ``{"observations": [obs, ...], "deterministic": true}``, each ``obs``
  one shopper in the env's observation layout (``history``, ``history_events``, ``cart``,
  ``session``, ``query``; ``recenv.sim.spaces``): answers ``{"items": [...]}``, what
  ``agent.act`` returns for the batch (an item id per shopper, or a slate of
  ``slate_size`` ids). Bodies are validated against the served scenario
  (``experiments.serving_models``): HTTP 422 names the field, the value and what is allowed.
* ``POST /events`` ``{"events": [{"shopper", "item", "event", "position"?, "timestamp"?}]}``
  (``event``: impression, click, cart or purchase): appended to the events log
  (``experiments.event_log``: JSON lines, never overwritten; a restart appends) and on disk
  before the answer ``{"first_seq", "logged"}``.
* ``GET /health``: agent kind and class, env preset name and config hash, slate size, the
  observation sizes and the events logged so far.

Torch's thread count is set as ``agents.threads`` sets it for every torch agent. Both POST
endpoints run in FastAPI's worker threads, ``act`` under a lock (one at a time): the event
loop parses and answers other requests meanwhile, and torch releases the GIL while it
computes. Acting on the loop itself looked faster in an in-process profile (a DQN on
``large``: ~2 ms inside the server against ~10 ms in a thread, GIL handoffs) but lost
throughput under concurrent clients end to end (``benchmarks/serving_load.py``; README).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations
# as objects, and their body models are built per scenario inside ``create_app``.
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from omegaconf import DictConfig, OmegaConf

from agents.threads import configure_threads
from experiments.event_log import EventLog
from experiments.saved_agents import SavedAgent, load_saved_agent
from experiments.serve_config import ServeConfig, register
from experiments.serving_models import (
    batched_observation,
    events_model,
    field_errors,
    recommend_model,
)
from recenv.sim.config import config_from_dict
from recenv.sim.state import SESSION_FEATURES


def create_app(
    agent: str | Path | SavedAgent,
    events: str | Path,
    device: str = "cpu",
    max_batch: int = 256,
    fsync: bool = True,
    agent_target: str | None = None,
) -> FastAPI:
    """The FastAPI app serving ``agent`` (a path, or one already loaded) and logging to
    ``events``; refuses agents that need hidden state or act in another layout."""
    configure_threads()
    saved = (
        agent if isinstance(agent, SavedAgent) else load_saved_agent(agent, device, agent_target)
    )
    check_servable(saved)
    log = EventLog(events, fsync=fsync)
    config = saved.env_config
    Recommend, Events = recommend_model(config, max_batch), events_model(config, max_batch)
    acting = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.open()  # again when the app is started a second time (a test client re-entered)
        yield
        log.close()

    app = FastAPI(title="recenv agent server", lifespan=lifespan)
    app.state.saved, app.state.log = saved, log

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        detail = [{key: error.get(key) for key in ("loc", "msg", "type")} for error in errors]
        return JSONResponse({"message": field_errors(errors), "detail": detail}, status_code=422)

    @app.post("/recommend")
    def recommend(body: Recommend) -> dict[str, Any]:  # type: ignore[valid-type]
        observation = batched_observation(body.observations)
        with acting:  # agents keep generators and buffers: one act at a time
            items = np.asarray(saved.agent.act(observation, deterministic=body.deterministic))
        return {"items": items.tolist(), "slate_size": config.slate_size, "agent": saved.kind}

    @app.post("/events")
    def log_events(body: Events) -> dict[str, int]:  # type: ignore[valid-type]
        first, logged = log.append(event.model_dump() for event in body.events)
        return {"first_seq": first, "logged": logged}

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "agent": saved.kind,
            "agent_class": saved.target,
            "agent_folder": str(saved.folder),
            "env": saved.env_name,
            "env_hash": saved.env_hash,
            "slate_size": config.slate_size,
            "n_items": config.catalog.n_items,
            "n_categories": config.catalog.n_categories,
            "history_length": config.history_length,
            "cart_capacity": config.cart_capacity,
            "session_features": list(SESSION_FEATURES),
            "events_logged": log.count,
        }

    return app


def check_servable(saved: SavedAgent) -> None:
    """Refuse what a live shopper's observation cannot drive: hidden state, other layouts."""
    if getattr(saved.agent, "needs_info", False):
        raise ValueError(
            f"agent {saved.kind!r} reads the simulator's hidden state (info['hidden']), which a "
            "served shopper does not have; serve an agent that acts on observations"
        )
    interface = saved.env_config.interface
    if interface.observation != "ids" or interface.action != "items":
        raise ValueError(
            f"agent {saved.kind!r} was built for interface.observation = "
            f"{interface.observation!r}, interface.action = {interface.action!r}; the server "
            "takes the 'ids' observation and answers 'items'"
        )


register()


@hydra.main(config_path="../conf", config_name="serving", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Load the agent, open the log, and run uvicorn until interrupted."""
    import uvicorn

    settings = config_from_dict(OmegaConf.to_container(cfg.serve, resolve=True), ServeConfig)
    app = create_app(
        settings.agent,
        settings.events,
        settings.device,
        settings.max_batch,
        settings.fsync,
        settings.agent_target,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
