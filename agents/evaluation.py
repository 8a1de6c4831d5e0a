"""Paired evaluation: every agent faces the same shoppers, every figure has a 95% CI.

``evaluate(agent, env_config, n_shoppers, seed)`` runs the first session of each of
``n_shoppers`` slots of an ``"evaluation"``-split vector env seeded ``seed``. The shopper
of (seed, slot) does not depend on the agent (``recenv.sim.streams``), so two agents evaluated
with the same seed meet the same shoppers: common random numbers, and per-shopper
differences are paired. Evaluation shoppers never appear in training or validation
(different splits). Metrics and their intervals are defined once, in ``recenv.metrics``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.base import Observation
from agents.scenario_records import ScenarioRecorder, records_scenarios
from recenv import metrics
from recenv.sim.config import EnvConfig
from recenv.sim.env import resolve_config
from recenv.sim.items import item_features
from recenv.sim.masks import recorded_slate
from recenv.sim.vector import ShoppingVectorEnv
from recenv.sim.vector import resolve_device as resolve_env_device
from recenv.stats import Estimate

METRICS = tuple(chosen.name for chosen in metrics.METRICS)


@dataclass
class EvaluationResult:
    """Per-session arrays (aligned by shopper) and their summaries."""

    sessions: dict[str, NDArray]  # name -> (n_shoppers,) or (n_shoppers, T*K) for "items"
    n_items: int
    seed: int
    summary: dict[str, Estimate] = field(default_factory=dict)

    @property
    def shopper_steps(self) -> int:
        """Shopper-steps this evaluation simulated."""
        return int(self.sessions["steps"].sum())


def run_sessions(
    agent: Any, env_config: EnvConfig, n_shoppers: int, seed: int, split: str = "evaluation"
) -> dict[str, NDArray]:
    """Play one session per slot with ``agent`` acting deterministically; record each session.

    Sessions start at ``config.evaluation_session`` (0, or after the releases of a cold
    start scenario, so that new items are on sale)."""
    needs_info = getattr(agent, "needs_info", False)
    env, observation, info = evaluation_env(env_config, n_shoppers, seed, split, needs_info)
    config = env.config
    is_new = np.append(env.item_features["release_session"] > 0, False)  # -1: no click
    totals = {
        name: np.zeros(n_shoppers)
        for name in (
            "return",
            "steps",
            "clicks",
            "new_clicks",
            "carts",
            "revenue",
            "purchases",
            "terminated",
        )
    }
    shown: list[NDArray[np.int64]] = []
    active = np.ones(n_shoppers, dtype=bool)
    state = env.simulator.state
    recorder = None
    if records_scenarios(config):
        recorder = ScenarioRecorder(config, env.simulator.catalog, n_shoppers)
    while active.any():
        kwargs = {"info": info} if needs_info else {}
        action = np.asarray(agent.act(observation, deterministic=True, **kwargs))
        if recorder is not None:
            recorder.before_step(state.cart_items)
        observation, reward, terminated, truncated, info = env.step(action)
        if recorder is not None:
            recorder.after_step(info["clicked_item"], info["cart"], info["purchase"], active)
        slates = shown_slates(env, config.slate_size)
        shown.append(np.where(active[:, None], slates, -1))
        for name, value in (
            ("return", reward),
            ("steps", 1.0),
            ("clicks", info["click"]),
            ("new_clicks", is_new[info["clicked_item"]]),  # clicks on items released late
            ("carts", info["cart"]),
            ("revenue", info["revenue"]),
            ("purchases", info["purchase"]),
            ("terminated", terminated),  # ended by patience or budget, not the horizon
        ):
            totals[name] += value * active
        active &= ~(terminated | truncated)
    totals["items"] = np.concatenate(shown, axis=1)  # (n, steps * K); -1 after the session
    if recorder is not None:
        totals.update(recorder.records())
    return totals


def evaluation_env(
    env_config: EnvConfig | Mapping[str, Any] | None,
    n_shoppers: int,
    seed: int,
    split: str = "evaluation",
    needs_info: bool = False,
) -> tuple[ShoppingVectorEnv, Observation, dict[str, Any]]:
    """The vector env of the evaluation shoppers of ``seed``, reset: with its first
    observation and info (hidden state exposed when ``needs_info``)."""
    config = resolve_config(env_config, None, {"expose_hidden_state": needs_info})
    env = ShoppingVectorEnv(n_shoppers, config=config, split=split)
    start = {"session_index": config.evaluation_session} if config.evaluation_session else None
    observation, info = env.reset(seed=seed, options=start)
    return env, observation, info


def shown_slates(env: ShoppingVectorEnv, slate_size: int) -> NDArray[np.int64]:
    """``(n, slate_size)`` what each slot was really shown at the last step, read from the
    env (repeats replaced, score actions decoded); -1 beyond a history shorter than K.
    Read from the history ring even when the step ended a visit and a new one began."""
    shown = recorded_slate(env.simulator.state, slate_size)
    if shown.shape[1] < slate_size:
        padding = np.full((shown.shape[0], slate_size - shown.shape[1]), -1, dtype=np.int64)
        shown = np.concatenate([shown, padding], axis=1)
    return shown


def evaluate(
    agent: Any,
    env_config: EnvConfig | Mapping[str, Any] | None,
    n_shoppers: int = 1000,
    seed: int = 0,
    device: str = "cpu",
) -> EvaluationResult:
    """Every metric of ``recenv.metrics`` on ``n_shoppers`` evaluation shoppers of ``seed``;
    ``device="cuda"`` (or ``auto``) steps them on the GPU, for agents that act on device
    tensors (``agents.device_evaluation``): the same shoppers, the same records."""
    config = resolve_config(env_config, None, {})
    features = item_features(config)
    if resolve_env_device(device) == "cuda":
        from agents.device_evaluation import run_sessions_on_device

        raw = run_sessions_on_device(agent, config, n_shoppers, seed)
    else:
        raw = run_sessions(agent, config, n_shoppers, seed)
    sessions = metrics.session_table(
        raw,
        features["category"],
        features["popularity_rank"],
        config.catalog.n_categories,
        features["release_session"],
        features.get("shop_reputation"),
    )
    sessions.update({name: raw[name] for name in ("carts", "purchases", "terminated")})
    result = EvaluationResult(sessions=sessions, n_items=config.catalog.n_items, seed=seed)
    result.summary = metrics.summarise([sessions], config.catalog.n_items)
    return result


def paired_difference(
    first: EvaluationResult | Sequence[EvaluationResult],
    second: EvaluationResult | Sequence[EvaluationResult],
    metric: str = "return",
) -> Estimate:
    """``first - second`` on the same shoppers, with a paired 95% CI.

    Given lists (one result per training seed, all on the same evaluation shoppers), the
    estimate is the mean over seeds of the per-seed difference; the bootstrap resamples
    the seed pairs and the shared shoppers, so the interval covers both sources of noise.
    """
    firsts, seconds = _as_list(first), _as_list(second)
    if len(firsts) != len(seconds) or not firsts:
        raise ValueError("paired differences need the same number of results on each side")
    _check_same_shoppers([*firsts, *seconds])
    return metrics.estimate(
        metric,
        [one.sessions for one in firsts],
        firsts[0].n_items,
        baseline=[other.sessions for other in seconds],
    )


def pooled_estimate(results: Sequence[EvaluationResult], metric: str = "return") -> Estimate:
    """The mean over training seeds of one agent's metric, with a two-level bootstrap CI."""
    results = _as_list(results)
    if not results:
        raise ValueError("pooled_estimate needs at least one result")
    _check_same_shoppers(results)
    return metrics.estimate(metric, [result.sessions for result in results], results[0].n_items)


def _as_list(results: EvaluationResult | Sequence[EvaluationResult]) -> list[EvaluationResult]:
    return [results] if isinstance(results, EvaluationResult) else list(results)


def _check_same_shoppers(results: Sequence[EvaluationResult]) -> None:
    seeds = {result.seed for result in results}
    sizes = {len(result.sessions["return"]) for result in results}
    if len(seeds) > 1 or len(sizes) > 1:
        raise ValueError(
            "these evaluations met different shoppers (seeds "
            f"{sorted(seeds)}, shopper counts {sorted(sizes)}); pair only equal ones"
        )
