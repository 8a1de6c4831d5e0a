"""Drawing a session so a person can look at it: ``rgb_array`` frames and a ``human`` window.

A frame shows the step and reward, the shown slate (each item coloured by category, with
its id and price; the clicked item outlined and labelled clicked or carted), the purchase,
the recent history (coloured by category, marked by event), the cart with its value, and,
when ``expose_hidden_state``, the shopper's patience and remaining budget as bars.
Matplotlib's Agg canvas draws it (no display needed); ``human`` shows the same frames in a
Matplotlib window where a display exists.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import numpy as np
from gymnasium import logger
from numpy.typing import NDArray

RENDER_MODES = ["ansi", "rgb_array", "human"]
FRAME_INCHES, FRAME_DPI = (8.0, 4.5), 100
EVENT_MARKS = {1: "", 2: "click", 3: "cart", 4: "bought"}


@dataclass(frozen=True)
class SessionFrame:
    """Everything one frame shows (plain values: the env fills it, the drawer reads it)."""

    session_index: int
    step: int
    max_steps: int
    slate: list[int]
    clicked_item: int
    carted: bool
    purchased: bool
    reward: float
    total_reward: float
    history: list[tuple[int, int]]  # (item, event), most recent first
    cart: list[int]
    cart_value: float
    query: int | None
    category: NDArray[np.int64]
    price: NDArray[np.float64]
    n_categories: int
    hidden: dict[str, float] = field(default_factory=dict)  # patience, budget and their caps


def category_colour(category: int, n_categories: int) -> tuple[float, float, float]:
    """A stable colour per category (tab20, cycling past 20 categories)."""
    from matplotlib import colormaps

    del n_categories  # the colour of a category never depends on how many there are
    return colormaps["tab20"](category % 20)[:3]


def draw(frame: SessionFrame) -> NDArray[np.uint8]:
    """The frame as an ``(H, W, 3)`` uint8 image (800 x 450 pixels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    figure = Figure(figsize=FRAME_INCHES, dpi=FRAME_DPI)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, 16)
    axes.set_ylim(0, 9)
    axes.axis("off")
    query = "" if frame.query is None else f"  ·  searching category {frame.query}"
    axes.text(
        0.3,
        8.5,
        f"session {frame.session_index}  ·  step {frame.step}/{frame.max_steps}  ·  "
        f"reward {frame.reward:+.2f} (total {frame.total_reward:.2f}){query}",
        fontsize=11,
        weight="bold",
        va="center",
    )

    def item_box(x: float, y: float, width: float, height: float, item: int, label: str) -> None:
        colour = category_colour(int(frame.category[item]), frame.n_categories)
        axes.add_patch(Rectangle((x, y), width, height, facecolor=colour, edgecolor="grey"))
        axes.text(x + width / 2, y + height / 2, label, ha="center", va="center", fontsize=8)

    axes.text(0.3, 7.6, "shown", fontsize=10, va="center")
    width = min(2.6, 14.5 / max(len(frame.slate), 1))
    for position, item in enumerate(frame.slate):
        x = 1.4 + position * width
        label = f"#{item}\ncat {int(frame.category[item])}\n{frame.price[item]:.2f}"
        item_box(x, 6.3, width - 0.2, 1.8, item, label)
        if item == frame.clicked_item:
            axes.add_patch(
                Rectangle((x, 6.3), width - 0.2, 1.8, fill=False, edgecolor="black", linewidth=3)
            )
            axes.text(
                x + (width - 0.2) / 2,
                6.05,
                "carted" if frame.carted else "clicked",
                ha="center",
                va="center",
                fontsize=9,
                weight="bold",
            )
    if not frame.slate:
        axes.text(1.4, 7.2, "(nothing shown yet)", fontsize=9, va="center", color="grey")
    if frame.purchased:
        axes.text(
            12.0,
            6.0,
            "BOUGHT THE CART",
            fontsize=12,
            weight="bold",
            color="darkgreen",
            va="center",
        )

    axes.text(0.3, 5.0, "history", fontsize=10, va="center")
    for age, (item, event) in enumerate(frame.history[:20]):
        x = 1.4 + age * 0.72
        item_box(x, 4.55, 0.64, 0.9, item, EVENT_MARKS.get(event, "")[:5])

    axes.text(0.3, 3.3, "cart", fontsize=10, va="center")
    for index, item in enumerate(frame.cart[:12]):
        item_box(1.4 + index * 1.2, 2.85, 1.1, 0.9, item, f"#{item}\n{frame.price[item]:.2f}")
    axes.text(
        1.4 + min(len(frame.cart), 12) * 1.2 + 0.2,
        3.3,
        f"{len(frame.cart)} item{'' if len(frame.cart) == 1 else 's'}, worth "
        f"{frame.cart_value:.2f}",
        fontsize=9,
        va="center",
    )

    bars = [("patience", "max_patience"), ("budget", "base_budget")]
    for row, (name, cap) in enumerate(bars):
        if name not in frame.hidden:
            continue
        y = 1.6 - row * 0.9
        share = float(np.clip(frame.hidden[name] / max(frame.hidden[cap], 1e-9), 0.0, 1.0))
        axes.text(0.3, y + 0.25, name, fontsize=10, va="center")
        axes.add_patch(Rectangle((1.9, y), 9.5, 0.5, facecolor="whitesmoke", edgecolor="grey"))
        axes.add_patch(Rectangle((1.9, y), 9.5 * share, 0.5, facecolor="tab:blue"))
        axes.text(
            11.6,
            y + 0.25,
            f"{frame.hidden[name]:.2f} / {frame.hidden[cap]:.2f}",
            fontsize=9,
            va="center",
        )
    if not frame.hidden:
        axes.text(
            0.3,
            1.2,
            "patience and budget are hidden (expose_hidden_state: true shows them)",
            fontsize=8,
            color="grey",
            va="center",
        )
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def has_display() -> bool:
    """Whether a window can open: a desktop OS, or an X / Wayland display on Linux."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class HumanViewer:
    """A Matplotlib window showing frames as they come; a warning (once) without display."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._image = None
        self._warned = False

    def show(self, frame: NDArray[np.uint8]) -> None:
        if not has_display():
            if not self._warned:
                logger.warn("render_mode 'human' needs a display; none found, nothing is shown")
                self._warned = True
            return
        import matplotlib.pyplot as plt

        if self._image is None:
            plt.ion()
            figure = plt.figure(figsize=FRAME_INCHES)
            axes = figure.add_axes((0, 0, 1, 1))
            axes.axis("off")
            self._image = axes.imshow(frame)
        else:
            self._image.set_data(frame)
        plt.pause(1.0 / self.fps)

    def close(self) -> None:
        if self._image is not None:
            import matplotlib.pyplot as plt

            plt.close(self._image.figure)
            self._image = None


def check_render_mode(render_mode: str | None, allowed: list[str]) -> None:
    """Gymnasium's rule: an unsupported mode warns (and renders nothing), never raises."""
    if render_mode is not None and render_mode not in allowed:
        logger.warn(
            f"render_mode = {render_mode!r} is not supported; allowed: {allowed} or None. "
            "render() will return None"
        )
