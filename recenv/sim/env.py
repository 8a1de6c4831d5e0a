"""``ShoppingEnv``: the batched simulation core with one shopper, as a ``gymnasium.Env``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec
from gymnasium.error import ResetNeeded
from numpy.typing import NDArray

from recenv.sim import render as session_render
from recenv.sim import streams
from recenv.sim.config import EnvConfig, config_from_dict, deep_update, make_config, out_of_range
from recenv.sim.core import Simulator
from recenv.sim.interface import AgentInterface
from recenv.sim.state import EVENT_NAMES, SESSION_FEATURES

ENV_ID = "recenv/Shopping-v0"


def episode_horizon(config: EnvConfig) -> int:
    """Most steps an episode can last: ``max_steps``, times ``max_visits`` for shopper
    episodes (``spec.max_episode_steps``; the env truncates there itself)."""
    return config.max_steps * (config.max_visits if config.episode == "shopper" else 1)


def resolve_config(
    config: EnvConfig | Mapping[str, Any] | None, preset: str | None, overrides: Mapping[str, Any]
) -> EnvConfig:
    """One way in for every constructor: a preset, a config (object or mapping), overrides
    (the constructor's keyword arguments: an unknown name is an ``UnexpectedKeywordError``)."""
    check_keywords(overrides)
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


class UnexpectedKeywordError(TypeError, ValueError):
    """An env constructor's keyword that is no config field. A ``TypeError``, as for any
    Python call: libraries probe constructors with optional keywords and drop those that
    raise one (TorchRL's ``GymEnv`` passes ``frameskip``); a ``ValueError`` like every
    other config error."""


def check_keywords(overrides: Mapping[str, Any]) -> None:
    """Raise ``UnexpectedKeywordError`` naming the first override that is no config field."""
    valid = [spec.name for spec in dataclasses.fields(EnvConfig)]
    unknown = [name for name in overrides if name not in valid]
    if unknown:
        raise UnexpectedKeywordError(
            f"unexpected keyword argument {unknown[0]!r}: not a config field; valid fields "
            f"of EnvConfig: {', '.join(sorted(valid))}"
        )


class ShoppingEnv(gym.Env):
    """One shopper's session in an online shop; the agent recommends what to show.

    **Description.** A shopper with hidden taste, price sensitivity, budget and patience
    browses. Each step the agent shows one item (or a slate); the shopper clicks at most
    one shown item (multinomial logit with a no-click option and position bias), may add
    it to the cart, and may buy the cart. Tastes drift toward what is consumed, repeated
    categories bore (fatigue), patience falls each step and recovers after satisfying
    clicks, clickbait costs patience, and purchases spend budget.

    **Observation** (``Dict``; H = ``history_length``, M = ``catalog.n_items``; with
    ``interface.observation = "features"`` a compact float32 ``Box`` instead, laid out in
    ``recenv.sim.encoding``: a few hundred floats on ``large``):

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
    ``MultiDiscrete([M] * K)``: K items by position. A repeated item is replaced by the
    next id not in the slate (``interface.slate_repeats = "replace"``, counted in
    ``info["slate_repeats"]``) or raises (``"strict"``). ``interface.action = "scores"``
    (a ``Box`` of M scores) or ``"feature_weights"`` (weights over the observable item
    features): the env shows the K best-scored allowed items (``recenv.sim.scoring``).
    ``interface.action = "shops"`` (``Discrete(n_shops)``): the shop's K most popular
    allowed items (``recenv.sim.shops``). Anything else raises ``ValueError``.

    **Masks.** ``action_masks()`` (sb3-contrib's convention: ``(M,)``, or ``(K * M,)`` one
    mask per position) marks the items that may be shown now: released items, and with
    ``interface.mask_cart`` / ``mask_shown`` not in the cart / not shown last step
    (``recenv.sim.masks``); ``interface.mask_in_info`` adds the ``(M,)`` item mask to
    every ``info`` as ``action_mask``. Masked items are still accepted as actions.

    **Reward.** ``reward_click * click + reward_cart * cart + reward_purchase * revenue``
    (or items bought when ``purchase_reward = "count"``); each event is in ``info``.

    **Starting state.** A shopper drawn from the segment mixture; a returning shopper
    (``returning_fraction``) starts with ``initial_history`` past picks, others with an
    empty history; in the search scenario some arrive with a query.

    **Episode end.** *Terminated* when patience reaches 0 or the budget cannot pay for
    any item (with an empty cart); *truncated* after ``max_steps`` steps (the env
    truncates itself; ``spec.max_episode_steps`` reports the horizon, ``episode_horizon``,
    and ``gymnasium.make`` adds no ``TimeLimit``). ``step``
    before the first ``reset``, or after an episode ended, raises
    ``gymnasium.error.ResetNeeded`` (the vector env resets ended slots itself).

    **Arguments.** ``config`` (``EnvConfig`` or mapping), ``preset`` (a name from
    ``recenv/presets/env``, default ``"default"``), ``render_mode`` (``"ansi"``: a line of
    text; ``"rgb_array"``: an image of the session, ``recenv.sim.render``; ``"human"``: the
    same in a window; other modes warn and render nothing, as Gymnasium does), and nested
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
    ``revenue``, ``items_bought``, ``session_index``; ``slate_repeats`` (slates of item
    ids); ``action_mask`` (``interface.mask_in_info``); ``hidden`` (taste, patience, budget,
    price sensitivity, fatigue, segment, cart quality) only if ``expose_hidden_state``.

    **Version history.** v0: first release; ``step`` out of order raises ``ResetNeeded``.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": session_render.RENDER_MODES,
        "render_fps": 4,
    }

    def __init__(
        self,
        config: EnvConfig | Mapping[str, Any] | None = None,
        preset: str | None = None,
        render_mode: str | None = None,
        split: str = "train",
        **overrides: Any,
    ) -> None:
        session_render.check_render_mode(render_mode, self.metadata["render_modes"])
        self.split = streams.check_split(split)
        self.config = resolve_config(config, preset, overrides)
        self.render_mode = render_mode
        self.simulator = Simulator(self.config, n_shoppers=1)
        self.interface = AgentInterface(self.config, self.simulator.catalog)
        self.observation_space = self.interface.observation_space()
        self.action_space = self.interface.action_space()
        self.spec = EnvSpec(
            id=ENV_ID,
            entry_point="recenv.sim.env:ShoppingEnv",
            kwargs={"config": dataclasses.asdict(self.config), "split": split},
            vector_entry_point="recenv.sim.vector:ShoppingVectorEnv",
        )
        self._viewer: session_render.HumanViewer | None = None
        self._last_step: dict[str, Any] = {}  # what render draws of the last step
        self._total_reward = 0.0
        self._seeded = False
        self._slot = 0
        self._stepped = False  # since the last reset (for ResetNeeded's message)
        self._needs_reset = True  # before the first reset and after an episode ends

    @property
    def spec(self) -> EnvSpec | None:
        """The registration spec, with ``max_episode_steps`` = the config's horizon."""
        return self._spec

    @spec.setter
    def spec(self, value: EnvSpec | None) -> None:
        # gymnasium.make replaces the spec after construction (max_episode_steps None)
        if value is not None and value.max_episode_steps is None:
            value = dataclasses.replace(value, max_episode_steps=episode_horizon(self.config))
        self._spec = value

    @property
    def item_features(self) -> dict[str, NDArray]:
        """Observable item features (category, price, popularity rank, release session)."""
        return self.simulator.catalog.item_features(self.config.catalog.observable_embeddings)

    def action_masks(self) -> NDArray[np.bool_]:
        """Items that may be shown now, in sb3-contrib's ``MaskablePPO`` convention."""
        return self.interface.action_masks(self.simulator.state)[0]

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
        self._last_step, self._total_reward = {}, 0.0
        info: dict[str, Any] = {"session_index": int(state.session[0])}
        if self.interface.mask_in_info:
            info["action_mask"] = self.interface.mask(state)[0]
        if self.config.expose_hidden_state:
            info["hidden"] = self._hidden()
        if self.render_mode == "human":
            self._show()
        return self.interface.single_observation(observation), info

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise ResetNeeded(
                "ShoppingEnv.step() called before reset()"
                if not self._stepped
                else "ShoppingEnv.step() called after the episode ended (terminated or "
                "truncated); call reset() to start the next session"
            )
        state = self.simulator.state
        slates, repeats = self.interface.slates(action, 1, False, state)
        outcome, observation = self.simulator.step_one(slates)  # Python scalars, fresh arrays
        reward, terminated, truncated, click, item, cart, purchase, revenue, bought = outcome
        self._stepped = True
        self._needs_reset = terminated or truncated
        info = {
            "session_index": int(state.session[0]),
            "click": click,
            "clicked_item": item,
            "cart": cart,
            "purchase": purchase,
            "revenue": revenue,
            "items_bought": bought,
        }
        if repeats is not None:
            info["slate_repeats"] = int(repeats[0])
        if self.interface.mask_in_info:
            info["action_mask"] = self.interface.mask(state)[0]
        if self.config.expose_hidden_state:
            info["hidden"] = self._hidden()
        if self.render_mode in ("rgb_array", "human"):
            self._total_reward += reward
            self._last_step = {"slate": slates[0].tolist(), "reward": reward, **info}
            if self.render_mode == "human":
                self._show()
        return self.interface.single_observation(observation), reward, terminated, truncated, info

    def render(self) -> str | NDArray[np.uint8] | None:
        """``ansi``: a line of text; ``rgb_array``: the session as an image; else None."""
        if self.render_mode == "rgb_array":
            return session_render.draw(self._frame())
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

    def close(self) -> None:
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None

    def _show(self) -> None:
        if self._viewer is None:
            self._viewer = session_render.HumanViewer(self.metadata["render_fps"])
        self._viewer.show(session_render.draw(self._frame()))

    def _frame(self) -> session_render.SessionFrame:
        """What a rendered frame shows now (read from the simulator, not from observations
        an agent may have changed)."""
        observation = _first_row(self.simulator.observe())
        features = dict(zip(SESSION_FEATURES, observation["session"].tolist(), strict=True))
        catalog, last = self.simulator.catalog, self._last_step
        hidden: dict[str, float] = {}
        if self.config.expose_hidden_state:
            state = self._hidden()
            hidden = {
                "patience": float(state["patience"]),
                "max_patience": self.config.dynamics.max_patience,
                "budget": float(state["budget"]),
                "base_budget": float(state["base_budget"]),
            }
        query = int(observation["query"])
        return session_render.SessionFrame(
            session_index=int(self.simulator.state.session[0]),
            step=int(features["step"]),
            max_steps=self.config.max_steps,
            slate=last.get("slate", []),
            clicked_item=last.get("clicked_item", -1),
            carted=bool(last.get("cart", False)),
            purchased=bool(last.get("purchase", False)),
            reward=float(last.get("reward", 0.0)),
            total_reward=self._total_reward,
            history=[
                (int(item), int(event))
                for item, event in zip(
                    observation["history"], observation["history_events"], strict=True
                )
                if event
            ],
            cart=[int(item) for item in observation["cart"] if item < catalog.n_items],
            cart_value=float(features["cart_value"]),
            query=None if query == catalog.n_categories else query,
            category=catalog.category,
            price=catalog.price,
            n_categories=catalog.n_categories,
            hidden=hidden,
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
