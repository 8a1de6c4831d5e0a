"""The planning oracle: rollouts of the simulator itself from each shopper's hidden state.

The reference at the top of every comparison. At each step, for every shopper:

1. the heuristic long-term oracle (expected reward + ``patience_value`` x expected patience
   change) and the myopic oracle (expected reward) rank every item from the hidden state;
   the best ``shortlist`` items of each form the shopper's shortlist, and their best
   ``candidates // 2`` each the candidate first actions (the two oracles' own first choices
   among them);
2. each candidate is rolled out ``rollouts`` times in a scratch copy of the shopper
   (``recenv.sim.planning``: the same compiled step, fresh planning random streams shared by all
   candidates of one rollout index), then the heuristic oracle restricted to the shortlist
   for ``depth`` steps or until the session ends; with one item per step each step counts
   its expected reward given the rollout's state (the reward's own noise removed);
3. a rollout's value is its return plus ``patience_value`` x the patience left when it is
   cut at ``depth`` in the same visit. Every candidate is compared with the heuristic's own
   first choice rollout by rollout (common random numbers); one may replace it only if its
   mean advantage exceeds ``confidence`` standard errors, and the largest such wins.
   Rollouts are noisy (a session's return varies by more than the gap between two first
   actions): without the test the planner picks among candidates almost at random.

This is one step of policy improvement over the heuristic oracle (Bertsekas' rollout), so it
is at least as good as the heuristic in expectation, and the myopic oracle's best item is
always considered. ``myopic_base=True`` also rolls every candidate out under the myopic
oracle and keeps the better base per candidate (a "superheuristic"); measured on ``small``
with returning shoppers that loses 0.3-0.4 per episode to the heuristic — a cut rollout
valued by patience underrates how a myopic continuation drains the patience that brings
shoppers back — so it is off by default. **Budget per decision**: ``candidates x rollouts
x depth`` simulated shopper-steps (4 x 6 x 12 = 288 by default) and ``2 x shortlist``
expected-outcome evaluations per simulated step. The planner reads the hidden state, like
the other oracles: a reference, never a deployable policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from agents import hyperparameters as hp
from agents.base import (
    EnvSource,
    Info,
    Observation,
    learn_nothing,
    load_agent,
    predict_needs_info,
    save_agent_files,
)
from recenv.sim.config import EnvConfig, out_of_range
from recenv.sim.core import Simulator
from recenv.sim.expectations import expected_outcomes
from recenv.sim.planning import ScratchWorld, plan_keys

KIND = "planner"


@dataclass(frozen=True)
class PlannerConfig(hp.Hyperparameters):
    """The planner's budget and test (see the module docstring)."""

    candidates: int = 4  # first actions compared per decision
    rollouts: int = 6  # per candidate and base policy, on common random numbers
    depth: int = 12  # simulated steps per rollout; then patience_value x patience left
    shortlist: int = 8  # items per base policy that rollouts choose from
    patience_value: float = 3.0  # the heuristic oracle's value of patience
    confidence: float = 2.0  # standard errors a plan must beat the heuristic's own by
    myopic_base: bool = False  # also roll out under the myopic oracle

    agent: ClassVar[str] = KIND
    bounds: ClassVar[dict[str, hp.Range]] = hp.ranges(
        {
            hp.AT_LEAST_ONE: "candidates rollouts depth shortlist",
            hp.NON_NEGATIVE: "patience_value confidence",
        }
    )


class PlanningOracle:
    """Rollout planning with the simulator, from the hidden state (see the module docstring)."""

    role = "oracle"  # reads the hidden state: a reference, not a learner
    needs_info = True

    def __init__(
        self, env_config: EnvSource = None, seed: int = 0, device: str = "auto", **settings: Any
    ) -> None:
        self.env_config, self.config = hp.agent_settings(env_config, PlannerConfig, settings)
        config, slate_size = self.config, self.env_config.slate_size
        self.confidence, self.myopic_base = config.confidence, config.myopic_base
        self.shortlist = min(config.shortlist, self.env_config.catalog.n_items)
        self.candidates = min(config.candidates, self.shortlist)
        if self.shortlist < slate_size + self.candidates - 1:
            raise out_of_range(
                "planner.shortlist",
                config.shortlist,
                f">= {slate_size + self.candidates - 1} "
                f"(slates of {slate_size} and {config.candidates} candidates)",
            )
        self.rollouts, self.depth = config.rollouts, config.depth
        self.patience_value, self.seed = config.patience_value, int(seed)
        self.model = Simulator(self.env_config, n_shoppers=1)
        self.decisions = 0
        self._scratch: ScratchWorld | None = None

    # -- acting -----------------------------------------------------------------------------
    def act(
        self, observation: Observation, deterministic: bool = True, info: Info | None = None
    ) -> NDArray[np.int64]:
        """The best candidate's slate per shopper, by mean rollout value."""
        if info is None or "hidden" not in info:
            raise ValueError(
                "PlanningOracle reads the hidden state from info['hidden']: build the env with "
                "expose_hidden_state=True and pass info to act()"
            )
        hidden = info["hidden"]
        n_shoppers = len(observation["session"])
        outcome = expected_outcomes(self.model, hidden, observation)
        rankings = [
            np.argsort(-(outcome.reward + value * outcome.patience_change), axis=1)
            for value in self.base_values
        ]
        shortlist = np.concatenate([ranking[:, : self.shortlist] for ranking in rankings], axis=1)
        slates = self._candidate_slates(rankings)  # (n, candidates, slate_size)
        values = self._rollout_values(observation, hidden, shortlist, slates)
        best = values.argmax(axis=1)
        chosen = slates[np.arange(n_shoppers), best]
        return chosen[:, 0] if self.env_config.slate_size == 1 else chosen

    predict = predict_needs_info

    @property
    def base_values(self) -> tuple[float, float]:
        """Patience values of the base policies: the heuristic and the myopic oracle."""
        return (self.patience_value, 0.0) if self.myopic_base else (self.patience_value,)

    def _candidate_slates(self, rankings: list[NDArray[np.int64]]) -> NDArray[np.int64]:
        """Candidate c leads with an item ranked high by one base policy (alternately); the
        rest of its slate is that policy's next best items."""
        slate_size = self.env_config.slate_size
        n_shoppers = len(rankings[0])
        slates = np.empty((n_shoppers, self.candidates, slate_size), dtype=np.int64)
        for c in range(self.candidates):
            ranking = rankings[c % len(rankings)]
            rank = c // len(rankings)
            others = np.delete(ranking[:, : slate_size + rank], rank, axis=1)[:, : slate_size - 1]
            slates[:, c] = np.concatenate([ranking[:, rank : rank + 1], others], axis=1)
        return slates

    def _rollout_values(
        self,
        observation: Mapping[str, NDArray],
        hidden: Mapping[str, NDArray],
        shortlist: NDArray[np.int64],
        slates: NDArray[np.int64],
    ) -> NDArray[np.float64]:
        """Value ``(n_shoppers, candidates)``: per candidate, the better base policy's mean
        rollout value. Rows are shopper x candidate x base x rollout; one rollout index shares
        its random streams across candidates and bases (common random numbers)."""
        n_shoppers, n_bases = len(shortlist), len(self.base_values)
        per_candidate = n_bases * self.rollouts
        copies = self.candidates * per_candidate
        scratch = self._scratch_world(n_shoppers, copies)
        keys = plan_keys(self.seed, self.decisions, self.rollouts)
        self.decisions += 1
        scratch.load(observation, hidden, np.tile(keys, self.candidates * n_bases))
        first = np.repeat(slates, per_candidate, axis=1).reshape(n_shoppers * copies, -1)
        rows_shortlist = np.repeat(shortlist, copies, axis=0)
        patience_value = np.tile(
            np.repeat(np.asarray(self.base_values), self.rollouts), n_shoppers * self.candidates
        )[:, None]
        # One item per step: count each step's *expected* reward given the rollout's state
        # (exact for a single item) instead of the sampled one, which removes the reward's
        # own noise from the estimate; transitions stay sampled. Slates: sampled rewards.
        single = self.env_config.slate_size == 1
        expected_return = np.zeros(n_shoppers * copies)
        if single:
            first_outcome = expected_outcomes(self.model, hidden, observation, slates[:, :, 0])
            expected_return += np.repeat(first_outcome.reward, per_candidate, axis=1).ravel()
        scratch.step(first)
        for _ in range(self.depth - 1):
            if not scratch.alive.any():
                break
            outcome = expected_outcomes(
                self.model, scratch.hidden(), scratch.observe(), rows_shortlist
            )
            scores = outcome.reward + patience_value * outcome.patience_change
            order = np.argsort(-scores, axis=1)[:, : self.env_config.slate_size]
            if single:
                chosen = np.take_along_axis(outcome.reward, order[:, :1], axis=1)[:, 0]
                expected_return += np.where(scratch.alive, chosen, 0.0)
            scratch.step(np.take_along_axis(rows_shortlist, order, axis=1))
        state = scratch.simulator.state
        same_visit = state.visit == np.repeat(np.asarray(hidden["visit"]), copies)
        patience = np.maximum(state.patience, 0.0)
        returns = expected_return if single else scratch.returns
        # patience is worth patience_value while the visit lasts (the heuristic's own
        # scale); a rollout that ran into a later visit is cut there with no terminal value
        terminal = np.where(scratch.alive & same_visit, self.patience_value * patience, 0.0)
        values = returns + terminal
        values = values.reshape(n_shoppers, self.candidates * n_bases, self.rollouts)
        # Paired by rollout index against the heuristic's own plan (candidate 0, its base):
        # another plan wins only where its advantage is clear, so rollout noise cannot make
        # the planner worse than the heuristic oracle.
        advantage = values - values[:, :1, :]
        mean = advantage.mean(axis=2)
        error = advantage.std(axis=2, ddof=1) / np.sqrt(self.rollouts) if self.rollouts > 1 else 0
        mean = np.where(mean > self.confidence * error, mean, -np.inf)
        mean[:, 0] = 0.0
        return mean.reshape(n_shoppers, self.candidates, n_bases).max(axis=2)

    def _scratch_world(self, n_shoppers: int, copies: int) -> ScratchWorld:
        if self._scratch is None or self._scratch.n_shoppers != n_shoppers:
            self._scratch = ScratchWorld(self.env_config, self.model.world, n_shoppers, copies)
        return self._scratch

    # -- protocol ---------------------------------------------------------------------------
    learn = learn_nothing  # the planner uses the model itself

    def save(self, path: str | Path) -> None:
        extra = {"seed": self.seed}
        save_agent_files(path, KIND, self.env_config, asdict(self.config), extra=extra)

    @classmethod
    def load(cls, path: str | Path, env_config: EnvConfig | None = None) -> PlanningOracle:
        return load_agent(cls, path, KIND, env_config)[0]
