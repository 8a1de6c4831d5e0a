"""Torch's CPU thread count, set once per process for the small networks of our agents.

Torch starts one intra-op thread per core. Our networks are small (tens of thousands to a
few million parameters, batches of hundreds), so extra threads buy little: on a quiet
2-core machine two threads train DQN 1.08-1.14x faster than one and CleanRL-style PPO no
faster (0.99x; ``benchmarks/torch_threads.py``, README). But the simulator, the replay
buffer and any other process want the same cores, and torch's spinning threads then wait
on each other: with a second training process on the machine two threads ran DQN at about
a quarter of one thread's speed. One thread gives up ~10% at best and avoids that
collapse, so the first torch agent built in a process sets
``torch.set_num_threads(default_threads())``: one thread up to 4 cores, then half the
cores up to 8. ``RECENV_TORCH_THREADS=n`` chooses ``n``; a set ``OMP_NUM_THREADS`` (or
``MKL_NUM_THREADS``) is left to torch, and so is a count the process changed itself after
importing this module (``configure_threads`` runs once, and only over torch's start-up
count).
"""

from __future__ import annotations

import os

import torch

ENV_VARIABLE = "RECENV_TORCH_THREADS"
_configured = False


def default_threads(cpus: int | None = None) -> int:
    """1 thread on up to 4 cores, else half the cores, at most 8."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    return 1 if cpus <= 4 else min(cpus // 2, 8)


def requested_threads() -> int | None:
    """The thread count this process should use, or None to leave torch's own."""
    value = os.environ.get(ENV_VARIABLE, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{ENV_VARIABLE} = {value!r} is out of range; allowed: integers >= 1")
        return int(value)
    if os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"):
        return None  # the user chose through torch's own variables
    return default_threads()


def configure_threads() -> None:
    """Set torch's intra-op threads once per process (see the module docstring)."""
    global _configured
    if _configured:
        return
    _configured = True
    threads = requested_threads()
    if threads is not None and _threads_untouched():
        torch.set_num_threads(threads)


def _threads_untouched() -> bool:
    """Whether torch still runs its start-up thread count (nobody set it yet)."""
    return torch.get_num_threads() == _STARTUP_THREADS


_STARTUP_THREADS = torch.get_num_threads()
