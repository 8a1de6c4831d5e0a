"""Torch's thread count: the documented default, the override, and what a fresh process gets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agents import threads


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 1), (4, 1), (6, 3), (8, 4), (64, 8)])
def test_default_threads_follow_the_documented_rule(cpus: int, expected: int) -> None:
    assert threads.default_threads(cpus) == expected


def test_the_variable_overrides_and_omp_is_left_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setenv(threads.ENV_VARIABLE, "3")
    assert threads.requested_threads() == 3
    monkeypatch.setenv(threads.ENV_VARIABLE, "zero")
    with pytest.raises(ValueError, match="RECENV_TORCH_THREADS = 'zero' is out of range"):
        threads.requested_threads()
    monkeypatch.delenv(threads.ENV_VARIABLE)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.requested_threads() is None


CHILD = """
import torch
from agents.dqn import DQNAgent
DQNAgent(env_config={"catalog": {"n_items": 50, "n_categories": 5}}, device="cpu")
print(torch.get_num_threads())
"""


def run_child(env: dict[str, str]) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1])


def test_a_fresh_process_building_an_agent_gets_the_default(tmp_path) -> None:
    import os

    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    base.pop(threads.ENV_VARIABLE, None)
    assert run_child(base) == threads.default_threads()
    assert run_child({**base, threads.ENV_VARIABLE: "2"}) == 2
