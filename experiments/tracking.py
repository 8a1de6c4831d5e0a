"""TensorBoard logging for runs: scalars under stable names, hparams, flushed on exit.

Tags used across the toolkit: ``eval/return``, ``eval/ctr``, ``eval/conversion_rate``,
``eval/revenue``, ``eval/session_length`` (on the paired evaluation shoppers),
``train/loss``, ``train/epsilon``, ``train/episode_return``, ``train/validation_return``
(agent-specific ``train/*``), ``time/steps_per_s``.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter


class TensorBoardLogger:
    """``record(tag, value, step)`` into event files in ``log_dir``.

    On resume, ``purge_step`` is just past the checkpoint's step: TensorBoard then hides
    what the killed run wrote after the checkpoint, so the history reads as one uninterrupted run.
    """

    def __init__(self, log_dir: str | Path, purge_step: int | None = None) -> None:
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)
        atexit.register(self.close)

    def record(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, float(value), int(step))

    def hparams(self, hyperparameters: Mapping[str, object], metrics: Mapping[str, float]) -> None:
        """The hparams plugin's row for this run (written into this run's own folder)."""
        flat = {
            key: value if isinstance(value, (int, float, str, bool)) else str(value)
            for key, value in hyperparameters.items()
        }
        self.writer.add_hparams(flat, {f"hparams/{k}": v for k, v in metrics.items()}, run_name=".")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
