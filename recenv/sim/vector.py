"""``ShoppingVectorEnv``: the same batched core with N shoppers, as a native ``VectorEnv``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from recenv.sim import render as session_render
from recenv.sim import streams
from recenv.sim.config import EnvConfig, out_of_range
from recenv.sim.core import Simulator, StepOutcome
from recenv.sim.env import check_reset, resolve_config
from recenv.sim.interface import AgentInterface
from recenv.sim.memory import check_memory


class ShoppingVectorEnv(VectorEnv):
    """N shoppers stepped together by one call of the batched core (see ``ShoppingEnv``).

    Observations, rewards and flags carry a leading axis of ``num_envs`` shoppers; actions
    are ``(num_envs,)`` item ids or ``(num_envs, slate_size)`` slates.

    **Seeding.** ``reset(seed=s)`` gives slot ``i`` the stream of ``ShoppingEnv`` reset with
    ``seed=s, options={"slot": i}`` (same ``split``): the same shoppers, responses and
    trajectories under the same actions, session after session. Two seeds, or two splits
    (``"train"``, ``"validation"``, ``"evaluation"``), never share a shopper
    (``recenv.sim.streams``). ``reset()`` without a seed moves every slot to its next session.

    **Autoreset** (Gymnasium 1.x), chosen with ``autoreset_mode``:

    * ``NEXT_STEP`` (default): after a slot ends (terminated or truncated), the next
      ``step`` starts that slot's next session, ignores its action, and returns the new
      shopper's first observation with reward 0 and both flags false.
    * ``SAME_STEP``: the slot is reset inside the step that ended it; the returned
      observation is the new shopper's, and ``info["final_obs"]`` (object array, one
      observation dict per ended slot, mask ``info["_final_obs"]``) and
      ``info["final_info"]`` hold the last observation and events of the ended session.
      The step's events stay in the top-level ``info`` for every slot as well.

    ``reset(options={"reset_mask": mask})`` resets only the masked slots (to their next
    session); ``options={"session_index": k}`` starts every slot at session ``k``.
    Every ``info`` key comes with its ``_key`` mask, all true.

    **Interface.** The ``interface`` config acts as in ``ShoppingEnv``: item ids or score
    actions (``(num_envs, width)`` Boxes), repeats replaced and counted per slot in
    ``info["slate_repeats"]``, the compact ``Box`` observation (``(num_envs, D)``),
    ``action_masks()`` of shape ``(num_envs, M)`` (``(num_envs, K * M)`` for slates) and
    ``info["action_mask"]`` ``(num_envs, M)`` with ``interface.mask_in_info``.

    **Copies.** ``copy=True`` (default, as Gymnasium's vector envs): every ``reset`` and
    ``step`` returns fresh observation arrays. ``copy=False`` writes them into the same
    arrays each call (no allocation, no page faults: faster at large ``num_envs``), so an
    observation is valid until the next call; ``final_obs`` is always a copy.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi"],  # a line of text over every slot
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        config: EnvConfig | Mapping[str, Any] | None = None,
        preset: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        split: str = "train",
        copy: bool = True,
        device: str = "cpu",
        check_actions: bool = True,
        **overrides: Any,
    ) -> None:
        self.split = streams.check_split(split)
        if not isinstance(copy, (bool, np.bool_)):
            raise ValueError(f"copy: expected true/false, got {copy!r}")
        if isinstance(num_envs, (bool, np.bool_)) or not isinstance(num_envs, (int, np.integer)):
            raise ValueError(f"num_envs: expected an integer, got {num_envs!r}")
        if num_envs < 1:
            raise out_of_range("num_envs", num_envs, "integers >= 1")
        num_envs = int(num_envs)
        self.autoreset_mode = _autoreset_mode(autoreset_mode)
        if self.autoreset_mode == AutoresetMode.DISABLED:
            raise ValueError("autoreset_mode DISABLED is not supported; use NEXT_STEP or SAME_STEP")
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        session_render.check_render_mode(render_mode, self.metadata["render_modes"])
        self.render_mode = render_mode
        self.config = resolve_config(config, preset, overrides)
        check_memory(self.config, num_envs, "num_envs")
        self.num_envs = num_envs
        self.simulator = Simulator(self.config, n_shoppers=num_envs)
        self.interface = AgentInterface(self.config, self.simulator.catalog)
        # copy=False: the one set of observation arrays every call writes into
        self._observation = None if copy else self.simulator.observe()
        self._encoded = None
        if not copy and self.interface.encoder is not None:
            self._encoded = np.empty((num_envs, self.interface.encoder.size), dtype=np.float32)
        self.single_observation_space = self.interface.observation_space()
        self.single_action_space = self.interface.action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = self.interface.batched_action_space(num_envs)
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._seeded = False
        self.device = resolve_device(device)
        self._on_device = None  # recenv.sim.device_env: simulation on the GPU
        if self.device == "cuda":
            from recenv.sim.device_env import DeviceStepper

            self._on_device = DeviceStepper(self, check_actions)

    @property
    def item_features(self) -> dict[str, NDArray]:
        """Observable item features, as in ``ShoppingEnv.item_features``."""
        return self.simulator.catalog.item_features(self.config.catalog.observable_embeddings)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, NDArray], dict[str, Any]]:
        if self._on_device is not None:
            return self._on_device.reset(seed, options)
        seed, options = check_reset(seed, options, ("reset_mask", "session_index"))
        rows = np.arange(self.num_envs)
        if "reset_mask" in options:
            rows = np.flatnonzero(_reset_mask(options["reset_mask"], self.num_envs))
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        state = self.simulator.state
        if seed is not None or not self._seeded:
            stream_seed = seed if seed is not None else int(self.np_random.integers(2**63))
            self.simulator.seed(stream_seed, self.split)
            self._seeded = True
        else:
            state.session[rows] += np.uint64(1)
        if "session_index" in options:
            state.session[rows] = options["session_index"]
        self.simulator.start_sessions(rows)
        self._needs_reset[rows] = False
        return self._observe(self.simulator.observe(self._observation)), self._info(None)

    def action_masks(self) -> NDArray[np.bool_]:
        """Items each slot may be shown now, in sb3-contrib's convention (rows of slots)."""
        return self.interface.action_masks(self.simulator.state)

    def step(
        self, actions: Any
    ) -> tuple[dict[str, NDArray], NDArray, NDArray, NDArray, dict[str, Any]]:
        if self._on_device is not None:
            return self._on_device.step(actions)
        slates, repeats = self.interface.slates(actions, self.num_envs, True, self.simulator.state)
        final: dict[str, Any] = {}
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            # Slots that ended last step start their next session instead of stepping.
            outcome, observation = self.simulator.step_and_observe(
                slates, self._needs_reset, observation=self._observation
            )
            if repeats is not None:
                repeats[self._needs_reset] = 0  # restarting slots showed nothing
            self._needs_reset = outcome.terminated | outcome.truncated
            return self._observe(observation), *outcome[:3], self._info(outcome, repeats)
        outcome = self.simulator.step(slates)
        ended = outcome.terminated | outcome.truncated
        if ended.any():
            ended_rows = np.flatnonzero(ended)
            final = self._final_info(ended, ended_rows, outcome, repeats)
            self.simulator.next_sessions(ended_rows)
        info = self._info(outcome, repeats)
        info.update(final)
        return (
            self._observe(self.simulator.observe(self._observation)),
            outcome.reward,
            outcome.terminated,
            outcome.truncated,
            info,
        )

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        features = self.simulator.state.features
        return (
            f"{self.num_envs} shoppers | mean step {features[:, 0].mean():.1f} | "
            f"spent {features[:, 6].sum():.2f} | clicks {int(features[:, 3].sum())}"
        )

    def _observe(self, raw: dict[str, NDArray]) -> dict[str, NDArray] | NDArray[np.float32]:
        return self.interface.observation(raw, self._encoded)

    def _info(
        self, outcome: StepOutcome | None, repeats: NDArray[np.int64] | None = None
    ) -> dict[str, Any]:
        everyone = np.ones(self.num_envs, dtype=bool)
        info: dict[str, Any] = {"session_index": self.simulator.state.session.astype(np.int64)}
        if outcome is not None:
            info.update(
                click=outcome.clicked,
                clicked_item=outcome.clicked_item,
                cart=outcome.carted,
                purchase=outcome.purchased,
                revenue=outcome.revenue,
                items_bought=outcome.items_bought,
            )
        if repeats is not None:
            info["slate_repeats"] = repeats
        if self.interface.mask_in_info:
            info["action_mask"] = self.interface.mask(self.simulator.state)
        if self.config.expose_hidden_state:
            info["hidden"] = self.simulator.hidden()
        return {**info, **{f"_{key}": everyone for key in info}}

    def _final_info(
        self,
        ended: NDArray[np.bool_],
        ended_rows: NDArray[np.int64],
        outcome: StepOutcome,
        repeats: NDArray[np.int64] | None,
    ) -> dict[str, Any]:
        """SAME_STEP extras: each ended slot's last observation and its last events."""
        last = self.simulator.observe()
        encoded = self.interface.observation(last)
        final_obs = np.full(self.num_envs, None, dtype=object)
        for row in ended_rows:
            final_obs[row] = (
                {key: value[row] for key, value in last.items()}
                if isinstance(encoded, dict)
                else encoded[row].copy()
            )
        final_info = {
            key: value
            for key, value in self._info(outcome, repeats).items()
            if not key.startswith("_")
        }
        final_info.update({f"_{key}": ended for key in list(final_info)})
        return {
            "final_obs": final_obs,
            "_final_obs": ended,
            "final_info": final_info,
            "_final_info": ended,
        }


def resolve_device(device: str) -> str:
    """``cpu``, ``cuda``, or ``auto``: CUDA when numba-cuda sees a device (or its simulator)."""
    if device not in ("cpu", "cuda", "auto"):
        raise out_of_range("device", device, "'cpu', 'cuda' or 'auto'")
    if device == "cpu":
        return "cpu"
    from recenv.sim import cuda as recenv_cuda

    if recenv_cuda.available():
        return "cuda"
    if device == "cuda":
        raise ValueError(
            "device = 'cuda' needs numba-cuda (pip install -e '.[gpu]') and a CUDA device; "
            "allowed here: 'cpu' or 'auto'"
        )
    return "cpu"


def _autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    if isinstance(mode, AutoresetMode):
        return mode
    for candidate in AutoresetMode:
        if mode in (candidate.name, candidate.value):
            return candidate
    raise ValueError(
        f"autoreset_mode = {mode!r} is not allowed; choose one of "
        f"{[candidate.name for candidate in AutoresetMode if candidate.name != 'DISABLED']}"
    )


def _reset_mask(mask: Any, num_envs: int) -> NDArray[np.bool_]:
    mask = np.asarray(mask)
    if mask.shape != (num_envs,) or mask.dtype != np.bool_:
        raise ValueError(
            f"options['reset_mask'] must be a bool array of shape ({num_envs},), "
            f"got dtype {mask.dtype} and shape {mask.shape}"
        )
    return mask
