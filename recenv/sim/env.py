"""``ShoppingEnv``: the batched simulation core with one shopper, as a ``gymnasium.Env``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.error import ResetNeeded
from numpy.typing import NDArray

from recenv.sim import spaces as recenv_spaces
from recenv.sim import streams
from recenv.sim.config import EnvConfig, config_from_dict, deep_update, make_config, out_of_range
from recenv.sim.core import Simulator
from recenv.sim.state import EVENT_NAMES, SESSION_FEATURES


def resolve_config(
    config: EnvConfig | Mapping[str, Any] | None, preset: str | None, overrides: Mapping[str, Any]
) -> EnvConfig:
    """One way in for every constructor: a preset, a config (object or mapping), overrides."""
    if isinstance(config, EnvConfig) and not overrides and preset is None:
        return config
    if isinstance(config, EnvConfig):
        config = dataclasses.asdict(config)
    if config is not None and not isinstance(config, Mapping):
        config = config_from_dict(config)  # raises a clear error for non-mappings
    merged: dict[str, Any] = {}
    deep_update(merged, config or {})
    deep_update(merged, overrides)  # nested overrides keep the rest of their section
    return make_config(preset if preset is not None else "default", **merged)


class ShoppingEnv(gym.Env):
    """One shopper's session in an online shop; the agent recommends what to show.

    **Description.** A shopper with hidden taste, price sensitivity, budget and patience
    browses. Each step the agent shows one item (or a slate); the shopper clicks at most
    one shown item (multinomial logit with a no-click option and position bias), may add
    it to the cart, and may buy the cart. Tastes drift toward what is consumed, repeated
    categories bore (fatigue), patience falls each step and recovers after satisfying
    clicks, clickbait costs patience, and purchases spend budget.

    **Observation** (``Dict``; H = ``history_length``, M = ``catalog.n_items``):

    ==================  ======  =======  ===================================================
    key                 shape   dtype    meaning
    ==================  ======  =======  ===================================================
    ``history``         (H,)    int64    last shown item ids, most recent first; M = padding
    ``history_events``  (H,)    int64    0 pad, 1 viewed, 2 clicked, 3 carted, 4 bought
    ``cart``            (C,)    int64    item ids in the cart (C = ``cart_capacity``); M = pad
    ``session``         (8,)    float32  step, cart items, cart value, clicks, carts,
                                         items bought, money spent, returning shopper (0/1)
    ``query``           ()      int64    searched category, ``n_categories`` = no search
    ==================  ======  =======  ===================================================

    **Action.** ``Discrete(M)``: the item to show; with ``slate_size = K > 1``,
    ``MultiDiscrete([M] * K)``: K distinct items by position. Anything else raises
    ``ValueError``.

    **Reward.** ``reward_click * click + reward_cart * cart + reward_purchase * revenue``
    (or items bought when ``purchase_reward = "count"``); each event is in ``info``.

    **Starting state.** A shopper drawn from the segment mixture; a returning shopper
    (``returning_fraction``) starts with ``initial_history`` past picks, others with an
    empty history; in the search scenario some arrive with a query.

    **Episode end.** *Terminated* when patience reaches 0 or the budget cannot pay for
    any item (with an empty cart); *truncated* after ``max_steps`` steps (the horizon
    lives in the config only: the env is not registered with a ``TimeLimit``). ``step``
    before the first ``reset``, or after an episode ended, raises
    ``gymnasium.error.ResetNeeded`` (the vector env resets ended slots itself).

    **Arguments.** ``config`` (``EnvConfig`` or mapping), ``preset`` (a name from
    ``recenv/presets/env``, default ``"default"``), ``render_mode`` (``"ansi"``), and nested
    overrides as keyword arguments, e.g. ``ShoppingEnv(preset="small", slate_size=3)``.

    **Seeding.** ``reset(seed=s)`` starts session 0 of slot 0 of run ``s``; each later
    ``reset()`` starts the next session (a new shopper) of the same slot.
    ``reset(seed=s, options={"slot": i})`` takes slot ``i`` instead: slot ``i`` of
    ``ShoppingVectorEnv`` seeded ``s`` reproduces this env seeded ``s`` at slot ``i``.
    ``reset(options={"session_index": k})`` jumps to session ``k``. ``split``
    (``"train"``, ``"validation"`` or ``"evaluation"``) picks a population split: for any
    seeds, the shoppers of two splits, or of two seeds, never coincide (``recenv.sim.streams``).
    Seeds are integers >= 0 of any size (``2**64`` is its own run, not seed 0); unknown
    options raise ``ValueError``, by the rule both envs share (``check_reset``).

    **Info.** ``click``, ``clicked_item`` (-1 if none), ``cart``, ``purchase``,
    ``revenue``, ``items_bought``, ``session_index``; ``hidden`` (taste, patience, budget,
    price sensitivity, fatigue, segment, cart quality) only if ``expose_hidden_state``.

    **Version history.** v0: first release; ``step`` out of order raises ``ResetNeeded``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        config: EnvConfig | Mapping[str, Any] | None = None,
        preset: str | None = None,
        render_mode: str | None = None,
        split: str = "train",
        **overrides: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode = {render_mode!r} is not supported; allowed: "
                f"{self.metadata['render_modes']} or None"
            )
        self.split = streams.check_split(split)
        self.config = resolve_config(config, preset, overrides)
        self.render_mode = render_mode
        self.simulator = Simulator(self.config, n_shoppers=1)
        self.observation_space = recenv_spaces.observation_space(self.config)
        self.action_space = recenv_spaces.action_space(self.config)
        self._seeded = False
        self._slot = 0
        self._stepped = False  # since the last reset (for ResetNeeded's message)
        self._needs_reset = True  # before the first reset and after an episode ends

    @property
    def item_features(self) -> dict[str, NDArray]:
        """Observable item features (category, price, popularity rank, release session)."""
        return self.simulator.catalog.item_features(self.config.catalog.observable_embeddings)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        seed, options = check_reset(seed, options, ("session_index", "slot"))
        slot = _slot(options["slot"]) if "slot" in options else None
        if slot is not None and seed is None and self._seeded:
            raise ValueError("options['slot'] needs a seed: reset(seed=s, options={'slot': i})")
        super().reset(seed=seed)
        state = self.simulator.state
        if slot is not None:
            self._slot = slot
        if seed is not None or not self._seeded:
            stream_seed = seed if seed is not None else int(self.np_random.integers(2**63))
            self.simulator.seed(stream_seed, self.split, self._slot)
            self._seeded = True
        else:
            state.session[:] += np.uint64(1)
        if "session_index" in options:
            state.session[:] = options["session_index"]
        observation = self.simulator.start_one()
        self._stepped = False
        self._needs_reset = False
        info: dict[str, Any] = {"session_index": int(state.session[0])}
        if self.config.expose_hidden_state:
            info["hidden"] = self._hidden()
        return observation, info

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise ResetNeeded(
                "ShoppingEnv.step() called before reset()"
                if not self._stepped
                else "ShoppingEnv.step() called after the episode ended (terminated or "
                "truncated); call reset() to start the next session"
            )
        slates = recenv_spaces.validate_slates(action, 1, self.config, batched=False)
        outcome, observation = self.simulator.step_one(slates)  # Python scalars, fresh arrays
        reward, terminated, truncated, click, item, cart, purchase, revenue, bought = outcome
        self._stepped = True
        self._needs_reset = terminated or truncated
        info = {
            "session_index": int(self.simulator.state.session[0]),
            "click": click,
            "clicked_item": item,
            "cart": cart,
            "purchase": purchase,
            "revenue": revenue,
            "items_bought": bought,
        }
        if self.config.expose_hidden_state:
            info["hidden"] = self._hidden()
        return observation, reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        observation = _first_row(self.simulator.observe())
        features = dict(zip(SESSION_FEATURES, observation["session"].tolist(), strict=True))
        shown = [
            f"{item}:{EVENT_NAMES[event]}"
            for item, event in zip(
                observation["history"], observation["history_events"], strict=True
            )
            if event
        ]
        return (
            f"step {int(features['step'])} | cart {int(features['cart_items'])} items "
            f"worth {features['cart_value']:.2f} | spent {features['spent']:.2f} | "
            f"recent: {' '.join(shown[:8])}"
        )

    def _hidden(self) -> dict[str, Any]:
        return {key: value[0] for key, value in self.simulator.hidden().items()}


def _first_row(observation: dict[str, NDArray]) -> dict[str, Any]:
    """The single shopper's observation: row 0 of each array (``query`` an ``np.int64``)."""
    return {key: value[0] for key, value in observation.items()}


def check_reset(
    seed: Any, options: Mapping[str, Any] | None, allowed: tuple[str, ...]
) -> tuple[int | None, dict[str, Any]]:
    """The one rule for ``reset`` arguments of both envs, checked before any state changes.

    ``seed``: None or an integer >= 0 (any size: every seed is its own run); ``options``:
    None or a mapping of the ``allowed`` names; a ``session_index`` is checked here too.
    Returns the seed as an int and the options as a dict.
    """
    checked_seed = None if seed is None else streams.check_seed(seed)
    if options is not None and not isinstance(options, Mapping):
        raise ValueError(f"reset options must be a dict, got {options!r}")
    checked = dict(options or {})
    unknown = sorted(map(str, set(checked) - set(allowed)))
    if unknown:
        raise ValueError(f"unknown reset options {unknown}; allowed: {', '.join(allowed)}")
    if "session_index" in checked:
        checked["session_index"] = _session_index(checked["session_index"])
    return checked_seed, checked


def _non_negative_int(value: Any) -> bool:
    return (
        not isinstance(value, (bool, np.bool_))
        and isinstance(value, (int, np.integer))
        and (value >= 0)
    )


def _slot(value: Any) -> int:
    if not _non_negative_int(value):
        raise out_of_range("options['slot']", value, "integers >= 0")
    return int(value)


def _session_index(value: Any) -> np.uint64:
    if not _non_negative_int(value) or value >= 2**64:
        raise out_of_range("options['session_index']", value, f"integers in [0, {2**64 - 1}]")
    return np.uint64(value)
