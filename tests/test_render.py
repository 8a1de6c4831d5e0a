"""Rendering: the pixels of a frame say what happened (read back at known coordinates)."""

from __future__ import annotations

import numpy as np
import pytest

from recenv import ShoppingEnv, ShoppingVectorEnv
from recenv.sim.render import category_colour

PIXELS_PER_UNIT = 50  # the frame's axes: 16 x 9 data units on 800 x 450 pixels


def pixel(frame: np.ndarray, x: float, y: float) -> np.ndarray:
    """The RGB of data point (x, y) of the frame (y up, as drawn)."""
    return frame[int(450 - y * PIXELS_PER_UNIT), int(x * PIXELS_PER_UNIT)].astype(int)


def played_env(slate: list[int]) -> tuple[ShoppingEnv, dict]:
    env = ShoppingEnv(
        preset="small", slate_size=len(slate), expose_hidden_state=True, render_mode="rgb_array"
    )
    env.reset(seed=4)
    for _ in range(20):
        *_, terminated, truncated, info = env.step(np.array(slate))
        if info["click"] or terminated or truncated:
            return env, info
        slate = [(item + 4) % 100 for item in slate]
    raise AssertionError("no click in 20 steps")


def test_frame_shows_the_slate_by_category_and_outlines_the_click() -> None:
    env, info = played_env([6, 2, 5, 7])
    frame = env.render()
    assert frame.shape == (450, 800, 3) and frame.dtype == np.uint8
    slate = env.simulator.observe()["history"][0, :4].tolist()
    category = env.simulator.catalog.category
    width = 2.6  # four boxes of 2.4 units and a gap
    for position, item in enumerate(slate):
        colour = np.array(category_colour(int(category[item]), 5)) * 255
        inside = pixel(frame, 1.4 + position * width + 0.3, 7.9)
        assert np.abs(inside - colour).max() <= 2, (position, item)
    clicked = slate.index(info["clicked_item"])
    border = pixel(frame, 1.4 + clicked * width + 0.01, 7.2)
    assert border.max() <= 40  # a thick black outline on the clicked item only
    for position in set(range(4)) - {clicked}:
        assert pixel(frame, 1.4 + position * width + 0.01, 7.2).max() > 40


def test_patience_bar_length_is_the_hidden_patience_share() -> None:
    env, _ = played_env([6, 2, 5, 7])
    frame = env.render()
    hidden = env.simulator.hidden()
    share = float(hidden["patience"][0]) / env.config.dynamics.max_patience
    row = frame[int(450 - 1.85 * PIXELS_PER_UNIT)]
    blue = np.flatnonzero(np.abs(row.astype(int) - [31, 119, 180]).max(axis=1) <= 2)
    assert abs(len(blue) - share * 9.5 * PIXELS_PER_UNIT) <= 3


def test_hidden_state_is_not_drawn_unless_exposed() -> None:
    env = ShoppingEnv(preset="small", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(0)
    row = env.render()[int(450 - 1.85 * PIXELS_PER_UNIT)]
    assert not (np.abs(row.astype(int) - [31, 119, 180]).max(axis=1) <= 2).any()


def test_unsupported_modes_warn_and_render_nothing() -> None:
    with pytest.warns(UserWarning, match="render_mode = 'rgb'.*not supported"):
        env = ShoppingEnv(preset="small", render_mode="rgb")
    env.reset(seed=0)
    env.step(0)
    assert env.render() is None
    with pytest.warns(UserWarning, match="not supported"):
        ShoppingVectorEnv(2, preset="small", render_mode="rgb_array")


def test_human_mode_without_a_display_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    env = ShoppingEnv(preset="small", render_mode="human")
    with pytest.warns(UserWarning, match="needs a display") as caught:
        env.reset(seed=0)
        env.step(0)
    assert len([w for w in caught if "needs a display" in str(w.message)]) == 1
    env.close()


def test_ansi_mode_still_reports_the_session_line() -> None:
    env = ShoppingEnv(preset="small", render_mode="ansi")
    env.reset(seed=0)
    env.step(3)
    assert env.render().startswith("step 1 | cart 0 items")
