"""Training runs in a child process, for tests that kill, race or restart them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def launch_training(args: list[str], **kwargs) -> subprocess.Popen:
    """``python -m experiments.train ARGS`` from the repository root on one thread, its
    output captured as text (stderr merged)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.train", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )
