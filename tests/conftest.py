"""Shared fixtures of the agent tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def single_torch_thread() -> Iterator[None]:
    """Run torch on one thread: the test networks are tiny, so one thread is fastest,
    float reductions are reproducible, and a busy machine does not oversubscribe cores."""
    import torch  # imported here so the env-only test modules never pay for torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
