"""The HTTP server's request and response bodies, built from the served scenario's config.

Shapes and ranges depend on the scenario (``history_length``, ``cart_capacity``,
``n_items``, ``n_categories``, ``slate_size``), so the pydantic models are made per config
(``pydantic.create_model``) and FastAPI validates every request against them: a wrong
shape, id, type or missing field is answered with HTTP 422 before the agent sees it.
Validation is strict (JSON ints for ids, no ``"3"`` for 3, no unknown keys) and follows
``recenv.sim.spaces.observation_space`` field by field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from experiments.event_log import EVENTS
from recenv.sim.config import EnvConfig
from recenv.sim.state import EVENT_NAMES, SESSION_FEATURES

STRICT = ConfigDict(strict=True, extra="forbid")
SESSION_HIGH = 1e9  # the observation space's bound on session features


class ObservationFields(BaseModel):
    """One shopper's observation, as the env hands it to an agent (one row of a batch)."""

    model_config = STRICT

    @field_validator("history_events", check_fields=False)
    @classmethod
    def padding_matches_events(cls, events: list[int], info: ValidationInfo) -> list[int]:
        """A padded history slot (item id = n_items) has event 0 (pad), and only it."""
        padding = cls.n_items  # type: ignore[attr-defined]
        history = info.data.get("history")
        if history is None:  # history itself was refused: its error says why
            return events
        for slot, (item, event) in enumerate(zip(history, events, strict=True)):
            if (item == padding) != (event == 0):
                raise ValueError(
                    f"history_events[{slot}] = {event} with history[{slot}] = {item}: a padded "
                    f"slot (item {padding}) has event 0 (pad), a shown item an event in "
                    f"[1, {len(EVENT_NAMES) - 1}]"
                )
        return events


def observation_model(config: EnvConfig) -> type[ObservationFields]:
    """The ``Observation`` body of ``config``'s scenario (ranges as its observation space)."""
    n_items, n_categories = config.catalog.n_items, config.catalog.n_categories
    item = Annotated[int, Field(ge=0, le=n_items)]  # n_items is the padding id
    event = Annotated[int, Field(ge=0, le=len(EVENT_NAMES) - 1)]
    feature = Annotated[float, Field(ge=0.0, le=SESSION_HIGH, allow_inf_nan=False)]

    def exactly(kind: Any, length: int, meaning: str) -> Any:
        sized = Field(min_length=length, max_length=length, description=meaning)
        return Annotated[list[kind], sized], ...

    model = create_model(
        "Observation",
        __base__=ObservationFields,
        history=exactly(item, config.history_length, "last shown ids, newest first; pad n_items"),
        history_events=exactly(event, config.history_length, f"event codes {EVENT_NAMES}"),
        cart=exactly(item, config.cart_capacity, "item ids in the cart; pad n_items"),
        session=exactly(feature, len(SESSION_FEATURES), f"features {SESSION_FEATURES}"),
        query=(Annotated[int, Field(ge=0, le=n_categories)], ...),
    )
    model.n_items = n_items  # type: ignore[attr-defined]
    return model


def recommend_model(config: EnvConfig, max_batch: int) -> type[BaseModel]:
    """``{"observations": [Observation, ...], "deterministic": true}``: 1 to ``max_batch``."""
    observation = observation_model(config)
    return create_model(
        "RecommendRequest",
        __config__=STRICT,
        observations=(Annotated[list[observation], Field(min_length=1, max_length=max_batch)], ...),
        deterministic=(bool, True),
    )


def events_model(config: EnvConfig, max_batch: int) -> type[BaseModel]:
    """``{"events": [Event, ...]}``: what a shopper did with an item, 1 to ``max_batch``."""
    event = create_model(
        "Event",
        __config__=STRICT,
        shopper=(Annotated[str, Field(min_length=1, max_length=128)], ...),
        item=(Annotated[int, Field(ge=0, lt=config.catalog.n_items)], ...),
        event=(Literal[EVENTS], ...),  # type: ignore[valid-type]
        position=(Annotated[int, Field(ge=0, lt=config.slate_size)] | None, None),
        timestamp=(Annotated[float, Field(allow_inf_nan=False)] | None, None),
    )
    return create_model(
        "EventsRequest",
        __config__=STRICT,
        events=(Annotated[list[event], Field(min_length=1, max_length=max_batch)], ...),
    )


def batched_observation(observations: list[ObservationFields]) -> dict[str, NDArray]:
    """The validated bodies as the vector env's batched observation (its dtypes)."""
    rows = [row.model_dump() for row in observations]
    dtypes = {key: np.float32 if key == "session" else np.int64 for key in rows[0]}
    return {key: np.array([row[key] for row in rows], dtype=dtypes[key]) for key in rows[0]}


def field_errors(errors: list[dict[str, Any]]) -> list[str]:
    """pydantic's errors as ``field = value: what is allowed``, e.g.
    ``observations[0].history[3] = 999: Input should be less than or equal to 100``."""
    lines = []
    for error in errors:
        location = [part for part in error.get("loc", ()) if part != "body"]
        name = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)
        name = name.removeprefix(".") or "body"
        value = error.get("input")
        shown = "missing" if error.get("type") == "missing" else repr(value)[:200]
        lines.append(f"{name} = {shown}: {error.get('msg')}")
    return lines
