"""Planning with the simulator itself: copy shoppers into a scratch simulator, roll forward.

The planning oracle (``agents.planner``) needs the dynamics, not a model of them. A
``ScratchWorld`` holds ``n_shoppers x copies`` rows of the same compiled state as the env;
``load`` writes each shopper's full state into its ``copies`` rows — hidden traits from
``info["hidden"]``, the observable parts from the observation, the cart aggregates derived
from the cart — and gives the rows *planning* stream keys. Rollouts therefore sample the
real dynamics (same kernel, same parameters) but never the shopper's actual future draws:
their average is the true expected return of the plan, not a peek at the outcome.

Copy ``j`` of every shopper uses stream key ``plan_key(j)``, the same for all candidate
actions of one rollout index, so candidates are compared on common random numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from recenv.sim import streams
from recenv.sim.config import EnvConfig
from recenv.sim.core import Simulator, StepOutcome, World
from recenv.sim.state import CART_ITEMS

_PLAN_PURPOSE = 0x504C414E  # "PLAN": keeps planning keys apart from every run's keys

OBSERVED = {  # state field <- observation key (the history ring is loaded on its own)
    "cart_items": "cart",
    "features": "session",
    "intent": "query",
}
HIDDEN = {  # state field <- info["hidden"] key
    "taste": "taste",
    "patience": "patience",
    "budget": "budget",
    "price_sensitivity": "price_sensitivity",
    "fatigue": "fatigue",
    "need": "need",
    "base_budget": "base_budget",
    "visit": "visit",
    "segment": "segment",
    "cart_quality_sum": "cart_quality_sum",
    "session": "session_index",
}


class ScratchWorld:
    """``copies`` rows per shopper of a scratch simulator that shares the env's world."""

    def __init__(self, config: EnvConfig, world: World, n_shoppers: int, copies: int) -> None:
        self.n_shoppers, self.copies = n_shoppers, copies
        self.simulator = Simulator(config, n_shoppers * copies, world=world)
        self.alive = np.ones(n_shoppers * copies, dtype=bool)
        self.returns = np.zeros(n_shoppers * copies)

    def load(
        self,
        observation: Mapping[str, NDArray],
        hidden: Mapping[str, NDArray],
        plan_keys: NDArray[np.uint64],
    ) -> None:
        """Row ``i * copies + j`` becomes shopper ``i`` with stream key ``plan_keys[j]``."""
        state = self.simulator.state
        for field, source in OBSERVED.items():
            _repeat_into(getattr(state, field), observation[source], self.copies)
        for field, source in HIDDEN.items():
            _repeat_into(getattr(state, field), hidden[source], self.copies)
        state.load_history(
            np.repeat(observation["history"], self.copies, axis=0),
            np.repeat(observation["history_events"], self.copies, axis=0),
        )
        cart = np.asarray(observation["cart"])
        n_items = self.simulator.params.n_items
        embedding = np.vstack([self.simulator.items.embedding, np.zeros((1, state.taste.shape[1]))])
        _repeat_into(state.cart_embedding_sum, embedding[cart].sum(axis=1), self.copies)
        _repeat_into(
            state.cart_count, np.asarray(observation["session"])[:, CART_ITEMS], self.copies
        )
        if np.any((cart < n_items).sum(axis=1) != state.cart_count[:: self.copies]):
            raise ValueError("observation['cart'] and its session cart count disagree")
        state.key[:] = np.tile(plan_keys, self.n_shoppers)
        self.alive[:] = True
        self.returns[:] = 0.0

    def step(self, slates: NDArray[np.int64]) -> StepOutcome:
        """Step every row; rewards count only while a row's session lasts."""
        outcome = self.simulator.step(np.ascontiguousarray(slates, dtype=np.int64))
        self.returns += np.where(self.alive, outcome.reward, 0.0)
        self.alive &= ~(outcome.terminated | outcome.truncated)
        return outcome

    def observe(self) -> dict[str, NDArray]:
        return self.simulator.observe()

    def hidden(self) -> dict[str, NDArray]:
        return self.simulator.hidden()


def plan_keys(seed: int, step: int, copies: int) -> NDArray[np.uint64]:
    """Fresh planning stream keys for one decision: never any run's keys (other purpose)."""
    key = streams.run_key(seed) ^ np.uint64(_PLAN_PURPOSE)
    return streams.slot_keys(key, step * copies, copies)


def _repeat_into(target: NDArray, values: NDArray, copies: int) -> None:
    values = np.asarray(values)
    target[:] = np.repeat(values, copies, axis=0).astype(target.dtype, copy=False)
