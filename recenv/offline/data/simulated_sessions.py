"""Session logs simulated under a policy, in the format of a real one (``SessionLog``).

``simulate_session_log`` plays ``n_shoppers`` shoppers (the first episode of each slot of
a vector env seeded ``seed``, the ``"evaluation"`` split by default, as
``agents.evaluation.run_sessions`` meets them) and writes what a shop's log would hold:

* every click is a ``view`` row of the clicked item: a log holds what shoppers opened, not
  what they were shown, so an impression without a click leaves no row;
* every add-to-cart is a ``cart`` row of that item;
* a checkout writes one ``buy`` row per item of the bought cart (the cart of the
  observation before the step, plus the item carted in that step);
* there are no ``fav`` rows (the simulator has no favourites).

Time stamps: within a visit, step ``t`` happens ``t * step_seconds`` after the visit
starts; between two visits of one shopper (``episode: shopper``) a gap is drawn from a
log-normal with median ``gap_hours[0]`` hours and log-sd ``gap_hours[1]``, by this
function's own generator seeded ``seed``. The gaps only time-stamp the log: the dynamics
never see time (whether and when a shopper returns is the env's business, how long they
stayed away is not modelled). Sessions are then cut by the same ``sessionize`` as a real
log, so a visit without a click leaves no session, two visits closer than
``gap_minutes`` merge, and a visit with a long run of steps without a click may split.
With ``step_seconds = 30`` and the default 50-step horizon a visit lasts at most 25
minutes, under the 30-minute cut. Categories come from the env's catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recenv.offline.data.logs import LoadReport
from recenv.offline.data.sessions import DEFAULT_GAP_MINUTES, SessionLog
from recenv.sim.config import EnvConfig
from recenv.sim.env import resolve_config
from recenv.sim.state import SESSION_FEATURES
from recenv.sim.vector import ShoppingVectorEnv

STEP = SESSION_FEATURES.index("step")  # the observation's step-within-visit column


def simulate_session_log(
    config: EnvConfig | Mapping[str, Any] | None,
    policy: Any,
    n_shoppers: int,
    seed: int = 0,
    step_seconds: float = 30.0,
    gap_hours: tuple[float, float] | None = None,
    gap_minutes: float = DEFAULT_GAP_MINUTES,
    split: str = "evaluation",
    deterministic: bool = True,
    name: str = "",
) -> SessionLog:
    """The session log of ``n_shoppers`` shoppers under ``policy`` (see the module docstring).

    ``policy`` is anything with a batched ``act(observation, deterministic=...)``; one that
    sets ``needs_info`` also receives ``info`` (hidden state included), as in evaluation.
    """
    config = resolve_config(config, None, {"expose_hidden_state": True})
    if gap_hours is None:  # the scenario's own return gaps
        gap_hours = (config.shoppers.return_gap_hours, config.shoppers.return_gap_log_std)
    _check(n_shoppers, step_seconds, gap_hours)
    env = ShoppingVectorEnv(n_shoppers, config=config, split=split)
    start = {"session_index": config.evaluation_session} if config.evaluation_session else None
    observation, info = env.reset(seed=seed, options=start)
    category = env.item_features["category"]
    needs_info = getattr(policy, "needs_info", False)
    pad, max_visits = config.catalog.n_items, config.max_visits
    rows: list[tuple[NDArray, ...]] = []  # (shopper, visit, step, item, event) per event kind
    visit_steps = np.zeros((n_shoppers, max_visits), dtype=np.int64)  # steps of each visit
    active = np.ones(n_shoppers, dtype=bool)
    while active.any():
        kwargs = {"info": info} if needs_info else {}
        action = np.asarray(policy.act(observation, deterministic=deterministic, **kwargs))
        visit = info["hidden"]["visit"]
        step = observation["session"][:, STEP].astype(np.int64)
        cart = observation["cart"]  # (n, C): what a checkout in this step buys, before the step
        observation, _, terminated, truncated, info = env.step(action)
        np.add.at(visit_steps, (np.flatnonzero(active), visit[active]), 1)
        clicked_item = info["clicked_item"]
        for event, happened in (("view", info["click"]), ("cart", info["cart"])):
            who = np.flatnonzero(active & happened)
            rows.append((who, visit[who], step[who], clicked_item[who], event))
        buyers = np.flatnonzero(active & info["purchase"])
        slot_owner, slot = np.nonzero(cart[buyers] != pad)
        carted_now = buyers[info["cart"][buyers]]
        who = np.concatenate([buyers[slot_owner], carted_now])
        items = np.concatenate([cart[buyers][slot_owner, slot], clicked_item[carted_now]])
        if len(who) != int(info["items_bought"][buyers].sum()):
            raise RuntimeError("bought items do not match the cart before the checkout")
        order = np.argsort(who, kind="stable")
        rows.append((who[order], visit[who[order]], step[who[order]], items[order], "buy"))
        active &= ~(terminated | truncated)
    starts = _visit_starts(visit_steps, step_seconds, gap_hours, seed)
    events = pd.DataFrame(
        {
            "user": np.concatenate([part[0] for part in rows]),
            "item": np.concatenate([part[3] for part in rows]),
            "event": np.concatenate([np.full(len(part[0]), part[4]) for part in rows]),
            "timestamp": np.concatenate(
                [np.rint(starts[part[0], part[1]] + part[2] * step_seconds) for part in rows]
            ).astype(np.int64),
        }
    )
    events.insert(2, "category", category[events["item"].to_numpy()].astype(np.int64))
    report = LoadReport(rows_read=len(events), rows_kept=len(events))
    label = name or f"simulated ({n_shoppers} shoppers, seed {seed})"
    return SessionLog.from_events(events, label, gap_minutes, report)


def _visit_starts(
    visit_steps: NDArray[np.int64],
    step_seconds: float,
    gap_hours: tuple[float, float],
    seed: int,
) -> NDArray[np.float64]:
    """Seconds from a shopper's first visit to the start of each visit ``(n, max_visits)``.

    Visit v + 1 starts ``steps(v) * step_seconds + gap`` after visit v; the gaps are drawn
    for every (shopper, visit) cell, so they do not depend on how many visits happened.
    """
    median, sigma = gap_hours
    rng = np.random.default_rng(seed)
    gaps = rng.lognormal(np.log(median * 3600.0), sigma, size=visit_steps.shape)
    elapsed = visit_steps * step_seconds + gaps
    return np.concatenate([np.zeros((len(elapsed), 1)), np.cumsum(elapsed, axis=1)[:, :-1]], axis=1)


def _check(n_shoppers: int, step_seconds: float, gap_hours: tuple[float, float]) -> None:
    if isinstance(n_shoppers, bool) or not isinstance(n_shoppers, int) or n_shoppers < 1:
        raise ValueError(f"n_shoppers = {n_shoppers!r} is out of range; allowed: integers >= 1")
    if not step_seconds > 0:
        raise ValueError(f"step_seconds = {step_seconds!r} is out of range; allowed: > 0")
    if len(gap_hours) != 2 or not gap_hours[0] > 0 or not gap_hours[1] >= 0:
        raise ValueError(
            f"gap_hours = {gap_hours!r} is not allowed; give (median hours > 0, log-sd >= 0)"
        )
