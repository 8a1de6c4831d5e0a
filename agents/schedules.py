"""Exploration schedules."""

from __future__ import annotations

from dataclasses import dataclass


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
