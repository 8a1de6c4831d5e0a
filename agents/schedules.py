"""Training schedules, driven by the share of the shopper-step budget used: exploration
(epsilon) and the learning rate."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


@dataclass(frozen=True)
class LinearSchedule:
    """Goes linearly from ``start`` to ``end`` over the first ``fraction`` of training."""

    start: float
    end: float
    fraction: float

    def __call__(self, progress: float) -> float:
        """Value at ``progress`` in [0, 1] (the share of the step budget used)."""
        if self.fraction <= 0:
            return self.end
        weight = min(progress / self.fraction, 1.0)
        return self.start + weight * (self.end - self.start)


class LinearDecayLR(LambdaLR):
    """``lr = lr_0 * (1 + progress * (end_share - 1))``: torch's ``LambdaLR`` over the share
    of the budget used rather than a count of calls.

    ``step_to(progress)`` sets the rate at every collection step, so a run continued from a
    checkpoint to the same total follows the same rates; ``lr_0`` is the optimizer's rate
    when the schedule is built, whatever a loaded optimizer state holds later.
    """

    def __init__(self, optimizer: Optimizer, end_share: float) -> None:
        self.progress = 0.0
        share = LinearSchedule(1.0, end_share, 1.0)
        super().__init__(optimizer, lambda _: share(self.progress))

    def step_to(self, progress: float) -> None:
        self.progress = progress
        with warnings.catch_warnings():
            # the rate follows the budget from step 0, before the first gradient step too:
            # torch's reminder to step the optimizer first does not apply
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
            self.step()
